"""Finality: a proposal becomes final when its review window passes (the sweep), or when staff
confirm it; staff may reject it (docs/methods.md §8.5). Every transition is compare-and-set on
``state`` under the question lock, so a second run finds the work done."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone

from markets.errors import ResolutionError
from markets.models import AuditRecord, Question, Resolution
from markets.resolution.audit import audit_record
from markets.resolution.milestones import (
    WINDOW_LABEL,
    current_version,
    evidence_for,
    question_evaluate_milestone,
)
from markets.resolution.versions import announce_final, lock_question, status_for

logger = logging.getLogger("markets.resolution.finality")

State = Resolution.State


def _make_final(
    question: Question,
    proposal: Resolution,
    *,
    now: dt.datetime,
    action: str,
    user: Any = None,
    actor_label: str = "",
    reason: str = "",
) -> Resolution | None:
    updated = Resolution.objects.filter(pk=proposal.pk, state=State.PROPOSED).update(
        state=State.FINAL, finalized_at=now
    )
    if updated != 1:
        return None  # confirmed, rejected or withdrawn meanwhile
    proposal.refresh_from_db()
    question.status = status_for(proposal.outcome)
    question.save(update_fields=["status"])
    evidence = proposal.evidence_result
    current = current_version(evidence) if evidence is not None else None
    audit_record(
        question=question,
        resolution=proposal,
        action=action,
        user=user,
        label=actor_label,
        reason=reason or proposal.reason,
        evidence=evidence_for(
            question,
            evidence,
            current_result_id=current.pk if current is not None and current != evidence else None,
        ),
        at=now,
    )
    announce_final(proposal)
    return proposal


def _proposal_for_update(resolution_id: int) -> tuple[Question, Resolution]:
    try:
        question_id = Resolution.objects.values_list("question_id", flat=True).get(pk=resolution_id)
    except Resolution.DoesNotExist:
        raise ResolutionError(f"There is no resolution {resolution_id}.") from None
    question = lock_question(question_id)
    return question, Resolution.objects.select_related("evidence_result").get(pk=resolution_id)


@transaction.atomic
def resolution_finalize(*, resolution_id: int, now: dt.datetime | None = None) -> Resolution | None:
    """Make a proposal final once its review window has passed, if its evidence still holds.

    Returns the final resolution, or None when there is nothing to do (not due, already
    decided, or withdrawn now because the evidence changed).
    """
    now = now or timezone.now()
    try:
        question, proposal = _proposal_for_update(resolution_id)
    except ResolutionError:
        return None
    if proposal.state != State.PROPOSED or proposal.finalizes_at is None:
        return None
    if proposal.finalizes_at > now:
        return None
    if proposal.source == Resolution.Source.RULE and question.has_milestone:
        # A revision may have arrived while the evaluation task was lost: evaluate again first.
        # The rule keeps the proposal if its evidence holds, or withdraws (and re-proposes).
        standing = question_evaluate_milestone(question_id=question.pk, now=now, trigger="finalize")
        if standing is None or standing.pk != proposal.pk:
            return None
    return _make_final(
        question,
        proposal,
        now=now,
        action=AuditRecord.Action.FINALIZED,
        actor_label=WINDOW_LABEL,
        reason=f"No objection within the review window: {proposal.reason}",
    )


def resolutions_finalize_due(*, now: dt.datetime | None = None, batch: int = 200) -> int:
    """Finalize proposals whose review window has passed (bounded batch, oldest first)."""
    now = now or timezone.now()
    ids = list(
        Resolution.objects.filter(state=State.PROPOSED, finalizes_at__lte=now)
        .order_by("finalizes_at", "pk")
        .values_list("pk", flat=True)[:batch]
    )
    finalized = 0
    for resolution_id in ids:
        try:
            if resolution_finalize(resolution_id=resolution_id, now=now) is not None:
                finalized += 1
        except DatabaseError:
            raise
        except Exception:
            logger.exception("finalizing resolution %s failed", resolution_id)
    return finalized


@transaction.atomic
def resolution_confirm(
    *, resolution_id: int, user: Any, reason: str = "", now: dt.datetime | None = None
) -> Resolution:
    """Staff confirm a proposal before its review window ends: it becomes final now."""
    now = now or timezone.now()
    question, proposal = _proposal_for_update(resolution_id)
    if proposal.state != State.PROPOSED:
        raise ResolutionError(
            f"Version {proposal.version} of “{question}” is {proposal.get_state_display().lower()}"
            ", not proposed: there is nothing to confirm."
        )
    final = _make_final(
        question,
        proposal,
        now=now,
        action=AuditRecord.Action.CONFIRMED,
        user=user,
        reason=reason.strip() or f"Confirmed: {proposal.reason}",
    )
    assert final is not None  # the question lock makes the compare-and-set succeed
    return final


@transaction.atomic
def resolution_reject(
    *, resolution_id: int, user: Any, reason: str, now: dt.datetime | None = None
) -> Resolution:
    """Staff reject a proposal. The rule will not propose the same evidence again."""
    now = now or timezone.now()
    if not reason.strip():
        raise ResolutionError("Rejecting a proposed resolution needs a reason.")
    question, proposal = _proposal_for_update(resolution_id)
    updated = Resolution.objects.filter(pk=proposal.pk, state=State.PROPOSED).update(
        state=State.REJECTED
    )
    if updated != 1:
        raise ResolutionError(
            f"Version {proposal.version} of “{question}” is {proposal.get_state_display().lower()}"
            ", not proposed: there is nothing to reject."
        )
    audit_record(
        question=question,
        resolution=proposal,
        action=AuditRecord.Action.REJECTED,
        user=user,
        label="staff",
        reason=reason.strip(),
        evidence=evidence_for(question, proposal.evidence_result),
        at=now,
    )
    proposal.state = State.REJECTED
    return proposal
