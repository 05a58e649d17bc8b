"""The demo loader: AI milestones content, the CORE-Bench rule path, idempotent reruns."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
from markets.models import (
    AuditRecord,
    BenchmarkResult,
    Conditional,
    FeedSnapshot,
    Question,
    Resolution,
)
from markets.resolution.manual import question_resolve
from scoring.models import Score

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (
            get_user_model(), Forecaster, Question, Forecast, CrowdPoint, BenchmarkResult,
            FeedSnapshot, Resolution, AuditRecord, Score,
        )
    )  # fmt: skip


def test_demo_loads_once_and_a_second_run_duplicates_nothing(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx")
    assert Question.objects.filter(tournament__slug="ai-milestones").count() == 12
    assert get_user_model().objects.filter(username="admin", is_staff=True).exists()
    core = Question.objects.get(key="corebench-95-2026")
    final = core.resolutions.get(state=Resolution.State.FINAL)
    # Proposed by the milestone rule with its evidence, then confirmed by the demo admin.
    assert (final.outcome, final.source) == ("yes", "rule")
    assert final.evidence_result.value == 95.0
    assert list(core.audit.values_list("action", flat=True)) == ["proposed", "confirmed"]
    assert Score.objects.filter(question=core).exists()
    before = counts()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx")
    assert counts() == before


def test_the_acx_import_announces_each_stage_and_shows_the_rows(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    """Issue 19: the first run printed nothing for minutes while ACX imported. A small
    contest in place of ACX: every stage is announced in order, the rows with a progress bar."""
    import io

    acx = tmp_path / "acx2023"
    acx.mkdir()
    (acx / "questions.csv").write_text("question,title,resolution\n1,One?,YES\n2,Two?,\n")
    (acx / "forecasts.csv").write_text(
        "forecaster,question,probability\na,1,0.9\nb,1,0.6\na,2,0.2\nc,2,0.3\n"
    )
    from web.management.commands import load_demo

    for shipped in load_demo.DATA.iterdir():  # the benchmark files the demo also reads
        if shipped.name != "acx2023":
            (tmp_path / shipped.name).symlink_to(shipped)
    monkeypatch.setattr(load_demo, "DATA", tmp_path)
    out, err = io.StringIO(), io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", stdout=out, stderr=err)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("ACX 2023: ")]
    stages = [line.split("…")[0] for line in lines]
    assert stages == [
        "ACX 2023: writing",
        "ACX 2023: writing 4 forecasts",
        "ACX 2023: computing the crowd history of 2 questions",
        "ACX 2023: recording resolutions",
        "ACX 2023: scoring the resolved questions",
        "ACX 2023: 4 forecasts imported (0 already there).",
    ]
    assert all(line.endswith(" s so far)") for line in lines[:-1])
    assert "ACX 2023: validating forecasts" in err.getvalue()
    assert "100%" in err.getvalue() and "4.00/4.00" in err.getvalue()  # the rows bar ran
    assert Score.objects.filter(question__tournament__slug="acx-2023").exists()


TYPED_KEYS = {
    "metr-6000-date": ("date", "metr-p50"),
    "swebench-best-2027": ("numeric", "swe-bench-verified"),
    "metr-best-org-2026": ("multiple_choice", "metr-p50"),
}
BRANCHES = ("rsi-2028-if-swebench-95-if-yes", "rsi-2028-if-swebench-95-if-no")


@pytest.fixture
def demo(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx", "--no-progress", stdout=io.StringIO())


def test_the_typed_questions_carry_their_rules_and_the_forecasters_typed_forecasts(demo):
    for key, (kind, benchmark) in TYPED_KEYS.items():
        q = Question.objects.get(tournament__slug="ai-milestones", key=key)
        assert (q.type, q.benchmark.slug) == (kind, benchmark)
        assert q.milestone_text()  # a typed rule, in words
        forecasts = Forecast.objects.filter(question=q)
        humans = forecasts.filter(forecaster__is_bot=False)
        assert humans.values("forecaster").distinct().count() == 6
        # The trend bot forecasts the open numeric and date ones (docs/methods.md §16.4), not
        # multiple choice; bots stay out of the default crowd.
        bots = set(
            forecasts.filter(forecaster__is_bot=True).values_list("forecaster__key", flat=True)
        )
        assert bots <= {"trend-bot"}
        if kind == Question.Type.MULTIPLE_CHOICE:
            assert not bots
        assert not forecasts.filter(values__isnull=True).exists()
        assert CrowdState.objects.get(question=q).forecasters == 6
    date_q = Question.objects.get(key="metr-6000-date")
    assert (date_q.comparator, date_q.threshold) == (">=", 6000.0)
    assert Question.objects.get(key="metr-best-org-2026").options == [
        "Anthropic", "OpenAI", "Google DeepMind", "Other",
    ]  # fmt: skip


def test_the_conditional_pairs_the_swebench_and_rsi_questions(demo):
    c = Conditional.objects.get()
    assert (c.parent.key, c.child.key) == ("swebench-95-2026", "rsi-2028")
    assert (c.if_yes.key, c.if_no.key) == BRANCHES
    assert c.if_yes.title.startswith("If SWE-bench Verified reaches 95% by the end of 2026, ")
    for branch in (c.if_yes, c.if_no):
        # the six demo forecasters; the built-in base-rate bot forecasts every open yes/no
        # question, branches included
        humans = Forecast.objects.filter(question=branch, forecaster__is_bot=False)
        assert humans.values("forecaster").distinct().count() == 6
    # Resolving the parent carries the branches along (the rule's door is the same service).
    question_resolve(question_id=c.parent_id, outcome=Resolution.Outcome.NO)
    assert c.if_yes.resolutions.get(state="final").outcome == "annulled"
    assert not c.if_no.resolutions.exists()


def test_the_typed_questions_resolve_from_the_benchmark_feeds(demo):
    """The rules propose from the loaded history: after the as-of dates and grace, the best
    SWE-bench Verified result (78.8) and METR's leader (Anthropic); the date question once a
    6,000-minute result is recorded."""
    import datetime as dt

    import time_machine

    from markets.benchmarks.ingest import benchmark_result_record
    from markets.resolution.milestones import question_evaluate_milestone

    def evaluate(key: str) -> Resolution | None:
        q = Question.objects.get(key=key)
        return question_evaluate_milestone(question_id=q.pk, trigger="test")

    date_q = Question.objects.get(key="metr-6000-date")
    assert evaluate("metr-6000-date") is None
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=dt.UTC), tick=False):
        benchmark_result_record(
            benchmark_id=date_q.benchmark_id,
            system="Claude Opus 6",
            value=6400.0,
            achieved_on=dt.date(2027, 2, 10),
        )
        proposed = evaluate("metr-6000-date")
        assert proposed is not None and proposed.outcome == "value"
        assert proposed.value == dt.datetime(2027, 2, 10, tzinfo=dt.UTC).timestamp()
        best = evaluate("swebench-best-2027")
        assert best is not None and (best.outcome, best.value) == ("value", 78.8)
        org = evaluate("metr-best-org-2026")
        assert org is not None and (org.outcome, org.option) == ("option", 0)  # Anthropic


def test_a_database_loaded_before_gets_the_new_questions_on_the_next_run(
    demo, django_capture_on_commit_callbacks
):
    """A demo loaded before these questions existed: the next run adds them, once."""
    new = [*TYPED_KEYS, *BRANCHES]
    Question.objects.filter(key__in=new).delete()
    assert not Conditional.objects.exists()
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("load_demo", "--skip-acx", "--no-progress", stdout=out)
    assert "yes/no questions already loaded" in out.getvalue()
    assert Question.objects.filter(key__in=new).count() == 5
    assert Conditional.objects.count() == 1


def test_the_new_questions_pages_render(demo, client):
    c = Conditional.objects.get()
    for key in [*TYPED_KEYS, *BRANCHES]:
        q = Question.objects.get(key=key)
        page = client.get(q.get_absolute_url())
        assert page.status_code == 200, key
        assert q.title in page.content.decode()
    page = client.get(c.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "If YES" in html and "If NO" in html and "%" in html
