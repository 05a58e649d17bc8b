"""Milestone rules: questions that resolve themselves from benchmark results (docs/methods.md §8).

A criterion is (benchmark, comparator, threshold, deadline inclusive, grace days). Over the
*current* results of the benchmark (a revised value replaces the old one; a result its source
no longer publishes, retired by a whole-table snapshot, is not current):

- YES as soon as a result meets the threshold with ``achieved_on`` <= deadline, or, for a result
  without ``achieved_on``, with its qualifying value first seen before :func:`grace_end`.
- NO once ``now`` >= :func:`grace_end` with no qualifying result.

``grace_end`` is the first instant (00:00 UTC) of the day after deadline + grace: "first seen
<= deadline + grace" counts the whole last day, and NO waits until that day is over.

The rule only ever *proposes*. A proposal becomes final when its review window
(``settings.RESOLUTION_REVIEW_HOURS``) has passed and the sweep finalizes it, or earlier when staff
confirm it; staff may reject it. While it is proposed, its evidence is re-checked on every ingest
and sweep: a YES whose result is revised so that it no longer qualifies, or retired, or a NO
contradicted by a qualifying result, is withdrawn (and the rule proposes again from the new
state). Once final, nothing here changes the outcome: a later revision of the evidence, evidence
its source withdrew (retired), or a qualifying result that contradicts a final NO, flags the
question for review (``needs_review`` + a FLAGGED audit record, once per piece of evidence).

Multiple-choice, numeric, date and discrete questions have their own verdicts
(``markets.resolution.typed_rules``, docs/methods.md §8.8–§8.11): the best result as of a date,
the date a threshold is first reached, the organisation holding the best result. The same
proposals, review window, withdrawals and flags apply; a typed proposal holds while the verdict
records the same outcome on the same evidence, and a verdict the rule cannot resolve with (a
value beyond a closed bound, no result, an organisation no option fits) flags the question.

Every function here is safe to run twice, late or concurrently: the question row is locked, and
proposal transitions are compare-and-set on ``state`` under the one-proposed/one-final
constraints, so a second run finds the work done and does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F
from django.utils import timezone

from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    Comparator,
    Question,
    Resolution,
)
from markets.resolution.audit import audit_record
from markets.resolution.organisations import organisation_of
from markets.resolution.typed_rules import (
    Verdict,
    chain_since,
    grace_end,
    outcome_words,
    typed_criterion,
    typed_verdict,
)
from markets.resolution.versions import lock_question, next_version

logger = logging.getLogger("markets.resolution.milestones")

Outcome = Resolution.Outcome
State = Resolution.State
RULE_LABEL = "milestone rule"
WINDOW_LABEL = "review window"
UNSETTLED = (Question.Status.UPCOMING, Question.Status.OPEN, Question.Status.CLOSED)

_VALUE_LOOKUP = {
    Comparator.GE: "value__gte",
    Comparator.GT: "value__gt",
    Comparator.LE: "value__lte",
    Comparator.LT: "value__lt",
}


# --- The rule itself (reads only) ------------------------------------------------------------


def qualifying_since(question: Question, result: BenchmarkResult) -> dt.datetime | None:
    """When the qualifying value of ``result`` was first seen, or None if it does not qualify.

    A revision that keeps the value across the threshold (METR 870 -> 719 against a 600 bar)
    does not restart the clock: walk back the revisions that also met the threshold.
    """
    if not question.milestone_met_by(result.value):
        return None
    return chain_since(result, question.milestone_met_by)


def result_qualifies(question: Question, result: BenchmarkResult) -> bool:
    return _qualifies(question, result, qualifying_since(question, result))


def _qualifies(question: Question, result: BenchmarkResult, since: dt.datetime | None) -> bool:
    """The deadline test, given ``qualifying_since`` (which walks the revisions: compute once)."""
    if since is None:
        return False
    assert question.deadline is not None
    if result.achieved_on is not None:
        return result.achieved_on <= question.deadline
    return since < grace_end(question)


def milestone_verdict(
    question: Question, *, now: dt.datetime, exclude: Iterable[int] = ()
) -> Verdict:
    """Apply the rule to the current results; ``exclude`` holds result ids staff rejected.
    Non-binary questions get their typed verdict (``typed_rules.typed_verdict``)."""
    if question.benchmark_id is None:
        return Verdict(None)
    if not question.is_binary:
        return typed_verdict(question, now=now, exclude=exclude)
    lookup = _VALUE_LOOKUP[Comparator(question.comparator)]
    candidates = (
        BenchmarkResult.objects.filter(
            benchmark_id=question.benchmark_id, is_current=True, **{lookup: question.threshold}
        )
        .exclude(pk__in=list(exclude))
        .select_related("snapshot", "benchmark")
    )
    best: tuple[tuple[Any, ...], BenchmarkResult, dt.datetime] | None = None
    for result in candidates:
        since = qualifying_since(question, result)
        if since is None or not _qualifies(question, result, since):
            continue
        # The earliest achievement is the evidence; ties broken deterministically.
        key = (result.achieved_on or since.date(), since, result.pk)
        if best is None or key < best[0]:
            best = (key, result, since)
    if best is not None:
        return Verdict(Outcome.YES, best[1], best[2])
    if now >= grace_end(question):
        return Verdict(Outcome.NO)
    return Verdict(None)


def current_version(result: BenchmarkResult) -> BenchmarkResult | None:
    """The current row of ``result``'s (benchmark, system): itself unless it was revised."""
    if result.is_current:
        return result
    return (
        BenchmarkResult.objects.filter(
            benchmark_id=result.benchmark_id, system=result.system, is_current=True
        )
        .select_related("benchmark", "snapshot")
        .first()
    )


def retired_version(result: BenchmarkResult) -> BenchmarkResult | None:
    """The retired row of ``result``'s (benchmark, system) when the system has no current row:
    its feed's latest whole-table snapshot no longer has it (``markets.benchmarks.ingest``).
    None while the system has a current row, or was never retired."""
    if result.is_current:
        return None
    if result.is_retired:
        return result
    if current_version(result) is not None:
        return None
    return (
        BenchmarkResult.objects.filter(
            benchmark_id=result.benchmark_id, system=result.system, retired_at__isnull=False
        )
        .select_related("retired_in")
        .order_by("-retired_at", "-pk")
        .first()
    )


def _retirement(result: BenchmarkResult) -> str:
    """Where the source dropped ``result`` (its retired row), for reasons and audit records."""
    snapshot = result.retired_in
    if snapshot is None:
        return "its source no longer has it"
    return (
        f"the {snapshot.feed} snapshot #{snapshot.pk} of {snapshot.fetched_at:%Y-%m-%d} "
        f"({snapshot.source}) no longer has it"
    )


def _rejected_evidence(question: Question) -> set[int]:
    return set(
        question.resolutions.filter(
            state=State.REJECTED, outcome=Outcome.YES, evidence_result__isnull=False
        ).values_list("evidence_result_id", flat=True)
    )


def _flagged(question: Question) -> set[int]:
    """Current results on the question's benchmark that their source flags."""
    if question.benchmark_id is None:
        return set()
    return {
        pk
        for pk, extra in BenchmarkResult.objects.filter(
            benchmark_id=question.benchmark_id, is_current=True
        ).values_list("pk", "extra")
        if (extra or {}).get("flag")
    }


def _flag_reason(question: Question, result: BenchmarkResult) -> str:
    return (
        f"A flagged result would meet {_criterion(question)}: {_describe(question, result)} — "
        f"{result.flag}. Staff review it instead of an automatic proposal."
    )


def _benchmark(question: Question) -> Benchmark:
    assert question.benchmark is not None, "only milestone questions get here"
    return question.benchmark


def _describe(question: Question, result: BenchmarkResult) -> str:
    when = (
        f"achieved {result.achieved_on:%Y-%m-%d}"
        if result.achieved_on
        else f"first seen {result.first_seen:%Y-%m-%d %H:%M} UTC, no achievement date"
    )
    return f"{result.system} = {result.value:g} {_benchmark(question).unit} ({when})"


def _criterion(question: Question) -> str:
    if not question.is_binary:
        return typed_criterion(question)
    benchmark = _benchmark(question)
    return (
        f"{benchmark.name} {question.comparator} {question.threshold:g} "
        f"{benchmark.unit} by {question.deadline:%Y-%m-%d} "
        f"(grace {question.grace_days} days)"
    )


def evidence_for(question: Question, result: BenchmarkResult | None, **more: Any) -> dict[str, Any]:
    """The evidence dict of an audit record: the criterion, the result (with its snapshot's
    SHA-256) and ``more`` (empty values dropped). JSON-ready. A non-binary question adds its
    type, its rule in words and its range (continuous) or the result's organisation (multiple
    choice); callers add the verdict in words as ``verdict``."""
    data: dict[str, Any] = {}
    if question.has_milestone:
        data.update(
            benchmark=_benchmark(question).slug,
            comparator=question.comparator,
            threshold=question.threshold,
            deadline=question.deadline.isoformat() if question.deadline else None,
            grace_days=question.grace_days,
        )
        if not question.is_binary:
            data.update(
                type=question.type,
                rule=typed_criterion(question),
                higher_is_better=_benchmark(question).higher_is_better,
            )
            if question.is_continuous:
                data.update(
                    range_min=question.range_min,
                    range_max=question.range_max,
                    open_lower_bound=question.open_lower_bound,
                    open_upper_bound=question.open_upper_bound,
                )
    if result is not None:
        data.update(
            result_id=result.pk,
            system=result.system,
            value=result.value,
            achieved_on=result.achieved_on.isoformat() if result.achieved_on else None,
            first_seen=result.first_seen.isoformat(),
            source_url=result.source_url,
            snapshot_id=result.snapshot_id,
            snapshot_sha256=result.snapshot.sha256 if result.snapshot is not None else None,
            entered_by=result.entered_by_id,
        )
        if question.type == Question.Type.MULTIPLE_CHOICE:
            data["organisation"] = organisation_of(result.system, result.extra)
    data.update({k: v for k, v in more.items() if v not in (None, "")})
    return data


# --- Proposals -------------------------------------------------------------------------------


def _challenge(question: Question, proposal: Resolution, verdict: Verdict) -> str | None:
    """Why a standing proposal no longer holds, or None if it does."""
    if proposal.outcome == Outcome.YES:
        evidence = proposal.evidence_result
        if evidence is None:
            return None
        current = current_version(evidence)
        if current is not None and result_qualifies(question, current):
            return None
        if current is None:
            retired = retired_version(evidence)
            where = _retirement(retired) if retired is not None else "it is not current"
            return (
                f"The evidence {evidence.system} = {evidence.value:g} "
                f"{_benchmark(question).unit} is no longer a current result: {where}."
            )
        return (
            f"The evidence was revised: {evidence.system} {evidence.value:g} -> "
            f"{_describe(question, current)} no longer meets {_criterion(question)}."
        )
    if proposal.outcome == Outcome.NO:
        if verdict.outcome == Outcome.NO:
            return None
        if verdict.outcome == Outcome.YES and verdict.result is not None:
            return f"A qualifying result appeared: {_describe(question, verdict.result)}."
        return "The deadline and grace period have not passed under the current criterion."
    return None


def _withdraw(question: Question, proposal: Resolution, why: str, now: dt.datetime) -> bool:
    updated = Resolution.objects.filter(pk=proposal.pk, state=State.PROPOSED).update(
        state=State.WITHDRAWN
    )
    if updated != 1:
        return False
    evidence = proposal.evidence_result
    current = current_version(evidence) if evidence is not None else None
    audit_record(
        question=question,
        resolution=proposal,
        action=AuditRecord.Action.WITHDRAWN,
        label=RULE_LABEL,
        reason=why,
        evidence=evidence_for(
            question,
            evidence,
            revised_to=current.pk if current is not None and current != evidence else None,
            revised_value=current.value if current is not None and current != evidence else None,
            withdrawn=None if question.is_binary else _proposal_words(question, proposal),
        ),
        at=now,
    )
    logger.info("question %s: proposal v%s withdrawn: %s", question.pk, proposal.version, why)
    return True


def _propose(question: Question, verdict: Verdict, *, now: dt.datetime, trigger: str) -> Resolution:
    result = verdict.result
    assert verdict.outcome is not None
    if not question.is_binary:
        reason = f"Milestone rule, {_criterion(question)}: {verdict.words}."
        known_at = verdict.seen_at if verdict.seen_at is not None else grace_end(question)
    elif verdict.outcome == Outcome.YES:
        assert result is not None and verdict.seen_at is not None
        reason = f"Milestone met: {_describe(question, result)} meets {_criterion(question)}."
        known_at = verdict.seen_at
    else:
        reason = f"No result met {_criterion(question)} by the end of the grace period."
        known_at = grace_end(question)
    # When the truth became known (scoring stops there), never before the question opened and
    # never in the future.
    resolved_at = min(now, max(known_at, question.open_time))
    finalizes_at = now + dt.timedelta(hours=float(settings.RESOLUTION_REVIEW_HOURS))
    proposal = Resolution.objects.create(
        question=question,
        version=next_version(question),
        outcome=verdict.outcome,
        option=verdict.option,
        value=verdict.value,
        state=State.PROPOSED,
        source=Resolution.Source.RULE,
        evidence_result=result,
        evidence_snapshot=result.snapshot if result is not None else None,
        reason=reason,
        resolved_at=resolved_at,
        created_at=now,
        finalizes_at=finalizes_at,
    )
    audit_record(
        question=question,
        resolution=proposal,
        action=AuditRecord.Action.PROPOSED,
        label=RULE_LABEL,
        reason=reason,
        evidence=evidence_for(
            question,
            result,
            trigger=trigger,
            finalizes_at=finalizes_at.isoformat(),
            verdict=verdict.words,
            option=verdict.option,
            resolved_value=verdict.value,
        ),
        at=now,
    )
    logger.info("question %s: proposed %s (v%s)", question.pk, verdict.outcome, proposal.version)
    return proposal


def _flag(
    question: Question,
    resolution: Resolution | None,
    *,
    key: str,
    reason: str,
    evidence: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Flag for review once per piece of evidence (``key``); never touches the outcome."""
    if AuditRecord.objects.filter(
        question=question, action=AuditRecord.Action.FLAGGED, evidence__key=key
    ).exists():
        return False
    Question.objects.filter(pk=question.pk).update(needs_review=True)
    question.needs_review = True
    audit_record(
        question=question,
        resolution=resolution,
        action=AuditRecord.Action.FLAGGED,
        label=RULE_LABEL,
        reason=reason,
        evidence={"key": key, **evidence},
        at=now,
    )
    logger.warning("question %s flagged for review: %s", question.pk, reason)
    return True


def _check_final(question: Question, final: Resolution, *, now: dt.datetime) -> bool:
    """Flag a final resolution whose evidence was revised after it became final, or a final NO
    that a qualifying result now contradicts (typed: a final the rule's verdict now
    contradicts). Returns whether a new flag was raised."""
    flagged = False
    evidence = final.evidence_result
    if evidence is not None and final.finalized_at is not None:
        current = current_version(evidence)
        revised = (
            current is not None
            and current.pk != evidence.pk
            and current.first_seen > final.finalized_at
        )
        if revised and current is not None and not question.is_binary and question.has_milestone:
            flagged |= _flag_typed_revision(question, final, evidence, current, now=now)
        elif revised and current is not None:
            still = question.has_milestone and result_qualifies(question, current)
            flagged |= _flag(
                question,
                final,
                key=f"revised:{current.pk}",
                reason=(
                    f"The evidence of the final {final.get_outcome_display()} resolution was "
                    f"revised: {evidence.system} {evidence.value:g} -> {current.value:g}"
                    + (
                        f"; it {'still meets' if still else 'no longer meets'} "
                        f"{_criterion(question)}."
                        if question.has_milestone
                        else "."
                    )
                ),
                evidence=evidence_for(question, evidence, revised_to=current.pk)
                | {"revised_value": current.value, "still_meets": still},
                now=now,
            )
    retired = retired_version(evidence) if evidence is not None else None
    if evidence is not None and retired is not None:
        # The source withdrew the evidence (a whole-table feed's latest snapshot no longer has
        # it): staff decide whether the final outcome stands.
        flagged |= _flag(
            question,
            final,
            key=f"retired:{retired.pk}",
            reason=(
                f"The evidence of the final {_proposal_words(question, final)} resolution is no "
                f"longer a current result: {evidence.system} = {evidence.value:g}"
                + (f" {_benchmark(question).unit}" if question.has_milestone else "")
                + f"; {_retirement(retired)}."
            ),
            evidence=evidence_for(question, evidence)
            | {
                "retired_result_id": retired.pk,
                "retired_in": retired.retired_in_id,
                "retired_at": retired.retired_at.isoformat() if retired.retired_at else None,
            },
            now=now,
        )
    if not question.is_binary and question.has_milestone:
        flagged |= _check_final_typed(question, final, now=now)
    elif final.outcome == Outcome.NO and question.has_milestone:
        verdict = milestone_verdict(question, now=now, exclude=_rejected_evidence(question))
        if verdict.outcome == Outcome.YES and verdict.result is not None:
            flagged |= _flag(
                question,
                final,
                key=f"contradicted:{verdict.result.pk}",
                reason=(
                    f"The question resolved NO, but a qualifying result is now recorded: "
                    f"{_describe(question, verdict.result)}."
                ),
                evidence=evidence_for(question, verdict.result),
                now=now,
            )
    return flagged


# --- Typed questions (docs/methods.md §8.8–§8.11) ----------------------------------------------


def _proposal_words(question: Question, resolution: Resolution) -> str:
    """A resolution's outcome in words: "YES" style for yes/no, the typed outcome otherwise."""
    if question.is_binary:
        return resolution.get_outcome_display()
    return outcome_words(question, resolution.outcome, resolution.option, resolution.value)


def _same_decision(resolution: Resolution, verdict: Verdict) -> bool:
    return (resolution.outcome, resolution.option, resolution.value) == (
        verdict.outcome,
        verdict.option,
        verdict.value,
    )


def _rejected_typed(question: Question) -> set[int]:
    """Evidence of every rejected rule proposal of a typed question: never proposed again."""
    return set(
        question.resolutions.filter(
            state=State.REJECTED, source=Resolution.Source.RULE, evidence_result__isnull=False
        ).values_list("evidence_result_id", flat=True)
    )


def _challenge_typed(question: Question, proposal: Resolution, verdict: Verdict) -> str | None:
    """Why a typed proposal no longer holds, or None: it holds while the verdict records the
    same outcome on the same evidence (the current version of the proposal's result)."""
    evidence = proposal.evidence_result
    current = current_version(evidence) if evidence is not None else None
    same_evidence = (
        verdict.result is None
        if evidence is None
        else current is not None and verdict.result is not None and verdict.result.pk == current.pk
    )
    if _same_decision(proposal, verdict) and same_evidence:
        return None
    now_says = (
        f"the rule now gives {verdict.words}"
        if verdict.outcome is not None
        else "the rule reaches no verdict now"
    )
    was = _proposal_words(question, proposal)
    if evidence is not None and current is None:
        retired = retired_version(evidence)
        where = _retirement(retired) if retired is not None else "it is not current"
        return (
            f"The evidence of the proposed {was}, {evidence.system} = {evidence.value:g} "
            f"{_benchmark(question).unit}, is no longer a current result: {where}; {now_says}."
        )
    if evidence is not None and current is not None and current.pk != evidence.pk:
        return (
            f"The evidence of the proposed {was} was revised: {evidence.system} "
            f"{evidence.value:g} -> {_describe(question, current)}; {now_says}."
        )
    return f"The proposed {was} no longer holds under {_criterion(question)}: {now_says}."


def _flag_typed_revision(
    question: Question,
    final: Resolution,
    evidence: BenchmarkResult,
    current: BenchmarkResult,
    *,
    now: dt.datetime,
) -> bool:
    """Flag a typed final whose evidence was revised after finality, saying what the rule
    gives now."""
    verdict = milestone_verdict(question, now=now, exclude=_rejected_typed(question))
    holds = verdict.outcome is not None and _same_decision(final, verdict)
    now_says = verdict.words if verdict.outcome is not None else "no verdict"
    return _flag(
        question,
        final,
        key=f"revised:{current.pk}",
        reason=(
            f"The evidence of the final {_proposal_words(question, final)} resolution was "
            f"revised: {evidence.system} {evidence.value:g} -> {current.value:g}; the rule now "
            f"gives {now_says}" + (" (the same outcome)." if holds else ".")
        ),
        evidence=evidence_for(question, evidence, revised_to=current.pk)
        | {"revised_value": current.value, "still_holds": holds, "verdict_now": now_says},
        now=now,
    )


def _check_final_typed(question: Question, final: Resolution, *, now: dt.datetime) -> bool:
    """Flag a typed final that the rule's current verdict contradicts (another outcome, option
    or value), unless a revision of its own evidence explains it (flagged as a revision)."""
    verdict = milestone_verdict(question, now=now, exclude=_rejected_typed(question))
    if verdict.outcome is None or _same_decision(final, verdict):
        return False
    evidence = final.evidence_result
    if evidence is not None and verdict.result is not None:
        current = current_version(evidence)
        if current is not None and current.pk == verdict.result.pk and current.pk != evidence.pk:
            return False  # the revision flag covers it
    result_key = verdict.result.pk if verdict.result is not None else "none"
    return _flag(
        question,
        final,
        key=f"contradicted:{result_key}:{verdict.outcome}:{verdict.option}:{verdict.value}",
        reason=(
            f"The question resolved {_proposal_words(question, final)}, but the rule now gives "
            f"{verdict.words}."
        ),
        evidence=evidence_for(question, verdict.result, verdict=verdict.words),
        now=now,
    )


def _evaluate_typed(
    question: Question, proposal: Resolution | None, *, now: dt.datetime, trigger: str
) -> Resolution | None:
    """``question_evaluate_milestone`` for a typed question (unsettled, no final): propose,
    keep or withdraw (and re-propose) as for yes/no; a flagged result that would change the
    verdict, or a verdict the rule cannot resolve with (a problem), flags the question for
    staff and withdraws any standing proposal."""
    rejected = _rejected_typed(question)
    verdict = milestone_verdict(question, now=now, exclude=rejected | _flagged(question))
    with_flagged = milestone_verdict(question, now=now, exclude=rejected)
    culprit = with_flagged.result
    if with_flagged.decision != verdict.decision and culprit is not None and culprit.flag:
        reason = (
            f"A flagged result would change the verdict of {_criterion(question)} to "
            f"{with_flagged.words or 'no verdict'}: {_describe(question, culprit)} — "
            f"{culprit.flag}. Staff review it instead of an automatic proposal."
        )
        if proposal is not None:
            _withdraw(question, proposal, reason, now)
        _flag(
            question,
            None,
            key=f"flagged-result:{culprit.pk}",
            reason=reason,
            evidence=evidence_for(question, culprit, flag=culprit.flag, verdict=with_flagged.words),
            now=now,
        )
        return None
    if verdict.problem:
        if proposal is not None:
            _withdraw(question, proposal, verdict.problem, now)
        _flag(
            question,
            None,
            key=verdict.problem_key,
            reason=verdict.problem,
            evidence=evidence_for(question, verdict.result, verdict=verdict.words),
            now=now,
        )
        return None
    if proposal is not None:
        why = _challenge_typed(question, proposal, verdict)
        if why is None:
            return proposal
        _withdraw(question, proposal, why, now)
    if verdict.outcome is None:
        return None
    if (
        verdict.result is None
        and question.resolutions.filter(
            state=State.REJECTED,
            source=Resolution.Source.RULE,
            evidence_result__isnull=True,
            outcome=verdict.outcome,
            option=verdict.option,
            value=verdict.value,
        ).exists()
    ):
        return None  # staff rejected this very verdict: resolving it is theirs now
    return _propose(question, verdict, now=now, trigger=trigger)


@transaction.atomic
def question_evaluate_milestone(
    *, question_id: int, now: dt.datetime | None = None, trigger: str = ""
) -> Resolution | None:
    """Apply the milestone rule to one question; returns its standing proposal or final, if any.

    Unsettled: propose, keep, or withdraw (and re-propose). Final: only flag (see module doc).
    """
    now = now or timezone.now()
    try:
        question = lock_question(question_id)
    except Question.DoesNotExist:
        return None  # deleted since the task was enqueued
    Question.objects.filter(pk=question.pk).update(milestone_checked_at=now)
    if not question.has_milestone:
        return None
    final = question.resolutions.filter(state=State.FINAL).select_related("evidence_result").first()
    if final is not None:
        _check_final(question, final, now=now)
        return final
    if question.is_settled:
        return None
    proposal = (
        question.resolutions.filter(state=State.PROPOSED).select_related("evidence_result").first()
    )
    if not question.is_binary:
        return _evaluate_typed(question, proposal, now=now, trigger=trigger)
    rejected = _rejected_evidence(question)
    verdict = milestone_verdict(question, now=now, exclude=rejected | _flagged(question))
    if verdict.outcome != Outcome.YES:
        # A result the source flags (known leakage…) that would qualify is not evidence the
        # rule may act on: staff decide. No proposal (a NO would contradict it) until they do.
        flagged = milestone_verdict(question, now=now, exclude=rejected)
        if flagged.outcome == Outcome.YES and flagged.result is not None:
            reason = _flag_reason(question, flagged.result)
            if proposal is not None:
                _withdraw(question, proposal, reason, now)
            _flag(
                question,
                None,
                key=f"flagged-result:{flagged.result.pk}",
                reason=reason,
                evidence=evidence_for(question, flagged.result, flag=flagged.result.flag),
                now=now,
            )
            return None
    if proposal is not None:
        why = _challenge(question, proposal, verdict)
        if why is None:
            return proposal
        _withdraw(question, proposal, why, now)
    if verdict.outcome is None:
        return None
    if (
        verdict.outcome == Outcome.NO
        and question.resolutions.filter(
            state=State.REJECTED, outcome=Outcome.NO, source=Resolution.Source.RULE
        ).exists()
    ):
        return None  # staff rejected the rule's NO: resolving it is theirs now
    return _propose(question, verdict, now=now, trigger=trigger)


def milestones_evaluate_due(*, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Evaluate unsettled milestone questions, least recently checked first (bounded batch)."""
    now = now or timezone.now()
    ids = list(
        Question.objects.filter(benchmark__isnull=False, status__in=UNSETTLED)
        .order_by(F("milestone_checked_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:batch]
    )
    for question_id in ids:
        try:
            question_evaluate_milestone(question_id=question_id, now=now, trigger="sweep")
        except DatabaseError:
            raise  # the task retries the sweep
        except Exception:
            logger.exception("milestone evaluation of question %s failed", question_id)
    return len(ids)


def milestones_after_results(
    *, benchmark_ids: Iterable[int], now: dt.datetime, trigger: str, limit: int = 1000
) -> list[int]:
    """Called inside the transaction that added or revised results of ``benchmark_ids``.

    Flags final questions at once (so a lost task cannot lose a flag) and returns the ids of
    the unsettled questions on those benchmarks, for the caller to evaluate after commit
    (``markets.tasks.on_results_changed`` enqueues one ``evaluate_question_task`` each).
    """
    benchmark_ids = list(benchmark_ids)
    questions = Question.objects.filter(benchmark_id__in=benchmark_ids)
    final_ids = list(
        questions.filter(resolutions__state=State.FINAL).values_list("pk", flat=True)[:limit]
    )
    for question_id in final_ids:
        question = lock_question(question_id)
        final = question.resolutions.filter(state=State.FINAL).first()
        if final is not None:
            _check_final(question, final, now=now)
    pending = list(
        questions.filter(status__in=UNSETTLED).order_by("pk").values_list("pk", flat=True)[:limit]
    )
    return pending
