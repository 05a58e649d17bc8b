"""Submitting, updating and withdrawing from the question page: plain POST, fetch and htmx."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from forecasts.models import Forecast
from forecasts.services import forecaster_for_user
from tests.factories import current_forecast
from tests.web.conftest import forecast, login

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}
HTMX = {"HTTP_HX_REQUEST": "true"}


def submit_url(question) -> str:
    return reverse("forecast-submit", args=[question.pk])


def withdraw_url(question) -> str:
    return reverse("forecast-withdraw", args=[question.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def current_of(user, question) -> float | None:
    f = current_forecast(question_id=question.pk, forecaster=forecaster_for_user(user))
    return None if f is None else f.probability


def test_form_post_saves_forecast_and_redirects_back_with_a_message(site, carol_client):
    q = site.open_q
    response = carol_client.post(submit_url(q), {"probability": "72", "rationale": "Trend."})
    assert response.status_code == 302
    assert response.url == q.get_absolute_url()
    assert current_of(site.carol, q) == pytest.approx(0.72)
    assert Forecast.objects.get(forecaster__user=site.carol).rationale == "Trend."
    page = carol_client.get(response.url)
    assert "Saved your forecast of 72%." in page.content.decode()
    assert "You say" in page.content.decode()


def test_update_is_a_new_row_and_becomes_current(site, carol_client):
    q = site.open_q
    carol_client.post(submit_url(q), {"probability": "72"})
    carol_client.post(submit_url(q), {"probability": "65"})
    assert Forecast.objects.filter(forecaster__user=site.carol, question=q).count() == 2
    assert current_of(site.carol, q) == pytest.approx(0.65)


def test_percent_bounds_are_exact_probabilities(site, carol_client):
    q = site.open_q
    carol_client.post(submit_url(q), {"probability": "99.9"})
    assert current_of(site.carol, q) == 0.999
    carol_client.post(submit_url(q), {"probability": "0.1%"})
    assert current_of(site.carol, q) == 0.001


def test_withdraw_by_form_post(site, carol_client):
    q = site.open_q
    carol_client.post(submit_url(q), {"probability": "72"})
    response = carol_client.post(withdraw_url(q), follow=True)
    assert current_of(site.carol, q) is None
    assert any("Withdrew your forecast" in m for m in messages_of(response))
    assert Forecast.objects.filter(
        forecaster__user=site.carol, kind=Forecast.Kind.WITHDRAWAL
    ).exists()


def test_withdraw_without_a_forecast_says_so_and_changes_nothing(site, carol_client):
    before = Forecast.objects.count()
    response = carol_client.post(withdraw_url(site.open_q), follow=True)
    assert Forecast.objects.count() == before
    assert any("no current forecast" in m for m in messages_of(response))
    # The page's script gets the same status as the API: 409, the question's state.
    fetched = carol_client.post(withdraw_url(site.open_q), **JSON)
    assert fetched.status_code == 409


def test_fetch_submit_returns_json_with_fragments_and_crowd(site, carol_client):
    q = site.open_q
    response = carol_client.post(submit_url(q), {"probability": "72"}, **JSON)
    assert response.status_code == 200
    data = response.json()
    assert data["ok"] is True
    assert data["forecast"]["probability"] == pytest.approx(0.72)
    assert data["crowd"]["visible"] is True
    assert data["crowd"]["forecasters"] == 3
    assert set(data["fragments"]) == {"summary", "chart", "panel", "history"}
    assert 'id="q-chart"' in data["fragments"]["chart"]
    assert "<svg" in data["fragments"]["chart"]
    assert "72%" in data["fragments"]["panel"]
    # No flash message is left behind for the next page load.
    assert messages_of(carol_client.get(q.get_absolute_url())) == []


def test_fetch_update_and_withdraw_move_the_crowd_in_batches(site, carol_client):
    """Issue 13: the crowd a forecaster sees after submitting is the public series, which moves
    once three forecasters have had an event since its last point: seeing the crowd right
    before and after one's own forecast would isolate the forecasts made in between."""
    from forecasts.pooling import log_pool

    q = site.open_q
    before = log_pool([0.3, 0.6, 0.445])
    first = carol_client.post(submit_url(q), {"probability": "72"}, **JSON).json()
    second = carol_client.post(submit_url(q), {"probability": "65"}, **JSON).json()
    for answer in (first, second):
        assert answer["crowd"]["probability"] == pytest.approx(before, abs=1e-12)
        assert answer["crowd"]["forecasters"] == 3
    forecast(q, site.alice, 0.35)
    forecast(q, site.bob, 0.55)  # carol, alice, bob: a batch of three, a new public point
    moved = log_pool([0.35, 0.55, 0.445, 0.65])
    gone = carol_client.post(withdraw_url(q), **JSON).json()
    assert gone["ok"] is True
    assert gone["forecast"] is None
    assert gone["crowd"]["probability"] == pytest.approx(moved, abs=1e-12)
    assert gone["crowd"]["forecasters"] == 4  # her withdrawal waits for the next batch


def test_htmx_request_gets_panel_with_out_of_band_fragments(site, carol_client):
    response = carol_client.post(submit_url(site.open_q), {"probability": "40"}, **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="q-panel"')
    assert body.count('hx-swap-oob="true"') == 3
    assert current_of(site.carol, site.open_q) == pytest.approx(0.4)


@pytest.mark.parametrize("raw", ["0", "100", "abc", "", "-5", "150", "nan", "1e400"])
def test_invalid_probability_is_refused_and_nothing_changes(site, carol_client, raw):
    before = Forecast.objects.count()
    response = carol_client.post(submit_url(site.open_q), {"probability": raw})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Your forecast was not saved." in body
    assert 'aria-invalid="true"' in body
    assert Forecast.objects.count() == before


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("0", "lowest forecast allowed is 0.1%"),
        ("100", "highest forecast allowed is 99.9%"),
        ("abc", "not a number"),
    ],
)
def test_invalid_probability_json_error_names_the_problem(site, carol_client, raw, fragment):
    before = Forecast.objects.count()
    response = carol_client.post(submit_url(site.open_q), {"probability": raw}, **JSON)
    assert response.status_code == 400
    assert response.json()["ok"] is False
    assert fragment in response.json()["error"]
    assert Forecast.objects.count() == before


@pytest.mark.parametrize("which", ["closed_q", "upcoming_q", "resolved_q", "annulled_q"])
def test_forecast_on_a_question_not_open_is_refused(site, carol_client, which):
    q = getattr(site, which)
    before = Forecast.objects.count()
    response = carol_client.post(submit_url(q), {"probability": "50"}, follow=True)
    assert Forecast.objects.count() == before
    text = " ".join(messages_of(response))
    assert "no longer accepted" in text or "opens for forecasts" in text
    as_json = carol_client.post(submit_url(q), {"probability": "50"}, **JSON)
    assert as_json.status_code == 409
    assert Forecast.objects.count() == before


def test_withdraw_on_a_closed_question_is_refused(site):
    client = login(site.alice)
    before = Forecast.objects.count()
    response = client.post(withdraw_url(site.resolved_q), **JSON)
    assert response.status_code == 409
    assert "resolved" in response.json()["error"]
    assert Forecast.objects.count() == before


def test_anonymous_post_is_sent_to_log_in_and_nothing_changes(site):
    before = Forecast.objects.count()
    client = Client()
    response = client.post(submit_url(site.open_q), {"probability": "72"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert "next=" in response.url
    page = client.get(response.url)
    assert "Log in or sign up to forecast" in page.content.decode()
    as_json = client.post(submit_url(site.open_q), {"probability": "72"}, **JSON)
    assert as_json.status_code == 401
    assert as_json.json()["login_url"].startswith(reverse("login"))
    assert client.post(withdraw_url(site.open_q)).status_code == 302
    assert Forecast.objects.count() == before


def test_missing_csrf_token_gets_the_friendly_page_and_nothing_changes(site):
    before = Forecast.objects.count()
    client = Client(enforce_csrf_checks=True)
    client.force_login(site.carol)
    response = client.post(submit_url(site.open_q), {"probability": "72"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "This form has expired" in body
    assert "Nothing was saved" in body
    assert Forecast.objects.count() == before


def test_form_with_csrf_token_from_the_page_is_accepted(site):
    client = Client(enforce_csrf_checks=True)
    client.force_login(site.carol)
    page = client.get(site.open_q.get_absolute_url())
    token = page.context["csrf_token"]
    response = client.post(
        submit_url(site.open_q), {"probability": "55", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    assert current_of(site.carol, site.open_q) == pytest.approx(0.55)


def test_private_question_is_404_for_outsiders_and_writes_nothing(site, carol_client):
    before = Forecast.objects.count()
    assert carol_client.get(site.private_q.get_absolute_url()).status_code == 404
    assert carol_client.post(submit_url(site.private_q), {"probability": "50"}).status_code == 404
    assert carol_client.post(withdraw_url(site.private_q)).status_code == 404
    assert Forecast.objects.count() == before


def test_member_can_forecast_on_private_question(site):
    client = login(site.member)
    response = client.post(submit_url(site.private_q), {"probability": "20"})
    assert response.status_code == 302
    assert current_of(site.member, site.private_q) == pytest.approx(0.2)


def test_get_on_the_forecast_endpoint_is_not_allowed(site, carol_client):
    assert carol_client.get(submit_url(site.open_q)).status_code == 405
