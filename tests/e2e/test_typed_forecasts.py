"""Issue 15 in the browser: forecast, update and withdraw on a multiple-choice, a numeric, a
date and a discrete question at desktop (1280 px) and phone (390 px) widths, with the page's
JavaScript on (the forms are plain POSTs either way). Each page passes axe-core's checks of
form labels and colour contrast (axe.min.js ships inside the PyPI package
axe-playwright-python: nothing is downloaded at run time), loads nothing from another host and
does not scroll sideways. Screenshots go to ``artifacts/typed/`` for the CI run to keep."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from forecasts.models import CrowdState, Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import BenchmarkResult, Question
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "typed"
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
AXE_RULES = [
    "label",
    "color-contrast",
    "label-title-only",
    "form-field-multiple-labels",
    "aria-input-field-name",
    "svg-img-alt",
    "button-name",
]


def _ts(year: int, month: int = 1, day: int = 1) -> float:
    return dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp()


@pytest.fixture
def world(db):
    now = timezone.now()
    t = TournamentFactory(slug="ai-milestones", name="AI milestones", min_forecasters=1)
    bench = BenchmarkFactory(slug="swe-bench", name="SWE-bench Verified", unit="%")
    for system, value, day in [("A", 49.0, dt.date(2024, 10, 1)), ("B", 71.7, dt.date(2025, 5, 1))]:
        BenchmarkResult.objects.create(benchmark=bench, system=system, value=value, achieved_on=day)
    common = {"tournament": t, "open_time": now - dt.timedelta(days=40)}
    questions = {
        "mc": QuestionFactory(
            **common,
            key="mc",
            title="Which organisation will hold the best METR p50 result on 31 December 2026?",
            type=Question.Type.MULTIPLE_CHOICE,
            options=["OpenAI", "Anthropic", "Google DeepMind", "Other"],
        ),
        "numeric": QuestionFactory(
            **common,
            key="num",
            title="Best SWE-bench Verified result on 1 January 2027 (%)",
            type=Question.Type.NUMERIC,
            range_min=0.0,
            range_max=100.0,
            benchmark=bench,
            deadline=dt.date(2027, 1, 1),
        ),
        "date": QuestionFactory(
            **common,
            key="date",
            title="When will a METR p50 time horizon of 6,000 minutes first be recorded?",
            type=Question.Type.DATE,
            range_min=_ts(2026),
            range_max=_ts(2035),
            open_upper_bound=True,
        ),
        "discrete": QuestionFactory(
            **common,
            key="disc",
            title="How many frontier labs will release a model in December?",
            type=Question.Type.DISCRETE,
            range_min=-0.5,
            range_max=10.5,
        ),
    }
    crowd = {
        "mc": [[0.4, 0.3, 0.2, 0.1], [0.3, 0.4, 0.2, 0.1], [0.25, 0.25, 0.4, 0.1]],
        "numeric": [(70, 78, 82, 86, 92), (75, 80, 85, 89, 95), (72, 79, 84, 88, 94)],
        "date": [
            ("2027-01-01", "2027-09-01", "2028-03-01", "2029-01-01", "2031-06-01"),
            ("2026-09-01", "2027-06-01", "2028-01-01", "2028-09-01", "2030-06-01"),
            ("2027-03-01", "2028-01-01", "2028-09-01", "2029-06-01", "2033-01-01"),
        ],
        "discrete": [(1, 2, 3, 4, 6), (2, 3, 4, 5, 7), (1, 3, 4, 6, 8)],
    }
    from forecasts import distributions
    from forecasts.typed_crowd import question_scale

    for i, name in enumerate(("ada", "bayes", "cassandra")):
        user = UserFactory(username=name)
        for key, q in questions.items():
            if key == "mc":
                values = crowd[key][i]
            else:
                levels = ("0.05", "0.25", "0.5", "0.75", "0.95")
                values = distributions.forecast_from_payload(
                    {"percentiles": dict(zip(levels, crowd[key][i], strict=True))},
                    question_type=q.type,
                    scale=question_scale(q),
                    n_options=None,
                )
            forecast_submit(
                question_id=q.pk,
                forecaster=forecaster_for_user(user),
                values=values,
                at=now - dt.timedelta(days=30 - 8 * i),
            )
    return questions


def _context(browser, live_server, user, width: int, height: int):
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": width, "height": height})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}]
    )
    return context


def _check_page(page, axe, where: str) -> None:
    results = axe.run(page, options={"runOnly": {"type": "rule", "values": AXE_RULES}})
    problems = [
        (v["id"], [n["target"] for n in v["nodes"]][:5]) for v in results.response["violations"]
    ]
    assert problems == [], f"{where}: {problems}"
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{where}: the page scrolls sideways ({width})"


FIRST = {
    "mc": {"OpenAI": "30", "Anthropic": "30", "Google DeepMind": "30", "Other": "20"},
    "numeric": ["72", "80", "85", "90", "96"],
    "date": ["2026-10-01", "2027-06-01", "2028-01-01", "2028-10-01", "2031-01-01"],
    "discrete": ["1", "2", "3", "5", "7"],
}
LEVELS = ["5th", "25th", "50th (median)", "75th", "95th"]


def _fill(page, key: str, second: bool) -> None:
    if key == "mc":
        for label, value in FIRST["mc"].items():
            page.get_by_label(label, exact=True).fill(value)
        if not second:
            # 110% in total: the running total says so, the server refuses it with a message
            # and saves nothing; then ask for scaling.
            assert "Total: 110%, not 100%" in page.locator("[data-mc-total]").inner_text()
            page.get_by_role("button", name="Save forecast").click()
            page.wait_for_load_state("load")
            assert "add up to 110%, not 100%" in page.locator("#typed-errors").inner_text()
            page.get_by_label("Scale my numbers to add up to 100%").check()
            assert "scaled to 100%" in page.locator("[data-mc-total]").inner_text()
        else:
            page.get_by_label("Other", exact=True).fill("10")
        return
    values = list(FIRST[key])
    if second and key == "numeric":
        # The draggable handles (JavaScript): move the median with the arrow keys.
        before = page.get_by_label("50th (median) percentile", exact=True).input_value()
        handle = page.get_by_role("slider", name="50th percentile handle")
        handle.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        after = page.get_by_label("50th (median) percentile", exact=True).input_value()
        assert float(after) > float(before), (before, after)
        assert handle.get_attribute("aria-valuetext") == after
        return
    if second:
        values[2] = {"date": "2028-02-01", "discrete": "4"}[key]
    for level, value in zip(LEVELS, values, strict=True):
        page.get_by_label(f"{level} percentile", exact=True).fill(value)


@pytest.mark.parametrize("width_name", list(VIEWPORTS))
def test_forecast_update_withdraw_on_every_type(live_server, browser, world, width_name):
    from axe_playwright_python.sync_playwright import Axe

    width, height = VIEWPORTS[width_name]
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = UserFactory(username=f"e2e-{width_name}")
    context = _context(browser, live_server, user, width, height)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    external: list[str] = []
    page.on(
        "request",
        lambda req: None if req.url.startswith(live_server.url) else external.append(req.url),
    )
    axe = Axe()
    for key, question in world.items():
        url = f"{live_server.url}{question.get_absolute_url()}"
        page.goto(url)
        # The charts are drawn, and the form starts empty.
        assert page.locator("#qchart").count() + page.locator("#qchart-n").count() == 2
        _check_page(page, axe, f"{key} at {width}px, first visit")
        page.screenshot(path=str(SHOTS / f"{width_name}-{key}-empty.png"), full_page=True)

        _fill(page, key, second=False)
        if key != "mc":
            page.get_by_role("button", name="Preview").click()
            page.wait_for_load_state("load")
            assert page.locator("#preview").count() == 1
            assert not Forecast.objects.filter(question=question, forecaster__user=user).exists()
            _check_page(page, axe, f"{key} at {width}px, preview")
            page.screenshot(path=str(SHOTS / f"{width_name}-{key}-preview.png"), full_page=True)
        page.get_by_role("button", name="Save forecast").click()
        page.wait_for_load_state("load")
        assert "Saved your forecast" in page.locator("#messages").inner_text()
        assert Forecast.objects.filter(question=question, forecaster__user=user).count() == 1
        assert CrowdState.objects.get(question=question).forecasters == 4

        # Update: the form is pre-filled; change one number.
        _fill(page, key, second=True)
        page.get_by_role("button", name="Update forecast").click()
        page.wait_for_load_state("load")
        assert "Saved your forecast" in page.locator("#messages").inner_text()
        assert Forecast.objects.filter(question=question, forecaster__user=user).count() == 2
        _check_page(page, axe, f"{key} at {width}px, with a forecast")
        page.screenshot(path=str(SHOTS / f"{width_name}-{key}-forecast.png"), full_page=True)

        page.get_by_role("button", name="Withdraw forecast").click()
        page.wait_for_load_state("load")
        assert "Withdrew your forecast" in page.locator("#messages").inner_text()
        assert CrowdState.objects.get(question=question).forecasters == 3
    assert errors == [] and external == []
    context.close()


@pytest.mark.parametrize("width_name", list(VIEWPORTS))
def test_crowd_record_shows_typed_calibration(live_server, browser, width_name):
    """The crowd's track record with resolved multiple-choice and numeric questions: the PIT
    histogram, interval coverage and multiple-choice bins are drawn, readable and labelled."""
    import numpy as np
    from axe_playwright_python.sync_playwright import Axe

    from markets.resolution.manual import question_resolve
    from scoring.services import question_score

    now = timezone.now()
    t = TournamentFactory(slug="done", name="Done", min_forecasters=1)
    common = {
        "tournament": t,
        "open_time": now - dt.timedelta(days=30),
        "close_time": now - dt.timedelta(days=5),
    }
    num = QuestionFactory(**common, type=Question.Type.NUMERIC, range_min=0.0, range_max=100.0)
    mc = QuestionFactory(**common, type=Question.Type.MULTIPLE_CHOICE, options=["A", "B", "C"])
    grid = np.linspace(0.0, 1.0, 201)
    for i in range(4):
        who = forecaster_for_user(UserFactory(username=f"f{i}"))
        at = now - dt.timedelta(days=25 - i)
        forecast_submit(question_id=num.pk, forecaster=who, values=grid, at=at)
        forecast_submit(question_id=mc.pk, forecaster=who, values=[0.5, 0.3, 0.2], at=at)
    for q, kw in (
        (num, {"outcome": "value", "value": 30.0}),
        (mc, {"outcome": "option", "option": 0}),
    ):
        r = question_resolve(question_id=q.pk, resolved_at=common["close_time"], **kw)
        question_score(question_id=q.pk, resolution_id=r.pk)
    width, height = VIEWPORTS[width_name]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{live_server.url}/crowd/")
    assert page.locator("#pit").is_visible() and page.locator("#calib-mc").is_visible()
    _check_page(page, Axe(), f"crowd record at {width}px")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{width_name}-crowd-calibration.png"), full_page=True)
    page.close()
