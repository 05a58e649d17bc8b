"""Issue 12, case 9: benchmark versions stay apart, and results the source flags go to staff
review instead of an automatic proposal. On the real MLE-bench README of 2026-02-26."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from markets.benchmarks.feeds import parse_feed
from markets.benchmarks.ingest import feed_ingest
from markets.models import AuditRecord, BenchmarkResult, Question, Resolution
from markets.resolution.milestones import question_evaluate_milestone
from tests.markets.conftest import milestone_question, sample

pytestmark = pytest.mark.django_db

README = "mlebench_README_leaderboard.2026-02-26.md"
MARCH = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
State = Resolution.State


def with_version_column(text: str, versions: dict[str, str], *, drop_v1: bool = False) -> bytes:
    """The README's table with a Version column: every row v1, plus a v2 copy of the rows whose
    agent link contains a key of ``versions`` with the All value replaced (v2 replacing v1 when
    ``drop_v1``)."""
    out = []
    for line in text.splitlines():
        if line.startswith("| Agent |"):
            out.append(line.rstrip() + " Version |")
        elif line.startswith("|---"):
            out.append(line.rstrip() + "---|")
        elif line.startswith("|") and "±" in line:
            v2 = next((value for key, value in versions.items() if key in line), None)
            if v2 is not None:
                cells = line.rstrip().rstrip("|").split("|")
                cells[6] = f" {v2} ± 0.50 "  # the All (%) column
                out.append("|".join(cells) + "| v2 |")
            if not (drop_v1 and v2 is not None):
                out.append(line.rstrip() + " v1 |")
        else:
            out.append(line)
    return "\n".join(out).encode()


def test_a_version_column_keeps_v2_results_on_a_benchmark_of_their_own():
    raw = with_version_column(sample(README).decode(), {"disarray.ai": "48.0"})
    parsed = parse_feed("mlebench", raw, filename=README)
    disarray = [p for p in parsed if p.system.startswith("Disarray")]
    assert {(p.benchmark, p.value) for p in disarray} == {
        ("mle-bench-all", 77.78),
        ("mle-bench-all-v2", 48.0),
    }


# The unflagged results that meet 61%: MLEvolve and PiEvolve, 61.33 each (Disarray's 77.78 and
# LoongFlow's 62.66 carry "Known Leakage ✓" and go to staff review, below).
V2 = {"InternScience/MLEvolve": "48.0", "FractalAIResearchLabs/PiEvolve": "48.0"}


@pytest.mark.parametrize("drop_v1", [False, True], ids=["side by side", "v2 replacing v1"])
def test_v2_results_do_not_revise_v1_nor_withdraw_a_correct_yes(drop_v1):
    question = milestone_question(slug="mle-bench-all", threshold=61.0, title="MLE-bench 61%?")
    with time_machine.travel(MARCH, tick=False):
        feed_ingest(feed="mlebench", raw=sample(README), source=README)
        proposal = question_evaluate_milestone(question_id=question.pk)
        assert proposal is not None and proposal.outcome == "yes"
        assert proposal.evidence_result.value == 61.33
        raw = with_version_column(sample(README).decode(), V2, drop_v1=drop_v1)
        result = feed_ingest(feed="mlebench", raw=raw, source="README-v2.md")
        assert result.revised == 0
        standing = question_evaluate_milestone(question_id=question.pk)
    assert standing is not None and standing.pk == proposal.pk  # not withdrawn
    assert not question.resolutions.filter(outcome="no").exists()
    v1 = BenchmarkResult.objects.get(
        benchmark__slug="mle-bench-all", system__startswith="MLEvolve", is_current=True
    )
    assert v1.value == 61.33 and v1.revision_of is None
    v2 = BenchmarkResult.objects.get(
        benchmark__slug="mle-bench-all-v2", system__startswith="MLEvolve"
    )
    assert v2.value == 48.0 and v2.benchmark.name == "MLE-bench (All) v2"


def test_a_result_the_source_flags_goes_to_staff_review_not_to_a_proposal():
    # At 62% only Disarray (77.78) and LoongFlow (62.66) qualify, and the README marks both
    # "Known Leakage ✓". The earliest achievement (Disarray, 2026-02-03) is the one flagged.
    question = milestone_question(slug="mle-bench-all", threshold=62.0, title="MLE-bench 62%?")
    with time_machine.travel(MARCH, tick=False):
        feed_ingest(feed="mlebench", raw=sample(README), source=README)
        assert question_evaluate_milestone(question_id=question.pk) is None
        assert question_evaluate_milestone(question_id=question.pk) is None  # flagged once
    question.refresh_from_db()
    assert question.needs_review
    assert not question.resolutions.exists()
    flags = AuditRecord.objects.filter(question=question, action=AuditRecord.Action.FLAGGED)
    assert flags.count() == 1
    flag = flags.get()
    assert "Disarray" in flag.reason and "known leakage" in flag.reason
    assert flag.evidence["value"] == 77.78
    assert flag.evidence["flag"].startswith("the source marks this result as having known leakage")
    # Past the grace period the rule still does not propose NO over the flagged result.
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=dt.UTC), tick=False):
        assert question_evaluate_milestone(question_id=question.pk) is None
    assert not question.resolutions.exists()
    assert Question.objects.get(pk=question.pk).status != Question.Status.RESOLVED
