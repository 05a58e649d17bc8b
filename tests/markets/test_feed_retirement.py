"""Issue 20, case 5: a publisher's new file version retires systems; their old results stop
deciding questions.

METR's Time Horizon 1.1 file replaces the 1.0 file whole. 1.0 has Claude 3.5 Sonnet (June 2024)
at 18.68 minutes; 1.1 no longer has it, and its best result released by 2024-08-31 is GPT-4o's
10.77. Before the fix, a "≥ 15 minutes by 2024-08-31" question kept its YES proposal on the
withdrawn 18.68, and after ingesting 1.1, 31 of 45 current results still came from 1.0.
Fixtures: tests/fixtures/README.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
from django.db.models import Max

from markets.benchmarks.feeds import FEEDS, parse_feed
from markets.benchmarks.ingest import benchmark_result_record, feed_ingest
from markets.models import AuditRecord, Benchmark, BenchmarkResult, Comparator, Resolution
from markets.resolution.finality import resolution_confirm
from markets.resolution.manual import question_review_clear
from markets.resolution.milestones import question_evaluate_milestone
from tests.markets.conftest import milestone_question, sample

pytestmark = pytest.mark.django_db

UTC = dt.UTC
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TH_1_0 = "metr_time_horizon_1_0.yaml"
TH_1_1 = "metr_time_horizon_1_1.yaml"
WITHDRAWN_SYSTEM = "claude_3_5_sonnet_20240620"
DEADLINE = dt.date(2024, 8, 31)
MARCH = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
NEXT_DAY = MARCH + dt.timedelta(days=1)
State = Resolution.State
Action = AuditRecord.Action


@pytest.fixture(autouse=True)
def review_window(settings):
    settings.RESOLUTION_REVIEW_HOURS = 48


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def ingest(name: str):
    result = feed_ingest(feed="metr", raw=fixture(name), source=name)
    assert result.ok, result.error
    return result


def at(when: dt.datetime):
    return time_machine.travel(when, tick=False)


def fifteen_minutes_by_august() -> object:
    return milestone_question(
        threshold=15.0,
        comparator=Comparator.GE,
        deadline=DEADLINE,
        open_time=dt.datetime(2024, 1, 1, tzinfo=UTC),
        close_time=dt.datetime(2024, 8, 31, 23, 59, tzinfo=UTC),
        title="METR p50 ≥ 15 minutes by 2024-08-31?",
    )


def current() -> BenchmarkResult:
    return BenchmarkResult.objects.filter(benchmark__slug="metr-p50", is_current=True)


def best_by_deadline() -> float | None:
    return current().filter(achieved_on__lte=DEADLINE).aggregate(best=Max("value"))["best"]


def test_the_fixtures_are_what_the_issue_describes():
    one_zero = {p.system: p for p in parse_feed("metr", fixture(TH_1_0))}
    one_one = {p.system: p for p in parse_feed("metr", fixture(TH_1_1))}
    assert (len(one_zero), len(one_one)) == (31, 17)
    assert one_zero[WITHDRAWN_SYSTEM].value == 18.68
    assert WITHDRAWN_SYSTEM not in one_one
    by_deadline = [p.value for p in one_one.values() if p.achieved_on <= DEADLINE]
    assert max(by_deadline) == 10.77


def test_after_ingesting_1_1_the_current_results_are_exactly_its_rows():
    with at(MARCH):
        first = ingest(TH_1_0)
    assert first.added == 31
    assert best_by_deadline() == 18.68
    with at(NEXT_DAY):
        second = ingest(TH_1_1)

    # Before the fix: 45 current results, 31 of them from the 1.0 snapshot.
    assert current().count() == len(parse_feed("metr", fixture(TH_1_1))) == 17
    assert current().filter(snapshot=first.snapshot).count() == 3  # unchanged in 1.1
    assert set(current().values_list("system", flat=True)) == {
        p.system for p in parse_feed("metr", fixture(TH_1_1))
    }
    assert best_by_deadline() == 10.77
    # o1 and o3 are the same systems in both (1.0's slugs ``o1``, ``o3``; 1.1's ``o1_inspect``,
    # ``o3_inspect``, named o1 and o3 by SYSTEM_NAMES): revised, not retired and added again.
    assert (second.added, second.revised, second.unchanged, second.retired) == (12, 2, 3, 26)
    assert second.snapshot.results_retired == 26
    o1 = current().get(system="o1")
    assert o1.extra["slug"] == "o1_inspect" and o1.revision_of.extra["slug"] == "o1"

    withdrawn = BenchmarkResult.objects.get(system=WITHDRAWN_SYSTEM)
    assert withdrawn.value == 18.68
    assert withdrawn.is_current is False
    assert withdrawn.retired_at == NEXT_DAY
    assert withdrawn.retired_in == second.snapshot
    assert withdrawn.revisions.count() == 0  # retired, not revised


def test_the_yes_proposal_on_the_withdrawn_result_is_withdrawn():
    question = fifteen_minutes_by_august()
    with at(MARCH):
        ingest(TH_1_0)
        proposal = question_evaluate_milestone(question_id=question.pk, trigger="test")
    assert proposal is not None and proposal.outcome == "yes"
    assert (proposal.evidence_result.system, proposal.evidence_result.value) == (
        WITHDRAWN_SYSTEM,
        18.68,
    )

    with at(NEXT_DAY):
        ingest(TH_1_1)
        standing = question_evaluate_milestone(question_id=question.pk, trigger="test")

    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN
    withdrawal = question.audit.get(action=Action.WITHDRAWN, resolution=proposal)
    assert WITHDRAWN_SYSTEM in withdrawal.reason
    assert "no longer" in withdrawal.reason
    # The rule proposes again from the 1.1 table: its best by the deadline is 10.77 < 15, and
    # the grace period ended in 2024, so the proposal is NO.
    assert standing is not None and standing.pk != proposal.pk
    assert (standing.outcome, standing.state) == ("no", State.PROPOSED)
    assert not question.resolutions.filter(outcome="yes", state=State.PROPOSED).exists()


def test_a_final_yes_on_the_withdrawn_result_is_flagged_for_staff(django_user_model):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = fifteen_minutes_by_august()
    with at(MARCH):
        ingest(TH_1_0)
        proposal = question_evaluate_milestone(question_id=question.pk, trigger="test")
        final = resolution_confirm(resolution_id=proposal.pk, user=admin, reason="Checked")
    assert final.state == State.FINAL

    with at(NEXT_DAY):
        ingest(TH_1_1)  # final questions are checked inside the ingest transaction

    question.refresh_from_db()
    final.refresh_from_db()
    assert question.needs_review is True
    assert (final.state, final.outcome) == (State.FINAL, "yes")  # staff decide, not the rule
    flag = question.audit.get(action=Action.FLAGGED)
    assert flag.resolution == final
    assert WITHDRAWN_SYSTEM in flag.reason and "no longer" in flag.reason
    assert flag.evidence["value"] == 18.68
    assert (
        flag.evidence["retired_in"]
        == BenchmarkResult.objects.get(system=WITHDRAWN_SYSTEM).retired_in_id
    )

    # Evaluating again does not flag twice; staff clear it through the usual review path.
    with at(NEXT_DAY + dt.timedelta(hours=1)):
        question_evaluate_milestone(question_id=question.pk, trigger="test")
    assert question.audit.filter(action=Action.FLAGGED).count() == 1
    question_review_clear(question_id=question.pk, user=admin, reason="Re-resolving by hand")
    question.refresh_from_db()
    assert question.needs_review is False


def test_a_system_that_comes_back_is_current_again():
    with at(MARCH):
        ingest(TH_1_0)
    with at(NEXT_DAY):
        ingest(TH_1_1)
    with at(NEXT_DAY + dt.timedelta(days=1)):
        back = feed_ingest(
            feed="metr",
            raw=fixture(TH_1_1).replace(
                b"results:\n",
                b"results:\n  claude_3_5_sonnet_20240620:\n    metrics:\n"
                b"      p50_horizon_length:\n        estimate: 18.68\n"
                b"    release_date: 2024-06-20\n",
                1,
            ),
            source="1.1 with it back",
        )
    assert (back.added, back.retired) == (1, 0)
    returned = current().get(system=WITHDRAWN_SYSTEM)
    assert returned.value == 18.68 and returned.retired_at is None
    assert returned.revision_of is None  # a new result, seen again now; not a revision
    assert BenchmarkResult.objects.get(system=WITHDRAWN_SYSTEM, is_current=False).is_retired
    assert current().count() == 18


def test_only_the_feeds_own_results_are_retired():
    """Epoch publishes METR numbers on the same benchmark, and staff can enter results by hand:
    a METR file retires neither."""
    with at(MARCH):
        feed_ingest(
            feed="epoch",
            raw=sample("epoch_external_benchmark_metr.2025-12.csv"),
            source="epoch.csv",
        )
        benchmark = Benchmark.objects.get(slug="metr-p50")
        benchmark_result_record(benchmark_id=benchmark.pk, system="by hand", value=1.0)
        ingest(TH_1_0)
    with at(NEXT_DAY):
        result = ingest(TH_1_1)
    assert result.retired == 26  # o1 and o3 revised (see above)
    assert current().count() == 17 + 3 + 1
    assert current().filter(snapshot__feed="epoch").count() == 3
    assert current().filter(system="by hand").exists()


def test_feeds_that_do_not_publish_a_whole_table_keep_missing_systems():
    """A PostTrainBench file holds one agent, so another file is no withdrawal."""
    assert FEEDS["metr"].whole_table and FEEDS["epoch"].whole_table
    assert not FEEDS["posttrainbench"].whole_table
    for name in (
        "posttrainbench_aggregated_avg_Opus-4.6.csv",
        "posttrainbench_single_metrics_aggregated.csv",
    ):
        assert feed_ingest(feed="posttrainbench", raw=sample(name), source=name).retired == 0
    assert BenchmarkResult.objects.filter(is_current=True, system="Opus-4.6").exists()


def test_the_api_and_the_benchmark_page_leave_retired_results_out_of_the_current_ones(client):
    with at(MARCH):
        ingest(TH_1_0)
    with at(NEXT_DAY):
        ingest(TH_1_1)
    response = client.get("/api/v1/benchmarks/metr-p50/results/?current=true&page_size=100")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert len(rows) == 17
    assert WITHDRAWN_SYSTEM not in {row["system"] for row in rows}
    everything = client.get("/api/v1/benchmarks/metr-p50/results/?page_size=100").json()
    withdrawn = next(row for row in everything["results"] if row["system"] == WITHDRAWN_SYSTEM)
    assert withdrawn["is_current"] is False
    assert withdrawn["retired_at"] == "2026-03-11T12:00:00Z"
    page = client.get("/benchmarks/metr-p50/")
    assert page.status_code == 200
    assert "no longer in the source" in page.content.decode()
