"""Issue 19, forms: a first forecast needs an explicit number (nothing at 50% by default), and
after a withdrawal the form starts from the last forecast made."""

from __future__ import annotations

import re

import pytest

from forecasts.models import Forecast
from forecasts.services import forecast_withdraw, forecaster_for_user
from tests.web.conftest import forecast, login

pytestmark = pytest.mark.django_db


def _number_input(html: str) -> str:
    return re.search(r'<input type="number" name="probability"[^>]*>', html).group(0)


def test_first_forecast_starts_empty_and_required(site):
    client = login(site.carol)
    html = client.get(site.open_q.get_absolute_url()).content.decode()
    field = _number_input(html)
    assert 'value=""' in field and " required" in field
    # The slider has no value to save: it is marked unset until moved.
    assert 'aria-valuetext="not chosen yet"' in html
    assert "nothing is saved until you do" in html


def test_an_untouched_form_saves_nothing_but_an_explicit_50_is_saved(site):
    client = login(site.carol)
    url = f"/questions/{site.open_q.pk}/forecast/"
    response = client.post(url, {"probability": "", "rationale": ""})
    assert response.status_code == 400
    assert "Enter your forecast as a percentage" in response.content.decode()
    assert not Forecast.objects.filter(forecaster__user=site.carol).exists()
    response = client.post(url, {"probability": "50", "rationale": ""})
    assert response.status_code == 302
    saved = Forecast.objects.get(forecaster__user=site.carol)
    assert saved.probability == 0.5


def test_after_a_withdrawal_the_form_starts_from_the_last_forecast(site):
    forecast(site.open_q, site.alice, 0.41)  # alice said 30%, then 41%
    forecast_withdraw(question_id=site.open_q.pk, forecaster=forecaster_for_user(site.alice))
    html = login(site.alice).get(site.open_q.get_absolute_url()).content.decode()
    assert "You withdrew your forecast" in html
    field = _number_input(html)
    assert 'value="41"' in field
    assert 'class="prob-range"' in html and 'value="41"' in html
    assert "not chosen yet" not in html


def test_a_current_forecast_prefills_the_form(site):
    html = login(site.bob).get(site.open_q.get_absolute_url()).content.decode()
    assert 'value="60"' in _number_input(html)
