"""Milestone rules for numeric, discrete, date and multiple-choice questions
(docs/methods.md §8.8–§8.10), with time-machine for time.

Numeric default: "the best SWE-bench Verified result as of 2026-06-30", range [50, 90] % with
open bounds, 30 days' grace, so the grace period ends at 2026-07-31 00:00 UTC. Review window:
48 hours, as for yes/no questions (tests/markets/test_milestones.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from markets.benchmarks.ingest import benchmark_result_record, feed_ingest
from markets.models import AuditRecord, Benchmark, BenchmarkResult, Question, Resolution
from markets.resolution.finality import resolution_reject
from markets.resolution.milestones import grace_end, question_evaluate_milestone
from markets.resolution.organisations import (
    option_for,
    organisation_of,
    organisation_of_system,
)
from markets.resolution.sweep import markets_sweep
from tests.factories import QuestionFactory
from tests.markets.conftest import metr_yaml, sample

pytestmark = pytest.mark.django_db

UTC = dt.UTC
State = Resolution.State
Outcome = Resolution.Outcome
Action = AuditRecord.Action
Type = Question.Type
AS_OF = dt.date(2026, 6, 30)
GRACE_END = dt.datetime(2026, 7, 31, tzinfo=UTC)
SWEBENCH = "swebench_leaderboards.2025-12-10.json"


@pytest.fixture(autouse=True)
def review_window(settings):
    settings.RESOLUTION_REVIEW_HOURS = 48


def at(when: dt.datetime):
    return time_machine.travel(when, tick=False)


def unix(day: dt.date) -> float:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UTC).timestamp()


def typed_question(
    kind: str = Type.NUMERIC,
    *,
    slug: str = "swe-bench-verified",
    higher_is_better: bool = True,
    deadline: dt.date | None = AS_OF,
    grace_days: int = 30,
    **kwargs: Any,
) -> Question:
    benchmark, _ = Benchmark.objects.get_or_create(
        slug=slug,
        defaults={"name": slug.upper(), "unit": "%", "higher_is_better": higher_is_better},
    )
    if kind in (Type.NUMERIC, Type.DISCRETE):
        kwargs.setdefault("range_min", 50.0)
        kwargs.setdefault("range_max", 90.0)
        kwargs.setdefault("open_lower_bound", True)
        kwargs.setdefault("open_upper_bound", True)
    kwargs.setdefault("open_time", dt.datetime(2025, 1, 1, tzinfo=UTC))
    kwargs.setdefault("close_time", dt.datetime(2026, 6, 30, 23, 59, tzinfo=UTC))
    return QuestionFactory(
        type=kind, benchmark=benchmark, deadline=deadline, grace_days=grace_days, **kwargs
    )


def date_question(**kwargs: Any) -> Question:
    """The date on which the benchmark first reaches >= 80 %, range 2026-01-01 … 2026-12-31."""
    kwargs.setdefault("range_min", unix(dt.date(2026, 1, 1)))
    kwargs.setdefault("range_max", unix(dt.date(2026, 12, 31)))
    kwargs.setdefault("open_lower_bound", True)
    kwargs.setdefault("open_upper_bound", True)
    return typed_question(Type.DATE, comparator=">=", threshold=80.0, deadline=None, **kwargs)


def mc_question(options: list[str] | None = None, **kwargs: Any) -> Question:
    return typed_question(
        Type.MULTIPLE_CHOICE,
        options=options or ["Anthropic", "OpenAI", "Google", "Other"],
        **kwargs,
    )


def evaluate(question: Question) -> Resolution | None:
    return question_evaluate_milestone(question_id=question.pk, trigger="test")


def record(
    question: Question,
    system: str,
    value: float,
    achieved_on: dt.date | None = None,
    **extra: Any,
) -> BenchmarkResult:
    result, _ = benchmark_result_record(
        benchmark_id=question.benchmark_id,
        system=system,
        value=value,
        achieved_on=achieved_on,
        extra=extra,
    )
    return result


def actions(question: Question) -> list[str]:
    return list(question.audit.order_by("at", "pk").values_list("action", flat=True))


def flags(question: Question) -> list[AuditRecord]:
    return list(question.audit.filter(action=Action.FLAGGED).order_by("pk"))


# --- Numeric --------------------------------------------------------------------------------


def test_numeric_proposes_the_best_result_as_of_the_date_with_its_evidence(scoring_calls):
    question = typed_question()
    assert grace_end(question) == GRACE_END
    with at(dt.datetime(2026, 7, 10, tzinfo=UTC)):
        record(question, "model-a", 70.0, dt.date(2026, 3, 1))
        best = record(question, "model-b", 75.0, dt.date(2026, 6, 30))
        record(question, "model-c", 80.0, dt.date(2026, 7, 1))  # a day after the as-of date
        assert evaluate(question) is None  # not decided before the grace period ends
    with at(GRACE_END):
        proposal = evaluate(question)

    assert proposal is not None
    assert (proposal.outcome, proposal.value, proposal.option) == (Outcome.VALUE, 75.0, None)
    assert (proposal.state, proposal.source) == (State.PROPOSED, Resolution.Source.RULE)
    assert proposal.evidence_result == best
    assert proposal.resolved_at == GRACE_END
    assert proposal.finalizes_at == GRACE_END + dt.timedelta(hours=48)
    assert "value 75 %" in proposal.reason and "model-b = 75 %" in proposal.reason
    assert "best (highest)" in proposal.reason
    audit = question.audit.get()
    assert (audit.action, audit.who) == (Action.PROPOSED, "milestone rule")
    assert audit.evidence["type"] == "numeric"
    assert audit.evidence["result_id"] == best.pk
    assert audit.evidence["resolved_value"] == 75.0
    assert audit.evidence["verdict"].startswith("value 75 %")
    assert audit.evidence["range_min"] == 50.0
    question.refresh_from_db()
    assert question.status == Question.Status.OPEN
    assert scoring_calls == []


def test_numeric_review_window_finalizes_and_is_idempotent(scoring_calls):
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        markets_sweep()
    proposal = Resolution.objects.get(question=question)
    assert proposal.state == State.PROPOSED
    with at(GRACE_END + dt.timedelta(hours=47)):
        assert markets_sweep().finalized == 0
    with at(GRACE_END + dt.timedelta(hours=48)):
        assert markets_sweep().finalized == 1
    with at(GRACE_END + dt.timedelta(hours=49)):
        assert markets_sweep().finalized == 0
        assert evaluate(question) == proposal
    proposal.refresh_from_db()
    assert (proposal.state, proposal.value) == (State.FINAL, 75.0)
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    assert actions(question) == [Action.CLOSED, Action.PROPOSED, Action.FINALIZED]
    assert question.audit.last().who == "review window"
    assert scoring_calls == [(question.pk, proposal.pk)]


def test_numeric_lowest_wins_when_lower_is_better():
    question = typed_question(slug="error-rate", higher_is_better=False)
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "a", 70.0, dt.date(2026, 3, 1))
        low = record(question, "b", 60.0, dt.date(2026, 4, 1))
    with at(GRACE_END):
        proposal = evaluate(question)
    assert (proposal.value, proposal.evidence_result) == (60.0, low)
    assert "best (lowest)" in proposal.reason


def test_undated_result_counts_when_first_seen_within_the_grace_period():
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "dated", 70.0, dt.date(2026, 5, 1))
    with at(GRACE_END - dt.timedelta(minutes=1)):
        inside = record(question, "undated-inside", 72.0)
    with at(GRACE_END):
        record(question, "undated-late", 88.0)  # first seen when the grace period is over
        proposal = evaluate(question)
    assert (proposal.value, proposal.evidence_result) == (72.0, inside)
    assert "no achievement date" in proposal.reason


def test_revising_an_undated_result_keeps_its_first_seen_clock():
    question = typed_question()
    with at(dt.datetime(2026, 7, 20, tzinfo=UTC)):
        record(question, "undated", 74.0)
    with at(GRACE_END + dt.timedelta(days=3)):  # corrected after the grace period
        corrected = record(question, "undated", 73.0)
        proposal = evaluate(question)
    assert (proposal.value, proposal.evidence_result) == (73.0, corrected)


def test_revised_best_value_withdraws_and_reproposes_during_the_window(scoring_calls):
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-a", 70.0, dt.date(2026, 3, 1))
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        first = evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=5)):
        revised = record(question, "model-b", 72.0, dt.date(2026, 5, 1))
        second = evaluate(question)

    first.refresh_from_db()
    assert first.state == State.WITHDRAWN
    assert (second.state, second.version, second.value) == (State.PROPOSED, 2, 72.0)
    assert second.evidence_result == revised
    assert actions(question) == [Action.PROPOSED, Action.WITHDRAWN, Action.PROPOSED]
    withdrawn = question.audit.get(action=Action.WITHDRAWN)
    assert "model-b 75 -> model-b = 72 %" in withdrawn.reason
    assert "the rule now gives value 72 %" in withdrawn.reason
    assert withdrawn.evidence["revised_value"] == 72.0
    assert withdrawn.evidence["withdrawn"] == "value 75 %"

    with at(GRACE_END + dt.timedelta(hours=6)):  # the best falls behind another system
        record(question, "model-b", 65.0, dt.date(2026, 5, 1))
        third = evaluate(question)
    assert (third.version, third.value, third.evidence_result.system) == (3, 70.0, "model-a")
    with at(GRACE_END + dt.timedelta(hours=60)):
        markets_sweep()
    third.refresh_from_db()
    assert third.state == State.FINAL
    assert scoring_calls == [(question.pk, third.pk)]


def test_revision_missed_by_the_tasks_is_caught_before_finalizing():
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        proposal = evaluate(question)
        record(question, "model-b", 71.0, dt.date(2026, 5, 1))  # no evaluation follows
    with at(GRACE_END + dt.timedelta(hours=48)):
        markets_sweep()
    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN
    assert question.resolutions.get(state=State.PROPOSED).value == 71.0


def test_revision_after_finality_flags_the_question_and_never_flips_it(scoring_calls):
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=48)):
        markets_sweep()
    final = question.resolutions.get(state=State.FINAL)
    scored = list(scoring_calls)
    with at(GRACE_END + dt.timedelta(days=10)):
        record(question, "model-b", 72.0, dt.date(2026, 5, 1))
        evaluate(question)
        markets_sweep()

    question.refresh_from_db()
    assert (question.needs_review, question.status) == (True, Question.Status.RESOLVED)
    final.refresh_from_db()
    assert (final.state, final.value) == (State.FINAL, 75.0)
    assert question.resolutions.count() == 1
    [flag] = flags(question)  # once, however often evaluated
    assert flag.resolution == final
    assert "final value 75 % resolution was revised: model-b 75 -> 72" in flag.reason
    assert flag.evidence["still_holds"] is False
    assert flag.evidence["verdict_now"].startswith("value 72 %")
    assert scoring_calls == scored


def test_a_late_result_that_beats_a_final_value_is_flagged_not_flipped():
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=48)):
        markets_sweep()
    with at(GRACE_END + dt.timedelta(days=20)):
        late = record(question, "late", 81.0, dt.date(2026, 6, 15))
        record(question, "after", 85.0, dt.date(2026, 7, 15))  # after the as-of date: ignored
    question.refresh_from_db()
    assert question.needs_review is True
    assert question.resolutions.get(state=State.FINAL).value == 75.0
    [flag] = flags(question)
    assert flag.evidence["key"].startswith(f"contradicted:{late.pk}:value")
    assert "resolved value 75 %, but the rule now gives value 81 %" in flag.reason


def test_retired_evidence_withdraws_during_the_window_and_flags_after_final():
    """METR publishes its whole table: a system missing from the next file is retired."""
    question = typed_question(slug="metr-p50", range_min=0.0, range_max=2000.0)
    both = metr_yaml({"best": (900.0, "2026-05-01"), "second": (700.0, "2026-04-01")})
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        feed_ingest(feed="metr", raw=both, source="both.yaml")
    with at(GRACE_END):
        first = evaluate(question)
    assert first.value == 900.0
    with at(GRACE_END + dt.timedelta(hours=1)):
        feed_ingest(feed="metr", raw=metr_yaml({"second": (700.0, "2026-04-01")}), source="b")
        second = evaluate(question)
    first.refresh_from_db()
    assert first.state == State.WITHDRAWN
    withdrawn = question.audit.get(action=Action.WITHDRAWN)
    assert "is no longer a current result" in withdrawn.reason
    assert "the rule now gives value 700 %" in withdrawn.reason
    assert second.value == 700.0
    with at(GRACE_END + dt.timedelta(hours=60)):
        markets_sweep()
    second.refresh_from_db()
    assert second.state == State.FINAL
    with at(GRACE_END + dt.timedelta(days=5)):
        feed_ingest(feed="metr", raw=metr_yaml({"third": (650.0, "2026-04-01")}), source="c")
    question.refresh_from_db()
    assert question.needs_review is True
    assert second.evidence_result.system == "second"
    keys = [f.evidence["key"] for f in flags(question)]
    assert keys[0].startswith("retired:")
    assert "final value 700 % resolution is no longer a current result" in (
        flags(question)[0].reason
    )
    assert question.resolutions.get(state=State.FINAL).value == 700.0


def test_a_value_beyond_an_open_bound_resolves_below_or_above():
    above = typed_question()
    below = typed_question(slug="other-bench")
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(above, "strong", 95.0, dt.date(2026, 5, 1))
        record(below, "weak", 42.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        high, low = evaluate(above), evaluate(below)
    assert (high.outcome, high.value) == (Outcome.ABOVE, None)
    assert (low.outcome, low.value) == (Outcome.BELOW, None)
    assert "below the range (under 50 %): 42 %" in low.reason
    assert "above the range (over 90 %): 95 %" in high.reason
    assert high.evidence_result.system == "strong"


def test_a_value_beyond_a_closed_bound_is_flagged_for_staff_not_proposed():
    question = typed_question(open_upper_bound=False)
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        strong = record(question, "strong", 95.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        assert evaluate(question) is None
        assert evaluate(question) is None
    assert not question.resolutions.exists()
    question.refresh_from_db()
    assert question.needs_review is True
    [flag] = flags(question)
    assert flag.evidence["key"] == f"closed-bound:{strong.pk}"
    assert "upper bound 90 % is closed" in flag.reason


def test_no_result_by_the_as_of_date_is_flagged_for_staff():
    question = typed_question()
    with at(GRACE_END):
        assert evaluate(question) is None
    [flag] = flags(question)
    assert flag.evidence["key"] == "no-result"


def test_a_flagged_result_that_would_change_the_value_goes_to_staff():
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "clean", 70.0, dt.date(2026, 5, 1))
        leaky = record(question, "leaky", 80.0, dt.date(2026, 5, 2), flag="known leakage")
    with at(GRACE_END):
        assert evaluate(question) is None
    [flag] = flags(question)
    assert flag.evidence["key"] == f"flagged-result:{leaky.pk}"
    assert "known leakage" in flag.reason


def test_rejected_evidence_is_not_proposed_again(django_user_model):
    admin = django_user_model.objects.create_user("admin", is_staff=True)
    question = typed_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "model-a", 70.0, dt.date(2026, 3, 1))
        record(question, "model-b", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        proposal = evaluate(question)
        resolution_reject(resolution_id=proposal.pk, user=admin, reason="Not a real run")
        again = evaluate(question)
    assert (again.value, again.evidence_result.system) == (70.0, "model-a")


def test_discrete_questions_take_the_same_rule():
    question = typed_question(Type.DISCRETE, range_min=-0.5, range_max=10.5)
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "a", 3.0, dt.date(2026, 3, 1))
        record(question, "b", 7.0, dt.date(2026, 4, 1))
    with at(GRACE_END):
        proposal = evaluate(question)
        assert evaluate(question) == proposal
    assert (proposal.outcome, proposal.value) == (Outcome.VALUE, 7.0)
    assert question.resolutions.count() == 1


# --- Date -----------------------------------------------------------------------------------

DATE_GRACE_END = dt.datetime(2027, 1, 31, tzinfo=UTC)  # 2026-12-31 + 30 days, next midnight


def test_date_is_proposed_as_soon_as_the_threshold_is_reached():
    question = date_question()
    assert grace_end(question) == DATE_GRACE_END
    seen = dt.datetime(2026, 5, 20, 9, tzinfo=UTC)
    with at(seen):
        record(question, "below", 79.0, dt.date(2026, 4, 1))
        assert evaluate(question) is None
        reached = record(question, "reached", 82.0, dt.date(2026, 5, 10))
        proposal = evaluate(question)
    assert (proposal.outcome, proposal.value) == (Outcome.VALUE, unix(dt.date(2026, 5, 10)))
    assert proposal.evidence_result == reached
    assert proposal.resolved_at == seen  # when it became known
    assert "value 2026-05-10" in proposal.reason
    assert "first reaches >= 80 %" in proposal.reason
    audit = question.audit.get()
    assert audit.evidence["type"] == "date"
    assert audit.evidence["resolved_value"] == unix(dt.date(2026, 5, 10))


def test_undated_result_gives_the_instant_it_was_first_seen():
    question = date_question()
    seen = dt.datetime(2026, 8, 3, 14, 30, tzinfo=UTC)
    with at(seen):
        record(question, "undated", 85.0)
        proposal = evaluate(question)
    assert proposal.value == seen.timestamp()
    assert "value 2026-08-03 14:30 UTC" in proposal.reason


def test_an_earlier_date_found_later_withdraws_and_reproposes():
    question = date_question()
    with at(dt.datetime(2026, 5, 20, tzinfo=UTC)):
        record(question, "first", 82.0, dt.date(2026, 5, 10))
        first = evaluate(question)
    with at(dt.datetime(2026, 5, 21, tzinfo=UTC)):
        record(question, "earlier", 80.5, dt.date(2026, 4, 2))
        second = evaluate(question)
    first.refresh_from_db()
    assert first.state == State.WITHDRAWN
    assert (second.value, second.version) == (unix(dt.date(2026, 4, 2)), 2)
    assert (
        "the rule now gives value 2026-04-02" in question.audit.get(action=Action.WITHDRAWN).reason
    )


def test_date_revision_below_the_threshold_withdraws():
    question = date_question()
    with at(dt.datetime(2026, 5, 20, tzinfo=UTC)):
        record(question, "m", 82.0, dt.date(2026, 5, 10))
        proposal = evaluate(question)
    with at(dt.datetime(2026, 5, 21, tzinfo=UTC)):
        record(question, "m", 78.0, dt.date(2026, 5, 10))
        assert evaluate(question) is None
    proposal.refresh_from_db()
    assert proposal.state == State.WITHDRAWN
    assert "the rule reaches no verdict now" in question.audit.get(action=Action.WITHDRAWN).reason


def test_reached_before_the_range_resolves_below():
    question = date_question()
    with at(dt.datetime(2026, 2, 1, tzinfo=UTC)):
        record(question, "early", 81.0, dt.date(2025, 12, 15))
        proposal = evaluate(question)
    assert (proposal.outcome, proposal.value) == (Outcome.BELOW, None)
    assert "below the range (before 2026-01-01)" in proposal.reason


def test_not_reached_by_the_end_of_the_range_resolves_above_after_the_grace_period():
    question = date_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "short", 70.0, dt.date(2026, 5, 1))
    with at(DATE_GRACE_END - dt.timedelta(seconds=1)):
        assert evaluate(question) is None
    with at(DATE_GRACE_END):
        proposal = evaluate(question)
    assert (proposal.outcome, proposal.evidence_result) == (Outcome.ABOVE, None)
    assert proposal.resolved_at == DATE_GRACE_END
    assert "no result met the threshold" in proposal.reason


def test_a_dated_result_within_the_range_contradicts_a_final_above():
    question = date_question()
    with at(DATE_GRACE_END):
        evaluate(question)
    with at(DATE_GRACE_END + dt.timedelta(hours=48)):
        markets_sweep()
    with at(DATE_GRACE_END + dt.timedelta(days=5)):
        late = record(question, "late", 90.0, dt.date(2026, 12, 1))
    question.refresh_from_db()
    assert question.needs_review is True
    assert question.resolutions.get(state=State.FINAL).outcome == Outcome.ABOVE
    [flag] = flags(question)
    assert flag.evidence["key"].startswith(f"contradicted:{late.pk}:value")


def test_not_reached_with_a_closed_upper_bound_is_flagged_and_explained():
    question = date_question(open_upper_bound=False)
    with at(DATE_GRACE_END):
        assert evaluate(question) is None
    [flag] = flags(question)
    assert flag.evidence["key"] == "not-reached-closed-bound"
    assert "upper bound 2026-12-31 is closed" in flag.reason


# --- Multiple choice ------------------------------------------------------------------------


def test_multiple_choice_takes_the_organisation_of_the_best_result_from_the_feed():
    """SWE-bench bash-only, real file: Gemini 3 Pro Preview (Org: Google DeepMind, 74.2 %,
    2025-11-18) holds the best result on 2025-11-20; Claude 4.5 Opus (Org: Anthropic, 74.4 %,
    2025-11-24) on 2025-11-30."""
    early = mc_question(slug="swe-bench-bash-only", deadline=dt.date(2025, 11, 20))
    late = mc_question(slug="swe-bench-bash-only", deadline=dt.date(2025, 11, 30))
    with at(dt.datetime(2025, 12, 10, tzinfo=UTC)):
        feed_ingest(feed="swebench", raw=sample(SWEBENCH), source=SWEBENCH)
    with at(dt.datetime(2026, 1, 1, tzinfo=UTC)):
        google, anthropic = evaluate(early), evaluate(late)
    assert (google.outcome, google.option) == (Outcome.OPTION, 2)
    assert google.evidence_result.system.startswith("Gemini 3 Pro Preview")
    assert "option 2 (Google): Google DeepMind holds the best result" in google.reason
    assert anthropic.option == 0
    assert question_audit_evidence(late)["organisation"] == "Anthropic"
    assert question_audit_evidence(late)["option"] == 0


def question_audit_evidence(question: Question) -> dict[str, Any]:
    return question.audit.get(action=Action.PROPOSED).evidence


def test_multiple_choice_maps_names_given_organisations_and_other():
    by_name = mc_question()
    given = mc_question(slug="b2")
    other = mc_question(slug="b3")
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(by_name, "gpt-5_2025_08_07_inspect", 75.0, dt.date(2026, 5, 1))
        record(by_name, "claude_opus_4_6_inspect", 70.0, dt.date(2026, 5, 1))
        record(given, "Some Agent", 75.0, dt.date(2026, 5, 1), organisation="anthropic")
        record(other, "DeepSeek-V3", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        assert evaluate(by_name).option == 1  # OpenAI
        assert evaluate(given).option == 0  # Anthropic, whatever the case
        assert evaluate(other).option == 3  # DeepSeek: "Other"


def test_multiple_choice_without_a_matching_option_or_organisation_is_flagged():
    no_option = mc_question(["Anthropic", "OpenAI"])
    unknown = mc_question(slug="b2")
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        deepseek = record(no_option, "deepseek-r1", 75.0, dt.date(2026, 5, 1))
        mystery = record(unknown, "Mystery Agent", 75.0, dt.date(2026, 5, 1))
    with at(GRACE_END):
        assert evaluate(no_option) is None
        assert evaluate(unknown) is None
    assert [f.evidence["key"] for f in flags(no_option)] == [f"no-option:{deepseek.pk}"]
    assert "DeepSeek, which matches no option" in flags(no_option)[0].reason
    assert [f.evidence["key"] for f in flags(unknown)] == [f"no-organisation:{mystery.pk}"]


def test_multiple_choice_revision_that_changes_the_leader_reproposes():
    question = mc_question()
    with at(dt.datetime(2026, 6, 1, tzinfo=UTC)):
        record(question, "claude-x", 80.0, dt.date(2026, 5, 1))
        record(question, "gemini-y", 78.0, dt.date(2026, 5, 2))
    with at(GRACE_END):
        first = evaluate(question)
    with at(GRACE_END + dt.timedelta(hours=1)):
        record(question, "claude-x", 77.0, dt.date(2026, 5, 1))
        second = evaluate(question)
    first.refresh_from_db()
    assert (first.option, first.state) == (0, State.WITHDRAWN)
    assert (second.option, second.state) == (2, State.PROPOSED)
    assert (
        "the rule now gives option 2 (Google)" in question.audit.get(action=Action.WITHDRAWN).reason
    )


# --- Organisation mapping -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "organisation"),
    [
        ("claude_opus_4_6_inspect", "Anthropic"),  # METR
        ("claude-3-5-sonnet-20240620", "Anthropic"),  # Epoch
        ("Claude 4.5 Opus medium (20251101)", "Anthropic"),  # SWE-bench
        ("gpt_5_2025_08_07_inspect", "OpenAI"),
        ("gpt4o", "OpenAI"),
        ("o1-preview", "OpenAI"),
        ("o3", "OpenAI"),
        ("davinci_002", "OpenAI"),
        ("Gemini 3 Pro Preview (2025-11-18)", "Google DeepMind"),
        ("Llama-3.1-405B", "Meta"),
        ("grok-4", "xAI"),
        ("Qwen3-Coder", "Alibaba"),
        ("claudette", None),
        ("o1x", None),
        ("Mystery Agent", None),
    ],
)
def test_organisation_of_system_names(system, organisation):
    assert organisation_of_system(system) == organisation


def test_organisation_of_prefers_the_feed_then_the_name_then_the_model_tags():
    assert organisation_of("claude-x", {"organisation": "Acme"}) == "Acme"
    assert organisation_of("OpenHands + Claude", {"orgs": ["OpenHands"]}) == "OpenHands"
    assert organisation_of("x", {"orgs": ["Google", "Google DeepMind"]}) == "Google DeepMind"
    assert organisation_of("x", {"orgs": ["Anthropic", "OpenAI"]}) is None  # ambiguous
    assert organisation_of("gemini-2.5-pro", {}) == "Google DeepMind"
    assert organisation_of("TRAE agent", {"models": ["Doubao-Seed-Code"]}) is None
    assert organisation_of("Some agent", {"models": ["claude-sonnet-4", "claude-opus-4"]}) == (
        "Anthropic"
    )
    assert organisation_of("Some agent", {"models": ["claude-sonnet-4", "gpt-5"]}) is None


def test_option_for_matches_labels_aliases_and_other():
    options = ["anthropic", "Google", "Other"]
    assert option_for("Anthropic", options) == 0
    assert option_for("Google DeepMind", options) == 1
    assert option_for("DeepMind", options) == 1
    assert option_for("OpenAI", options) == 2
    assert option_for("OpenAI", ["Anthropic", "Google"]) is None


# --- The question's configuration -------------------------------------------------------------


def test_typed_rules_need_only_their_own_parts():
    typed_question()  # numeric: no comparator or threshold
    date_question()  # date: no deadline
    with pytest.raises(IntegrityError), transaction.atomic():
        QuestionFactory(
            benchmark=Benchmark.objects.get(slug="swe-bench-verified"), deadline=AS_OF
        )  # yes/no without comparator and threshold
    with pytest.raises(IntegrityError), transaction.atomic():
        typed_question(deadline=None)  # numeric without its as-of date
    unsaved = typed_question()
    unsaved.pk, unsaved.key, unsaved.deadline = None, "new", None
    with pytest.raises(ValidationError, match="the deadline \\(its as-of date\\)"):
        unsaved.full_clean()  # what the admin form shows


def test_milestone_text_says_the_typed_rule():
    assert "best (highest) SWE-BENCH-VERIFIED result" in typed_question().milestone_text()
    assert "organisation holding the best" in mc_question().milestone_text()
    text = date_question().milestone_text()
    assert "first achieved" in text and "above the range" in text
