"""Milestone rules (docs/methods.md §8), with time-machine for time.

The default question: METR p50 >= 600 minutes by 2026-12-31, 30 days' grace, so the grace
period ends at 2027-01-31 00:00 UTC. Review window: 48 hours.
"""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from markets.benchmarks.ingest import benchmark_result_record, feed_ingest
from markets.errors import ResolutionError
from markets.models import AuditRecord, BenchmarkResult, Comparator, Question, Resolution
from markets.resolution.finality import (
    resolution_confirm,
    resolution_finalize,
    resolution_reject,
    resolutions_finalize_due,
)
from markets.resolution.manual import question_resolve, question_review_clear
from markets.resolution.milestones import grace_end, question_evaluate_milestone
from markets.resolution.sweep import markets_sweep
from tests.markets.conftest import (
    METR_SAMPLE,
    OPUS,
    metr_sample_with_opus,
    metr_yaml,
    milestone_question,
    sample,
)

pytestmark = pytest.mark.django_db

UTC = dt.UTC
State = Resolution.State
Action = AuditRecord.Action
MARCH = dt.datetime(2026, 3, 10, 12, tzinfo=UTC)
GRACE_END = dt.datetime(2027, 1, 31, tzinfo=UTC)


@pytest.fixture(autouse=True)
def review_window(settings):
    settings.RESOLUTION_REVIEW_HOURS = 48


def at(when: dt.datetime):
    return time_machine.travel(when, tick=False)


def evaluate(question: Question) -> Resolution | None:
    return question_evaluate_milestone(question_id=question.pk, trigger="test")


def record(question: Question, system: str, value: float, achieved_on: dt.date | None = None):
    result, _ = benchmark_result_record(
        benchmark_id=question.benchmark_id, system=system, value=value, achieved_on=achieved_on
    )
    return result


def actions(question: Question) -> list[str]:
    return list(question.audit.order_by("at", "pk").values_list("action", flat=True))


def test_grace_end_is_the_first_instant_after_deadline_plus_grace():
    assert grace_end(milestone_question()) == GRACE_END


# --- YES -----------------------------------------------------------------------------------


def test_qualifying_result_is_proposed_yes_with_its_evidence(scoring_calls):
    question = milestone_question(threshold=600)
    with at(MARCH):
        ingest = feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        proposal = evaluate(question)

    assert proposal is not None
    assert (proposal.outcome, proposal.state) == (Resolution.Outcome.YES, State.PROPOSED)
    assert proposal.source == Resolution.Source.RULE
    opus = BenchmarkResult.objects.get(system=OPUS)
    assert proposal.evidence_result == opus
    assert proposal.evidence_snapshot == ingest.snapshot
    assert proposal.finalizes_at == MARCH + dt.timedelta(hours=48)
    assert proposal.resolved_at == MARCH  # when the result was first seen
    assert "718.807 minutes" in proposal.reason
    audit = AuditRecord.objects.get(question=question)
    assert (audit.action, audit.who) == (Action.PROPOSED, "milestone rule")
    assert audit.evidence["result_id"] == opus.pk
    assert audit.evidence["value"] == pytest.approx(718.80683)
    assert audit.evidence["achieved_on"] == "2026-02-05"
    assert audit.evidence["snapshot_sha256"] == ingest.snapshot.sha256
    question.refresh_from_db()
    assert question.status == Question.Status.OPEN  # not resolved until final
    assert scoring_calls == []


def test_result_below_the_threshold_proposes_nothing():
    question = milestone_question(threshold=6000)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        assert evaluate(question) is None
    assert not Resolution.objects.exists()


def test_other_comparators_apply():
    question = milestone_question(comparator=Comparator.LT, threshold=1.0)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        proposal = evaluate(question)
    assert proposal is not None
    assert proposal.evidence_result.system == "davinci_002"  # 0.144 minutes


def test_result_achieved_after_the_deadline_does_not_count():
    question = milestone_question(threshold=600, deadline=dt.date(2026, 2, 4))
    with at(dt.datetime(2026, 2, 20, tzinfo=UTC)):  # Opus 4.6 released 2026-02-05: a day late
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        assert evaluate(question) is None
    with at(dt.datetime(2026, 3, 7, tzinfo=UTC)):  # 2026-02-04 + 30 days of grace are over
        assert evaluate(question).outcome == Resolution.Outcome.NO


def test_dated_result_published_after_the_grace_period_still_counts():
    question = milestone_question(threshold=600)
    with at(dt.datetime(2027, 1, 20, tzinfo=UTC)):
        assert evaluate(question) is None
    with at(dt.datetime(2027, 1, 30, 23, tzinfo=UTC)):
        late = record(question, "late-model", 700.0, achieved_on=dt.date(2026, 12, 31))
        proposal = evaluate(question)
    assert proposal.outcome == Resolution.Outcome.YES
    assert proposal.evidence_result == late


def test_undated_result_first_seen_within_the_grace_period_counts():
    question = milestone_question(threshold=600)
    with at(GRACE_END - dt.timedelta(minutes=1)):
        record(question, "undated", 650.0)
        proposal = evaluate(question)
    assert proposal.outcome == Resolution.Outcome.YES


def test_undated_result_first_seen_after_the_grace_period_does_not_count():
    question = milestone_question(threshold=600)
    with at(GRACE_END):
        record(question, "undated", 650.0)
        proposal = evaluate(question)
    assert proposal.outcome == Resolution.Outcome.NO
    assert proposal.evidence_result is None


def test_revision_keeps_the_clock_of_the_first_qualifying_version():
    question = milestone_question(threshold=600)
    with at(dt.datetime(2027, 1, 10, tzinfo=UTC)):
        record(question, "undated", 870.0)
    with at(dt.datetime(2027, 2, 5, tzinfo=UTC)):  # corrected after the grace period
        corrected = record(question, "undated", 718.8)
        proposal = evaluate(question)
    assert proposal.outcome == Resolution.Outcome.YES
    assert proposal.evidence_result == corrected
    assert proposal.resolved_at == dt.datetime(2027, 1, 10, tzinfo=UTC)


# --- NO ------------------------------------------------------------------------------------


def test_no_is_proposed_only_once_deadline_plus_grace_has_passed():
    question = milestone_question(threshold=6000)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    with at(GRACE_END - dt.timedelta(seconds=1)):
        assert evaluate(question) is None
    with at(GRACE_END):
        proposal = evaluate(question)
    assert (proposal.outcome, proposal.state) == (Resolution.Outcome.NO, State.PROPOSED)
    assert proposal.resolved_at == GRACE_END
    assert "No result met" in proposal.reason


def test_a_qualifying_result_withdraws_a_proposed_no_and_proposes_yes():
    question = milestone_question(threshold=600)
    with at(GRACE_END + dt.timedelta(hours=1)):
        no = evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=2)):
        record(question, "late", 900.0, achieved_on=dt.date(2026, 12, 1))
        yes = evaluate(question)
    no.refresh_from_db()
    assert no.state == State.WITHDRAWN
    assert (yes.outcome, yes.state, yes.version) == (Resolution.Outcome.YES, State.PROPOSED, 2)
    assert actions(question) == [Action.PROPOSED, Action.WITHDRAWN, Action.PROPOSED]


# --- The review window -----------------------------------------------------------------------


def test_proposal_becomes_final_after_the_review_window_with_no_manual_step(scoring_calls):
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        markets_sweep()
    proposal = Resolution.objects.get(question=question)
    assert proposal.state == State.PROPOSED

    with at(MARCH + dt.timedelta(hours=47, minutes=59)):
        assert markets_sweep().finalized == 0
    with at(MARCH + dt.timedelta(hours=48)):
        assert markets_sweep().finalized == 1

    proposal.refresh_from_db()
    assert proposal.state == State.FINAL
    assert proposal.finalized_at == MARCH + dt.timedelta(hours=48)
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    assert actions(question) == [Action.PROPOSED, Action.FINALIZED]
    assert question.audit.last().who == "review window"
    assert scoring_calls == [(question.pk, proposal.pk)]

    with at(MARCH + dt.timedelta(hours=49)):
        assert markets_sweep().finalized == 0  # idempotent
    assert Resolution.objects.filter(question=question).count() == 1
    assert scoring_calls == [(question.pk, proposal.pk)]


def test_staff_can_confirm_a_proposal_before_the_window_ends(django_user_model, scoring_calls):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        proposal = evaluate(question)
    with at(MARCH + dt.timedelta(hours=1)):
        final = resolution_confirm(resolution_id=proposal.pk, user=admin, reason="Checked METR")
    assert (final.state, final.finalized_at) == (State.FINAL, MARCH + dt.timedelta(hours=1))
    record_ = question.audit.get(action=Action.CONFIRMED)
    assert (record_.actor, record_.reason) == (admin, "Checked METR")
    assert scoring_calls == [(question.pk, proposal.pk)]
    with pytest.raises(ResolutionError, match="nothing to confirm"):
        resolution_confirm(resolution_id=proposal.pk, user=admin)
    with at(MARCH + dt.timedelta(hours=60)):
        assert resolution_finalize(resolution_id=proposal.pk) is None


def test_rejected_evidence_is_not_proposed_again(django_user_model):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        proposal = evaluate(question)
        with pytest.raises(ResolutionError, match="needs a reason"):
            resolution_reject(resolution_id=proposal.pk, user=admin, reason=" ")
        resolution_reject(resolution_id=proposal.pk, user=admin, reason="Scaffold leak")
        assert evaluate(question) is None
        markets_sweep()
    proposal.refresh_from_db()
    assert proposal.state == State.REJECTED
    assert Resolution.objects.filter(question=question).count() == 1
    question.refresh_from_db()
    assert question.status == Question.Status.OPEN

    with at(MARCH + dt.timedelta(days=1)):  # new evidence is proposed
        other = record(question, "another-model", 650.0, achieved_on=dt.date(2026, 3, 1))
        again = evaluate(question)
    assert again.evidence_result == other


def test_staff_resolution_supersedes_a_proposal_and_the_rule_stays_quiet(django_user_model):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        proposal = evaluate(question)
        question_resolve(question_id=question.pk, outcome="annulled", reason="Bad", user=admin)
        evaluate(question)
    proposal.refresh_from_db()
    assert proposal.state == State.SUPERSEDED
    assert Resolution.objects.filter(question=question, state=State.PROPOSED).count() == 0


def test_evaluating_twice_changes_nothing():
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        first = evaluate(question)
        second = evaluate(question)
        markets_sweep()
    assert first == second
    assert Resolution.objects.count() == 1
    assert actions(question) == [Action.PROPOSED]


# --- Revisions -----------------------------------------------------------------------------


def test_revision_below_the_threshold_during_the_window_withdraws_the_proposal(scoring_calls):
    question = milestone_question(threshold=800)
    with at(MARCH):
        feed_ingest(feed="metr", raw=metr_sample_with_opus(870.0), source="early.yaml")
        proposal = evaluate(question)
    assert proposal.evidence_result.value == 870.0

    with at(MARCH + dt.timedelta(hours=5)):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)  # 718.8
        assert evaluate(question) is None

    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN
    withdrawn = question.audit.get(action=Action.WITHDRAWN)
    assert "870 -> " in withdrawn.reason and "no longer meets" in withdrawn.reason
    assert withdrawn.evidence["revised_value"] == pytest.approx(718.80683)
    with at(MARCH + dt.timedelta(hours=50)):
        markets_sweep()
    assert not Resolution.objects.filter(state=State.FINAL).exists()
    assert scoring_calls == []


def test_a_revision_missed_by_the_tasks_is_caught_before_finalizing():
    question = milestone_question(threshold=800)
    with at(MARCH):
        feed_ingest(feed="metr", raw=metr_sample_with_opus(870.0), source="early.yaml")
        proposal = evaluate(question)
        # The evaluation task after this ingest is lost (broker down): nothing evaluates.
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    with at(MARCH + dt.timedelta(hours=48)):
        assert resolutions_finalize_due() == 0
    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN


def test_revision_that_still_meets_the_threshold_keeps_the_proposal():
    question = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=metr_sample_with_opus(870.0), source="early.yaml")
        proposal = evaluate(question)
    with at(MARCH + dt.timedelta(hours=5)):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        assert evaluate(question) == proposal
    with at(MARCH + dt.timedelta(hours=48)):
        markets_sweep()
    proposal.refresh_from_db()
    assert proposal.state == State.FINAL
    question.refresh_from_db()
    assert not question.needs_review  # revised before finality: nothing to flag
    final_audit = question.audit.get(action=Action.FINALIZED)
    assert (
        final_audit.evidence["current_result_id"]
        == BenchmarkResult.objects.get(system=OPUS, is_current=True).pk
    )


def test_revision_after_finality_flags_the_question_and_never_flips_it(scoring_calls):
    question = milestone_question(threshold=800)
    with at(MARCH):
        feed_ingest(feed="metr", raw=metr_sample_with_opus(870.0), source="early.yaml")
        evaluate(question)
    with at(MARCH + dt.timedelta(hours=48)):
        markets_sweep()
    final = Resolution.objects.get(question=question, state=State.FINAL)
    scored = list(scoring_calls)

    with at(MARCH + dt.timedelta(days=10)):
        feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)  # 870 -> 718.8
        evaluate(question)
        markets_sweep()

    question.refresh_from_db()
    assert question.needs_review is True
    assert question.status == Question.Status.RESOLVED
    final.refresh_from_db()
    assert (final.state, final.outcome) == (State.FINAL, Resolution.Outcome.YES)
    assert Resolution.objects.filter(question=question).count() == 1
    flag = question.audit.get(action=Action.FLAGGED)  # exactly one, however often evaluated
    assert flag.resolution == final
    assert flag.evidence["still_meets"] is False
    assert flag.evidence["revised_value"] == pytest.approx(718.80683)
    assert "870 -> 718.807" in flag.reason
    assert scoring_calls == scored


def test_final_no_contradicted_by_a_late_result_is_flagged_not_flipped():
    question = milestone_question(threshold=600)
    with at(GRACE_END):
        evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=48)):
        markets_sweep()
    with at(GRACE_END + dt.timedelta(days=20)):
        late = record(question, "late", 900.0, achieved_on=dt.date(2026, 11, 1))
    question.refresh_from_db()
    assert question.needs_review is True
    assert question.resolutions.get(state=State.FINAL).outcome == Resolution.Outcome.NO
    flag = question.audit.get(action=Action.FLAGGED)
    assert flag.evidence["key"] == f"contradicted:{late.pk}"


def test_staff_clear_a_review_flag_with_a_reason(django_user_model):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = milestone_question(threshold=600, needs_review=True)
    with pytest.raises(ResolutionError, match="needs a reason"):
        question_review_clear(question_id=question.pk, user=admin, reason="")
    question_review_clear(question_id=question.pk, user=admin, reason="Still above 600")
    question.refresh_from_db()
    assert question.needs_review is False
    assert question.audit.get(action=Action.REVIEWED).actor == admin
    with pytest.raises(ResolutionError, match="not flagged"):
        question_review_clear(question_id=question.pk, user=admin, reason="again")


# --- The sweep -----------------------------------------------------------------------------


def test_sweep_opens_and_closes_due_questions():
    upcoming = milestone_question(
        status=Question.Status.UPCOMING,
        open_time=dt.datetime(2026, 3, 1, tzinfo=UTC),
        close_time=dt.datetime(2026, 6, 1, tzinfo=UTC),
    )
    closing = milestone_question(close_time=dt.datetime(2026, 3, 5, tzinfo=UTC))
    with at(MARCH):
        report = markets_sweep()
    assert (report.opened, report.closed) == (1, 1)
    upcoming.refresh_from_db()
    closing.refresh_from_db()
    assert (upcoming.status, closing.status) == (Question.Status.OPEN, Question.Status.CLOSED)


def test_sweep_batches_reach_every_question_in_turn():
    first = milestone_question(threshold=600)
    second = milestone_question(threshold=600)
    with at(MARCH):
        feed_ingest(feed="metr", raw=metr_yaml({"m": (700.0, "2026-03-01")}), source="m.yaml")
    with at(MARCH + dt.timedelta(minutes=1)):
        assert markets_sweep(batch=1).evaluated == 1
    with at(MARCH + dt.timedelta(minutes=2)):
        assert markets_sweep(batch=1).evaluated == 1
    assert Resolution.objects.filter(question__in=[first, second]).count() == 2
