"""Question lifecycle and resolution workflows.

Resolutions are versions: a change creates a new version and supersedes the old one, and every
change writes an AuditRecord. Scoring is enqueued after commit, keyed by the resolution id, so a
stale task for an older version finds its resolution no longer final and does nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from markets.errors import ResolutionError
from markets.models import AuditRecord, Question, Resolution

Outcome = Resolution.Outcome
State = Resolution.State


def actor_or_none(user: Any) -> Any:
    """The user to record as the actor of a change: None for the system or an anonymous user."""
    return user if getattr(user, "is_authenticated", False) else None


def _lock(question_id: int) -> Question:
    return Question.objects.select_for_update(of=("self",)).get(pk=question_id)


def _next_version(question: Question) -> int:
    current = question.resolutions.aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def _status_for(outcome: str) -> str:
    return Question.Status.ANNULLED if outcome == Outcome.ANNULLED else Question.Status.RESOLVED


def schedule_scoring(resolution: Resolution) -> None:
    from scoring.tasks import question_score_task

    question_score_task.delay_on_commit(resolution.question_id, resolution.pk)


@transaction.atomic
def question_resolve(
    *,
    question_id: int,
    outcome: str,
    reason: str = "",
    user: Any = None,
    source: str = Resolution.Source.MANUAL,
    resolved_at: dt.datetime | None = None,
    actor_label: str = "",
) -> Resolution:
    """Resolve (or re-resolve) a question with a final outcome, superseding what was there."""
    if outcome not in Outcome.values:
        raise ResolutionError(
            f"Unknown outcome {outcome!r}: use one of {', '.join(Outcome.values)}."
        )
    question = _lock(question_id)
    now = timezone.now()
    previous = question.resolutions.filter(state=State.FINAL).first()
    if previous is not None and previous.outcome == outcome and source == Resolution.Source.IMPORT:
        return previous  # re-importing the same file changes nothing
    if previous is not None and not reason.strip():
        raise ResolutionError("Re-resolving a resolved question needs a reason.")
    if previous is not None:
        Resolution.objects.filter(pk=previous.pk, state=State.FINAL).update(state=State.SUPERSEDED)
    Resolution.objects.filter(question=question, state=State.PROPOSED).update(
        state=State.SUPERSEDED
    )
    resolution = Resolution.objects.create(
        question=question,
        version=_next_version(question),
        outcome=outcome,
        state=State.FINAL,
        source=source,
        decided_by=actor_or_none(user),
        reason=reason.strip(),
        resolved_at=resolved_at or now,
        created_at=now,
        finalized_at=now,
    )
    question.status = _status_for(outcome)
    question.needs_review = False
    question.save(update_fields=["status", "needs_review"])
    if source == Resolution.Source.IMPORT:
        action = AuditRecord.Action.IMPORTED
    elif previous is not None:
        action = AuditRecord.Action.RERESOLVED
    else:
        action = AuditRecord.Action.RESOLVED
    AuditRecord.objects.create(
        question=question,
        resolution=resolution,
        action=action,
        actor=resolution.decided_by,
        actor_label=actor_label or ("" if resolution.decided_by else source),
        reason=resolution.reason,
        evidence={"previous_version": previous.version, "previous_outcome": previous.outcome}
        if previous
        else {},
        at=now,
    )
    schedule_scoring(resolution)
    return resolution


def questions_open_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Move upcoming questions whose open time has come to open (compare-and-set)."""
    now = now or timezone.now()
    ids = list(
        Question.objects.filter(status=Question.Status.UPCOMING, open_time__lte=now)
        .order_by("open_time")
        .values_list("id", flat=True)[:batch]
    )
    return Question.objects.filter(
        pk__in=ids, status=Question.Status.UPCOMING, close_time__gt=now
    ).update(status=Question.Status.OPEN)


def questions_close_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Close questions past their close time, in bounded batches, compare-and-set."""
    now = now or timezone.now()
    ids = list(
        Question.objects.filter(
            status__in=[Question.Status.UPCOMING, Question.Status.OPEN], close_time__lte=now
        )
        .order_by("close_time")
        .values_list("id", flat=True)[:batch]
    )
    closed = 0
    for qid in ids:
        with transaction.atomic():
            updated = Question.objects.filter(
                pk=qid, status__in=[Question.Status.UPCOMING, Question.Status.OPEN]
            ).update(status=Question.Status.CLOSED)
            if updated:
                AuditRecord.objects.create(
                    question_id=qid, action=AuditRecord.Action.CLOSED, actor_label="sweep", at=now
                )
                closed += 1
    return closed


@transaction.atomic
def question_review_clear(*, question_id: int, user: Any, reason: str) -> Question:
    """Staff looked at a flagged question and keep its resolution as it is."""
    if not reason.strip():
        raise ResolutionError("Clearing a review flag needs a reason.")
    question = _lock(question_id)
    updated = Question.objects.filter(pk=question.pk, needs_review=True).update(needs_review=False)
    if updated != 1:
        raise ResolutionError(f"“{question}” is not flagged for review.")
    actor = actor_or_none(user)
    AuditRecord.objects.create(
        question=question,
        resolution=question.resolutions.filter(state=State.FINAL).first(),
        action=AuditRecord.Action.REVIEWED,
        actor=actor,
        actor_label="" if actor else "staff",
        reason=reason.strip(),
    )
    question.needs_review = False
    return question


@dataclass(frozen=True)
class SweepReport:
    opened: int
    closed: int
    evaluated: int
    finalized: int


def markets_sweep(*, now: dt.datetime | None = None, batch: int = 200) -> SweepReport:
    """One periodic pass: open and close due questions, evaluate milestone questions, finalize
    proposals whose review window has passed. Every step is a bounded batch and idempotent, so
    overlapping or repeated sweeps are harmless, and a sweep catches whatever a lost task missed.
    """
    from markets.milestones import milestones_evaluate_due, resolutions_finalize_due

    now = now or timezone.now()
    opened = questions_open_due(now=now, batch=batch)
    closed = questions_close_due(now=now, batch=batch)
    # Evaluate before finalizing, so that a revision seen now withdraws a due proposal first.
    evaluated = milestones_evaluate_due(now=now, batch=batch)
    finalized = resolutions_finalize_due(now=now, batch=batch)
    return SweepReport(opened=opened, closed=closed, evaluated=evaluated, finalized=finalized)
