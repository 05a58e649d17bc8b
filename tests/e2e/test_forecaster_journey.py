"""The forecaster's journey in headless Chromium, against a live server.

Sign up, open a question, submit 72% and see the chart and the crowd forecast change without a
page reload, update to 65%, withdraw; a staff member resolves; the forecaster sees the score and
the calibration page. Screenshots of the question page, the leaderboard and the track record
are saved under ``artifacts/`` for the CI run to keep.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.models import Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question, Resolution
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PASSWORD = "a-long-passphrase-for-e2e"


@pytest.fixture
def world(db):
    now = timezone.now()
    tournament = TournamentFactory(slug="ai-milestones", name="AI milestones", min_forecasters=3)
    question = QuestionFactory(
        tournament=tournament,
        key="rsi-2028",
        title="Will AI systems be capable of recursive self-improvement by the end of 2028?",
        description="Recursive self-improvement: AI autonomously building its successors.",
        resolution_criteria="Resolved by staff.",
        open_time=now - dt.timedelta(days=20),
        close_time=now + dt.timedelta(days=365),
    )
    second = QuestionFactory(
        tournament=tournament,
        key="rsi-2027",
        title="Will AI systems be capable of recursive self-improvement by the end of 2027?",
        open_time=now - dt.timedelta(days=20),
        close_time=now + dt.timedelta(days=300),
    )
    others = [UserFactory(username=name) for name in ("ada", "bayes", "cassandra")]
    for i, (user, p) in enumerate(zip(others, [0.35, 0.5, 0.6], strict=True)):
        for q in (question, second):
            forecast_submit(
                question_id=q.pk,
                forecaster=forecaster_for_user(user),
                probability=p,
                at=now - dt.timedelta(days=15 - 3 * i),
            )
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    return {"tournament": tournament, "question": question, "second": second, "staff": staff}


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _crowd_text(page) -> str:
    return page.locator("[data-crowd-value]").inner_text()


def test_forecaster_journey(live_server, browser, world, scoring_inline):
    question: Question = world["question"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    external: list[str] = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(live_server.url) else external.append(req.url),
    )

    # Sign up.
    page.goto(f"{live_server.url}{reverse('signup')}")
    page.get_by_label("Username").fill("newforecaster")
    page.get_by_label("Email").fill("new@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome to Takeoff, newforecaster" in page.content()

    # Open the question from the home page.
    page.get_by_role("link", name=question.title).click()
    page.wait_for_url(f"**{question.get_absolute_url()}")
    crowd_before = _crowd_text(page)
    assert page.locator(".chart-wide svg.chart .markers-own circle").count() == 0
    # A marker that a page reload would wipe out.
    page.evaluate("window.__noReload = true")

    # Submit 72% without a reload: the chart gains our marker. The public crowd waits for a
    # batch of three forecasters (docs/privacy.md): seeing it move right after one's own
    # forecast would isolate the forecasts made in between.
    slider = page.locator("input.prob-range")
    assert slider.is_visible()  # the script revealed it
    page.get_by_label("Your forecast (percent)").fill("72")
    page.get_by_role("button", name="Save forecast").click()
    page.locator("#messages").get_by_text("Saved your forecast of 72%.").wait_for()
    assert page.evaluate("window.__noReload") is True
    assert page.locator(".chart-wide svg.chart .markers-own circle").count() == 1
    assert page.locator("[data-my-value]").inner_text() == "72%"
    crowd_after = _crowd_text(page)
    assert crowd_after == crowd_before
    assert page.locator("[data-crowd-count]").inner_text() == "3"
    assert slider.input_value() == "72"
    _shot(page, "question")

    # The slider works from the keyboard and drives the number box; then type 65.
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    assert page.get_by_label("Update your forecast (percent)").input_value() == "71.7"
    page.get_by_label("Update your forecast (percent)").fill("65")
    page.get_by_role("button", name="Update forecast").click()
    page.locator("#messages").get_by_text("Saved your forecast of 65%.").wait_for()
    assert page.evaluate("window.__noReload") is True
    assert page.locator("[data-my-value]").inner_text() == "65%"
    assert page.locator(".chart-wide svg.chart .markers-own circle").count() == 2
    # Two others update meanwhile: with ours, a batch of three, so the fragments the update
    # brings back carry a new public crowd (ours and theirs), without a reload.
    for name, p in (("ada", 0.3), ("bayes", 0.55)):
        forecast_submit(
            question_id=question.pk, forecaster=forecaster_for_user(_user(name)), probability=p
        )
    page.get_by_label("Update your forecast (percent)").fill("66")
    page.get_by_role("button", name="Update forecast").click()
    page.locator("#messages").get_by_text("Saved your forecast of 66%.").wait_for()
    assert _crowd_text(page) not in (crowd_after, "")
    assert page.locator("[data-crowd-count]").inner_text() == "4"

    # Withdraw.
    page.get_by_role("button", name="Withdraw forecast").click()
    page.locator("#messages").get_by_text("Withdrew your forecast").wait_for()
    assert page.evaluate("window.__noReload") is True
    assert page.locator("[data-crowd-count]").inner_text() == "4"  # until the next batch
    assert page.get_by_text("You withdrew your forecast").is_visible()
    me = forecaster_for_user(page_user := _user("newforecaster"))
    kinds = list(
        Forecast.objects.filter(question=question, forecaster=me)
        .order_by("time", "id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["forecast", "forecast", "forecast", "withdrawal"]

    # A forecast that stays in force on the second question, for the calibration page.
    page.goto(f"{live_server.url}{world['second'].get_absolute_url()}")
    page.get_by_label("Your forecast (percent)").fill("80")
    page.get_by_role("button", name="Save forecast").click()
    page.locator("#messages").get_by_text("Saved your forecast of 80%.").wait_for()

    # A staff member resolves both questions YES.
    from markets.resolution.manual import question_resolve

    for q in (question, world["second"]):
        question_resolve(
            question_id=q.pk, outcome=Resolution.Outcome.YES, reason="E2E", user=world["staff"]
        )
    scoring_inline()

    page.goto(f"{live_server.url}{question.get_absolute_url()}")
    assert page.get_by_role("heading", name="Resolved YES").is_visible()
    assert "Forecasts are closed" in page.content()
    assert page.get_by_label("Your forecast (percent)").count() == 0

    page.goto(f"{live_server.url}{reverse('leaderboard', args=[world['tournament'].slug])}")
    board = page.locator("table.leaderboard")
    assert board.get_by_text("Crowd (log pool)").is_visible()
    assert board.get_by_role("link", name="newforecaster").is_visible()
    assert page.locator("tr.me-row").count() == 1
    _shot(page, "leaderboard")

    page.goto(f"{live_server.url}{world['second'].get_absolute_url()}")
    scores = page.locator(".scores-box table")
    assert scores.get_by_role("rowheader", name="Brier", exact=True).is_visible()
    page.get_by_role("link", name="Your track record and calibration →").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Calibration").is_visible()
    assert page.get_by_role("heading", name="Brier and the Murphy decomposition").is_visible()
    # The 80% held at resolution (YES) is the one calibration point; the withdrawn question
    # counts as resolved and scored but has no forecast in force at its end.
    assert page.locator("svg.chart circle.dot.calib").count() == 1
    assert "0.0400" in page.content()  # its Brier score, (1 - 0.8) squared
    assert world["second"].title[:40] in page.content()
    assert "scores being computed" not in page.content()
    assert page.get_by_text("all scored").is_visible()
    _shot(page, "track-record")

    assert errors == []
    assert external == []
    assert page_user.is_active


def _user(username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_forecasting_works_with_javascript_off(live_server, browser, world):
    question: Question = world["question"]
    user = UserFactory(username="nojs")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('login')}?next={question.get_absolute_url()}")
    page.get_by_label("Username").fill("nojs")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{question.get_absolute_url()}")
    assert not page.locator("input.prob-range").is_visible()  # the slider needs the script
    page.get_by_label("Your forecast (percent)").fill("30")
    page.get_by_role("button", name="Save forecast").click()
    page.wait_for_url(f"**{question.get_absolute_url()}")
    assert page.get_by_text("Saved your forecast of 30%.").is_visible()
    assert page.locator("[data-my-value]").inner_text() == "30%"
    # A refused value re-renders the form with the error next to the field.
    page.get_by_label("Update your forecast (percent)").fill("100")
    page.locator("form.forecast-form").evaluate("f => f.noValidate = true")
    page.get_by_role("button", name="Update forecast").click()
    assert page.get_by_text("The highest forecast allowed is 99.9%").first.is_visible()
    page.get_by_role("button", name="Withdraw forecast").click()
    page.wait_for_url(f"**{question.get_absolute_url()}")
    assert page.locator("#messages").get_by_text("Withdrew your forecast").is_visible()
    kinds = list(
        Forecast.objects.filter(forecaster__user=user)
        .order_by("time", "id")
        .values_list("kind", flat=True)
    )
    assert kinds == ["forecast", "withdrawal"]
    context.close()
