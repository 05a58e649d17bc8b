"""Issue 19 in the browser: times shown in the viewer's time zone (UTC in the title), and a
first forecast that cannot be saved until a value is chosen; after a withdrawal the form
starts from the last forecast."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from forecasts.models import Forecast
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _logged_in_context(browser, live_server, user, **options):
    client = Client()
    client.force_login(user)
    context = browser.new_context(**options)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


def test_times_in_the_viewer_zone_and_an_explicit_first_forecast(live_server, browser):
    tournament = TournamentFactory(slug="t", name="T")
    close = dt.datetime(2031, 6, 30, 23, 30, tzinfo=dt.UTC)
    question = QuestionFactory(
        tournament=tournament,
        key="q",
        title="A question",
        open_time=timezone.now() - dt.timedelta(days=1),
        close_time=close,
    )
    user = UserFactory(username="tokyo")
    context = _logged_in_context(
        browser, live_server, user, timezone_id="Asia/Tokyo", locale="en-GB"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}{question.get_absolute_url()}")

    # 23:30 UTC on 30 June is 08:30 on 1 July in Tokyo (UTC+9); the UTC text stays as title.
    closes = page.locator(f'time[datetime="{close.isoformat().replace("+00:00", "Z")}"]').first
    assert "1 Jul 2031" in closes.inner_text() and "08:30" in closes.inner_text()
    assert closes.get_attribute("title") == "30 Jun 2031, 23:30 UTC"

    # The first forecast: empty box, Save disabled until a value is chosen by the slider.
    box = page.get_by_label("Your forecast (percent)")
    assert box.input_value() == ""
    save = page.get_by_role("button", name="Save forecast")
    assert save.is_disabled()
    slider = page.locator("input.prob-range")
    slider.focus()
    page.keyboard.press("ArrowRight")
    assert box.input_value() == "50.1"
    assert save.is_enabled()
    page.keyboard.press("ArrowLeft")  # back to an explicit 50%: accepted
    assert box.input_value() == "50"
    save.click()
    page.locator("#messages").get_by_text("Saved your forecast of 50%.").wait_for()
    assert Forecast.objects.get(question=question).probability == 0.5
    # The swapped-in history shows its time in Tokyo too.
    assert "GMT+9" in page.locator("#q-history time").first.inner_text()

    # After a withdrawal (and a reload) the form starts from the last forecast, 35%.
    forecast_submit(question_id=question.pk, forecaster=forecaster_for_user(user), probability=0.35)
    forecast_withdraw(question_id=question.pk, forecaster=forecaster_for_user(user))
    page.reload()
    assert page.get_by_label("Your forecast (percent)").input_value() == "35"
    assert page.locator("input.prob-range").input_value() == "35"
    assert page.get_by_role("button", name="Save forecast").is_enabled()
    assert errors == []
    context.close()
