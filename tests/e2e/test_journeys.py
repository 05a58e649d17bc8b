"""The three journeys of issue 19 in headless Chromium, at 1280 px and at 390 px.

A new forecaster signs up, browses, forecasts and sees the crowd; a staff member resolves one
question from the staff desk and one from the admin; a researcher makes an API token and
downloads a crowd export with it. On every page visited: no horizontal overflow (the document
is no wider than the viewport) and every chart's latest value inside the viewport. A
full-page screenshot of each page goes to ``artifacts/journeys/`` (ignored by git).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from forecasts.services import forecast_submit, forecaster_for_user
from markets.benchmarks.models import BenchmarkResult, FeedSnapshot
from markets.models import AuditRecord, Comparator, Resolution
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "journeys"
PASSWORD = "a-long-passphrase-for-e2e"
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

# The page's layout facts, measured in the browser: document and viewport widths, and for each
# rendered chart (an SVG that is displayed) and each latest-value label in one, its horizontal
# extent on screen.
MEASURE = """() => {
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left + window.scrollX, right: r.right + window.scrollX, text: el.textContent};
  };
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    charts: [...document.querySelectorAll("svg.chart")].filter(shown).map((svg) => ({
      id: svg.id, box: box(svg),
      latest: [...svg.querySelectorAll("[data-latest]")].map(box),
    })),
  };
}"""


@pytest.fixture
def world(db):
    now = timezone.now()
    tournament = TournamentFactory(slug="ai-milestones", name="AI milestones", min_forecasters=3)
    rsi = QuestionFactory(
        tournament=tournament,
        key="rsi-2028",
        title="Will AI systems be capable of recursive self-improvement by the end of 2028?",
        open_time=now - dt.timedelta(days=400),
        close_time=now + dt.timedelta(days=365),
    )
    bench = BenchmarkFactory()
    milestone = QuestionFactory(
        tournament=tournament,
        key="metr-6000",
        title="Will METR p50 reach 6,000 minutes?",
        benchmark=bench,
        comparator=Comparator.GE,
        threshold=6000,
        deadline=(now + dt.timedelta(days=300)).date(),
        open_time=now - dt.timedelta(days=400),
        close_time=now + dt.timedelta(days=365),
    )
    snapshot = FeedSnapshot.objects.create(
        feed="metr", source="benchmark_results.yaml", sha256=SHA, outcome="ok"
    )
    for days, value, system in ((700, 30.0, "GPT-4"), (300, 140.0, "o3"), (60, 900.0, "M-9")):
        BenchmarkResult.objects.create(
            benchmark=bench,
            system=system,
            value=value,
            snapshot=snapshot,
            achieved_on=(now - dt.timedelta(days=days)).date(),
        )
    result = BenchmarkResult.objects.create(
        benchmark=bench,
        system="Future model",
        value=6100,
        snapshot=snapshot,
        achieved_on=(now - dt.timedelta(days=2)).date(),
    )
    proposal = Resolution.objects.create(
        question=milestone,
        version=1,
        outcome="yes",
        state="proposed",
        source="rule",
        evidence_result=result,
        evidence_snapshot=snapshot,
        reason="Future model: 6100 ≥ 6000",
        finalizes_at=now + dt.timedelta(hours=48),
    )
    # A full hash in the audit trail: the long unbroken string that widened the phone page.
    AuditRecord.objects.create(
        question=milestone,
        resolution=proposal,
        action="proposed",
        actor_label="milestone rule",
        reason="Future model: 6100 ≥ 6000",
        evidence={"result_id": result.pk, "sha256": SHA},
    )
    others = [UserFactory(username=name) for name in ("ada", "bayes", "cassandra", "delphi")]
    for i, user in enumerate(others):
        for q, p in ((rsi, 0.3 + 0.1 * i), (milestone, 0.55 + 0.1 * i)):
            for month in range(12, 0, -3):  # a year of history, updated each quarter
                forecast_submit(
                    question_id=q.pk,
                    forecaster=forecaster_for_user(user),
                    probability=min(0.95, p + 0.01 * month),
                    at=now - dt.timedelta(days=30 * month - i),
                )
    staff = UserFactory(username="admin", is_staff=True, is_superuser=True)
    researcher = UserFactory(username="researcher")
    return {"rsi": rsi, "milestone": milestone, "staff": staff, "researcher": researcher}


class Pages:
    """Visits pages at one width: checks the layout of each and saves its screenshot."""

    def __init__(self, base_url: str, width_name: str):
        self.base_url = base_url
        self.width_name = width_name
        self.visited: list[str] = []
        SHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, page, name: str, *, charts_with_latest: int = 0) -> dict:
        """Assert no horizontal overflow and every displayed chart (and its latest value)
        inside the viewport; at least ``charts_with_latest`` charts name a latest value."""
        page.wait_for_load_state("load")
        m = page.evaluate(MEASURE)
        where = f"{name} ({page.url}) at {m['innerWidth']} px"
        assert m["scrollWidth"] <= m["innerWidth"], f"{where}: scroll width {m['scrollWidth']}"
        for chart in m["charts"]:
            assert chart["box"]["left"] >= 0, (where, chart)
            assert chart["box"]["right"] <= m["innerWidth"], (where, chart)
            for label in chart["latest"]:
                assert label["left"] >= 0 and label["right"] <= m["innerWidth"], (where, label)
        with_latest = [c for c in m["charts"] if c["latest"]]
        assert len(with_latest) >= charts_with_latest, (where, m["charts"])
        page.screenshot(path=str(SHOTS / f"{self.width_name}-{name}.png"), full_page=True)
        self.visited.append(name)
        return m


def _log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}{reverse('login')}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state("load")


@pytest.mark.parametrize("width_name", list(VIEWPORTS))
def test_three_journeys(live_server, browser, world, scoring_inline, width_name):
    width, height = VIEWPORTS[width_name]
    base = live_server.url
    pages = Pages(base, width_name)
    errors: list[str] = []

    def new_page():
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    # --- a new forecaster ---------------------------------------------------------------------
    page = new_page()
    page.goto(f"{base}{reverse('signup')}")
    pages.check(page, "signup")
    page.get_by_label("Username").fill("newforecaster")
    page.get_by_label("Email").fill("new@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{base}/")
    pages.check(page, "home")
    # Every navigation link is on screen at this width: none hides off to the side.
    nav = page.locator("nav.site-nav a")
    for i in range(nav.count()):
        box = nav.nth(i).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert page.get_by_role("link", name="My record").is_visible()

    rsi = world["rsi"]
    page.get_by_role("link", name=rsi.title).click()
    page.wait_for_url(f"**{rsi.get_absolute_url()}")
    m = pages.check(page, "question", charts_with_latest=1)
    crowd = page.locator("[data-crowd-value]").inner_text()
    latest = next(c for c in m["charts"] if c["latest"])["latest"][0]["text"]
    assert latest == crowd  # the label at the line's end is the headline, e.g. "46%"
    # The spread of current forecasts: four forecasters in their bins.
    spread = page.locator("[data-spread]")
    assert spread.is_visible() and "4 forecasters" in spread.inner_text()
    # The pointer or the keyboard reads out the crowd line's values.
    chart = page.locator("svg.chart[data-series]:visible").first
    chart.focus()
    page.keyboard.press("End")
    assert page.locator("svg.chart:visible g.readout text").text_content().startswith("Crowd ")
    page.keyboard.press("Home")
    first = page.locator("svg.chart:visible g.readout text").text_content()
    assert first.startswith("Crowd ") and crowd.rstrip("%") not in first.split(" on ")[0]

    page.get_by_label("Your forecast (percent)").fill("72")
    page.get_by_role("button", name="Save forecast").click()
    page.locator("#messages").get_by_text("Saved your forecast of 72%.").wait_for()
    assert page.locator("svg.chart:visible .markers-own circle").count() == 1
    pages.check(page, "question-forecast", charts_with_latest=1)

    # A shorter time range, chosen on the page and drawn by the server.
    page.get_by_role("navigation", name="Time range").get_by_role("link", name="1M").click()
    page.wait_for_url("**range=1m**")
    assert page.get_by_role("link", name="1M").get_attribute("aria-current") == "true"
    pages.check(page, "question-1m", charts_with_latest=1)

    milestone = world["milestone"]
    page.goto(f"{base}{milestone.get_absolute_url()}")
    pages.check(page, "milestone-question", charts_with_latest=1)
    assert page.locator("svg.chart:visible .threshold-label").text_content() == "threshold ≥ 6,000"

    page.get_by_role("link", name="Benchmarks", exact=True).first.click()
    page.wait_for_load_state("load")
    pages.check(page, "benchmarks")
    page.goto(f"{base}{reverse('benchmark-detail', args=[milestone.benchmark.slug])}")
    m = pages.check(page, "benchmark", charts_with_latest=1)
    assert next(c for c in m["charts"] if c["latest"])["latest"][0]["text"] == "6,100"
    page.goto(f"{base}{reverse('crowd-track-record')}")
    pages.check(page, "crowd-record")
    page.get_by_role("link", name="My record").click()
    page.wait_for_load_state("load")
    pages.check(page, "my-record")
    page.context.close()

    # --- staff resolve: one proposal confirmed on the desk, one question in the admin -----------
    page = new_page()
    _log_in(page, base, "admin", "correct-horse-battery")
    page.goto(f"{base}{reverse('staff:resolutions')}")
    pages.check(page, "staff-desk")
    page.get_by_role("button", name="Confirm now").click()
    page.wait_for_load_state("load")
    assert "is final YES" in page.content()
    page.goto(f"{base}{reverse('admin:markets_question_changelist')}")
    pages.check(page, "admin-questions")
    page.locator(f"input[name=_selected_action][value='{rsi.pk}']").check()
    page.locator("select[name=action]").select_option("resolve_yes")
    page.locator("button[name=index]").click()
    page.wait_for_load_state("load")
    pages.check(page, "admin-resolve")
    page.get_by_label("Reason").fill("Announced on the question's source.")
    page.get_by_role("button", name="Resolve YES").click()
    page.wait_for_load_state("load")
    assert "1 done" in page.content()
    scoring_inline()
    page.goto(f"{base}{rsi.get_absolute_url()}")
    assert page.get_by_role("heading", name="Resolved YES").is_visible()
    pages.check(page, "resolved-question", charts_with_latest=1)
    page.goto(f"{base}{milestone.get_absolute_url()}")
    pages.check(page, "resolved-milestone", charts_with_latest=1)
    page.context.close()
    assert Resolution.objects.filter(state="final").count() == 2

    # --- a researcher: a token, then a crowd export with it -----------------------------------
    page = new_page()
    _log_in(page, base, "researcher", "correct-horse-battery")
    page.goto(f"{base}{reverse('api-tokens')}")
    page.get_by_role("button", name="Create a token").click()
    page.wait_for_load_state("load")
    pages.check(page, "token")
    key = page.locator("#new-token").inner_text().strip()
    url = f"{base}{reverse('v1:question-crowd-export', args=[rsi.pk])}?format=csv"
    response = page.request.get(url, headers={"Authorization": f"Token {key}"})
    assert response.status == 200, response.text()
    lines = response.text().splitlines()
    assert lines[0].startswith("question,time,forecasters,probability")
    assert len(lines) > 2
    page.context.close()

    assert errors == []
    assert len(pages.visited) == 16
    assert all((SHOTS / f"{width_name}-{name}.png").stat().st_size > 0 for name in pages.visited)
