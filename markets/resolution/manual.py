"""Resolution by staff (and by import): resolve, re-resolve, un-resolve, and clear a review
flag."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from config.bulk import bulk_insert_new
from markets.actors import actor_or_none
from markets.errors import ResolutionError
from markets.models import AuditRecord, Conditional, Question, Resolution
from markets.question_types import resolution_detail_validate
from markets.resolution.audit import audit_record
from markets.resolution.conditional import refuse_branch
from markets.resolution.versions import (
    announce_final,
    announce_final_many,
    announce_withdrawn,
    final_resolution,
    lock_question,
    next_version,
    status_for,
    status_unsettled,
)

Outcome = Resolution.Outcome
MANY_BATCH = 5_000  # question ids per statement in questions_resolve_many
State = Resolution.State


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
    option: int | None = None,
    value: float | None = None,
    evidence: dict[str, Any] | None = None,
) -> Resolution:
    """Resolve (or re-resolve) a question with a final outcome, superseding what was there.

    ``outcome`` is a ``Resolution.Outcome`` value; ``resolved_at`` is when the truth became known
    (scoring stops there, docs/methods.md §8.6). Without one, a first resolution takes now and a
    re-resolution keeps the effective time of the version it replaces: correcting the outcome
    does not move when the truth was known. ``evidence`` is added to the audit record's. A
    multiple-choice question resolves with
    ``outcome="option"`` and ``option`` (the index); a continuous one with ``outcome="value"``
    and ``value``, or ``"below"`` / ``"above"`` (``markets.question_types``,
    docs/methods.md §13.4).

    Raises ``ResolutionError`` for an unknown outcome or one that does not fit the question's
    type (an option out of range, a value beyond a closed bound), an effective time before the
    question opened, a re-resolution without a reason, or one that changes nothing (same
    outcome and effective time: no silent new version), or for a conditional's branch unless
    the conditional resolves it (docs/methods.md §14); ``Question.DoesNotExist`` for an
    unknown question. Writes the new final version, supersedes the old final and any proposal,
    records an audit record and announces the final version (scoring follows after commit).
    """
    if outcome not in Outcome.values:
        raise ResolutionError(
            f"Unknown outcome {outcome!r}: use one of {', '.join(Outcome.values)}."
        )
    question = lock_question(question_id)
    refuse_branch(question.pk, source)
    option, value = resolution_detail_validate(question, outcome, option, value)
    now = timezone.now()
    previous = question.resolutions.filter(state=State.FINAL).first()
    same = previous is not None and (previous.outcome, previous.option, previous.value) == (
        outcome,
        option,
        value,
    )
    if previous is not None and same and source == Resolution.Source.IMPORT:
        return previous  # re-importing the same file changes nothing
    if resolved_at is None:
        resolved_at = previous.resolved_at if previous is not None else now
    if resolved_at > now:
        raise ResolutionError(
            "The effective time cannot be in the future: it is when the truth became known."
        )
    if resolved_at < question.open_time:
        raise ResolutionError(
            f"The effective time cannot be before the question opened "
            f"({question.open_time:%Y-%m-%d %H:%M} UTC)."
        )
    if previous is not None and same and previous.resolved_at == resolved_at:
        raise ResolutionError(
            f"“{question}” is already resolved {previous.get_outcome_display()} with that "
            "effective time: nothing to change."
        )
    if previous is not None and not reason.strip():
        raise ResolutionError("Re-resolving a resolved question needs a reason.")
    if previous is not None:
        Resolution.objects.filter(pk=previous.pk, state=State.FINAL).update(state=State.SUPERSEDED)
    Resolution.objects.filter(question=question, state=State.PROPOSED).update(
        state=State.SUPERSEDED
    )
    resolution = Resolution.objects.create(
        question=question,
        version=next_version(question),
        outcome=outcome,
        option=option,
        value=value,
        state=State.FINAL,
        source=source,
        decided_by=actor_or_none(user),
        reason=reason.strip(),
        resolved_at=resolved_at,
        created_at=now,
        finalized_at=now,
    )
    question.status = status_for(outcome)
    question.needs_review = False
    question.save(update_fields=["status", "needs_review"])
    if source == Resolution.Source.IMPORT:
        action = AuditRecord.Action.IMPORTED
    elif previous is not None:
        action = AuditRecord.Action.RERESOLVED
    else:
        action = AuditRecord.Action.RESOLVED
    audit_record(
        question=question,
        resolution=resolution,
        action=action,
        user=resolution.decided_by,
        label=actor_label or source,
        reason=resolution.reason,
        evidence={
            **(
                {"previous_version": previous.version, "previous_outcome": previous.outcome}
                if previous
                else {}
            ),
            **(evidence or {}),
        },
        at=now,
    )
    announce_final(resolution)
    return resolution


@transaction.atomic
def question_unresolve(
    *,
    question_id: int,
    reason: str,
    user: Any = None,
    source: str = Resolution.Source.MANUAL,
    actor_label: str = "",
    evidence: dict[str, Any] | None = None,
) -> Resolution:
    """Withdraw a question's final resolution without a new one: the question is unresolved.

    For a source that no longer resolves the question (an import whose resolution cell is now
    empty) or staff. The final version becomes ``withdrawn`` (versions are never edited or
    deleted); the question's status follows its window again (upcoming, open or closed); an
    ``UNRESOLVED`` audit record names the withdrawn version, and ``resolution_withdrawn`` is
    announced in the transaction, so scoring deletes the question's scores with it (scores
    always belong to the current final resolution) and the leaderboard is rebuilt after commit.
    A milestone question is then evaluated by its rule again (the sweep).

    Returns the withdrawn version. Raises ``ResolutionError`` without a reason or when the
    question has no final resolution (nothing to un-resolve) or is a conditional's branch
    (unless the conditional withdraws it), ``Question.DoesNotExist`` for an unknown question;
    nothing is changed then. ``evidence`` is added to the audit record's.
    """
    if not reason.strip():
        raise ResolutionError("Un-resolving a question needs a reason.")
    question = lock_question(question_id)
    refuse_branch(question.pk, source)
    now = timezone.now()
    final = final_resolution(question)
    if final is None:
        raise ResolutionError(f"“{question}” has no final resolution: nothing to un-resolve.")
    updated = Resolution.objects.filter(pk=final.pk, state=State.FINAL).update(
        state=State.WITHDRAWN
    )
    assert updated == 1, "the question lock serializes resolution writes"
    final.state = State.WITHDRAWN
    question.status = status_unsettled(question, now)
    question.save(update_fields=["status"])
    audit_record(
        question=question,
        resolution=final,
        action=AuditRecord.Action.UNRESOLVED,
        user=user,
        label=actor_label or source,
        reason=reason.strip(),
        evidence={
            "previous_version": final.version,
            "previous_outcome": final.outcome,
            **(evidence or {}),
        },
        at=now,
    )
    announce_withdrawn(final)
    return final


@transaction.atomic
def question_review_clear(*, question_id: int, user: Any, reason: str) -> Question:
    """Staff looked at a flagged question and keep its resolution as it is."""
    if not reason.strip():
        raise ResolutionError("Clearing a review flag needs a reason.")
    question = lock_question(question_id)
    updated = Question.objects.filter(pk=question.pk, needs_review=True).update(needs_review=False)
    if updated != 1:
        raise ResolutionError(f"“{question}” is not flagged for review.")
    audit_record(
        question=question,
        resolution=final_resolution(question),
        action=AuditRecord.Action.REVIEWED,
        user=user,
        label="staff",
        reason=reason.strip(),
    )
    question.needs_review = False
    return question


RESOLUTION_FIELDS = [
    f for f in Resolution._meta.concrete_fields if f is not Resolution._meta.auto_field
]


def _insert_resolutions(new: list[Resolution]) -> None:
    """Write unsaved final versions as plain rows (COPY on PostgreSQL) and give each its id,
    read back by (question, version): no SQL is built per row, as ``bulk_create`` does."""
    bulk_insert_new(
        Resolution,
        [str(f.column) for f in RESOLUTION_FIELDS],
        ([getattr(r, f.attname) for f in RESOLUTION_FIELDS] for r in new),
    )
    wanted = {(r.question_id, r.version): r for r in new}
    ids = [r.question_id for r in new]
    for start in range(0, len(ids), MANY_BATCH):
        for qid, version, pk in Resolution.objects.filter(
            question_id__in=ids[start : start + MANY_BATCH], state=State.FINAL
        ).values_list("question_id", "version", "pk"):
            resolution = wanted.get((qid, version))
            if resolution is not None:
                resolution.pk = pk
                resolution._state.adding = False
                resolution._state.db = "default"


@transaction.atomic
def questions_resolve_many(
    *,
    resolutions: list[tuple[int, str, str, dt.datetime]],
    source: str = Resolution.Source.IMPORT,
    actor_label: str = "",
) -> list[Resolution]:
    """``question_resolve`` for many questions that have no final resolution: a first final
    version each, in a few statements (an import of thousands of questions).

    ``resolutions`` holds (question id, outcome, reason, resolved_at) tuples, one per question.
    For each: the question is locked, any proposal superseded, a final version written (numbered
    after any earlier, superseded or withdrawn, version), the status set (resolved or annulled)
    and the review flag cleared, and an audit record written — ``IMPORTED`` for an import
    source, else ``RESOLVED`` — exactly as ``question_resolve`` writes them. Then
    ``resolutions_finalized`` announces them all at once (scoring scores them in one batch after
    commit).

    Returns the new versions in the given order. Raises ``ResolutionError`` (nothing is
    written) for an unknown outcome, a question given twice or already holding a final
    resolution, a conditional's branch, or an effective time in the future or before the
    question opened; ``Question.DoesNotExist`` for an unknown question.
    """
    if not resolutions:
        return []
    ids = [qid for qid, _, _, _ in resolutions]
    if len(set(ids)) != len(ids):
        raise ResolutionError("A question is given twice: one resolution per question.")
    now = timezone.now()
    questions: dict[int, Question] = {}
    versions: dict[int, int] = {}
    finals: set[int] = set()
    branches: set[int] = set()
    for start in range(0, len(ids), MANY_BATCH):
        batch = sorted(ids[start : start + MANY_BATCH])
        questions.update(
            (q.pk, q)
            for q in Question.objects.select_for_update(of=("self",))
            .filter(pk__in=batch)
            .order_by("pk")
        )
        versions.update(
            Resolution.objects.filter(question_id__in=batch)
            .values("question_id")
            .annotate(v=Max("version"))
            .values_list("question_id", "v")
        )
        finals.update(
            Resolution.objects.filter(question_id__in=batch, state=State.FINAL).values_list(
                "question_id", flat=True
            )
        )
        for pair in Conditional.objects.filter(
            Q(if_yes_id__in=batch) | Q(if_no_id__in=batch)
        ).values_list("if_yes_id", "if_no_id"):
            branches.update(pair)
    new: list[Resolution] = []
    for qid, outcome, reason, resolved_at in resolutions:
        question = questions.get(qid)
        if question is None:
            raise Question.DoesNotExist(f"no question with id {qid}")
        if outcome not in Outcome.values:
            raise ResolutionError(
                f"Unknown outcome {outcome!r}: use one of {', '.join(Outcome.values)}."
            )
        if qid in finals:
            raise ResolutionError(f"“{question}” already has a final resolution.")
        if qid in branches:
            refuse_branch(qid, source)
        if resolved_at > now:
            raise ResolutionError(
                f"“{question}”: the effective time cannot be in the future: it is when the "
                "truth became known."
            )
        if resolved_at < question.open_time:
            raise ResolutionError(
                f"“{question}”: the effective time cannot be before the question opened "
                f"({question.open_time:%Y-%m-%d %H:%M} UTC)."
            )
        new.append(
            Resolution(
                question_id=qid,
                version=versions.get(qid, 0) + 1,
                outcome=outcome,
                state=State.FINAL,
                source=source,
                reason=reason.strip(),
                resolved_at=resolved_at,
                created_at=now,
                finalized_at=now,
            )
        )
    for start in range(0, len(ids), MANY_BATCH):
        batch = ids[start : start + MANY_BATCH]
        Resolution.objects.filter(question_id__in=batch, state=State.PROPOSED).update(
            state=State.SUPERSEDED
        )
    _insert_resolutions(new)
    by_status: dict[str, list[int]] = {}
    for resolution in new:
        by_status.setdefault(status_for(resolution.outcome), []).append(resolution.question_id)
    for status, qids in by_status.items():
        for start in range(0, len(qids), MANY_BATCH):
            Question.objects.filter(pk__in=qids[start : start + MANY_BATCH]).update(
                status=status, needs_review=False
            )
    action = (
        AuditRecord.Action.IMPORTED
        if source == Resolution.Source.IMPORT
        else AuditRecord.Action.RESOLVED
    )
    # Plain rows (COPY on PostgreSQL), as ``question_resolve`` writes them one by one.
    bulk_insert_new(
        AuditRecord,
        ("question_id", "resolution_id", "action", "actor_label", "reason", "evidence", "at"),
        ((r.question_id, r.pk, action, actor_label or source, r.reason, {}, now) for r in new),
    )
    announce_final_many(new)
    return new
