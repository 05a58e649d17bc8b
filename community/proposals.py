"""Question proposals by forecasters and their review by staff (one door for each step).

Approval creates the question through ``markets.questions.question_create``, the service every
way of adding a question goes through, and credits the author (``Proposal.question``; the
question page shows "Proposed by …").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from community.errors import CommunityError, Conflict, NotFound
from community.models import BODY_MAX, Proposal
from community.services import _clean_reason, _rate_limit, _require_staff
from config.errors import DomainError
from markets.models import Question, Tournament
from markets.questions import TITLE_MAX, question_create

EDITABLE = ("title", "description", "resolution_criteria", "open_time", "close_time")


def _validate(
    *,
    title: str,
    description: str,
    resolution_criteria: str,
    open_time: dt.datetime,
    close_time: dt.datetime,
    now: dt.datetime,
) -> dict[str, Any]:
    title = (title or "").strip()
    if not title:
        raise CommunityError("A proposal needs a title.")
    if len(title) > TITLE_MAX:
        raise CommunityError(f"The title is longer than {TITLE_MAX} characters.")
    criteria = (resolution_criteria or "").strip()
    if not criteria:
        raise CommunityError("Say how the question resolves: the resolution criteria are empty.")
    description = (description or "").strip()
    if len(description) > BODY_MAX or len(criteria) > BODY_MAX:
        raise CommunityError(f"Texts are limited to {BODY_MAX} characters.")
    if not close_time > open_time:
        raise CommunityError("The question must close after it opens.")
    if close_time <= now:
        raise CommunityError("The closing time is in the past.")
    return {
        "title": title,
        "description": description,
        "resolution_criteria": criteria,
        "open_time": open_time,
        "close_time": close_time,
    }


def proposal_submit(
    *,
    author: Any,
    tournament: Tournament,
    title: str,
    resolution_criteria: str,
    open_time: dt.datetime,
    close_time: dt.datetime,
    description: str = "",
    now: dt.datetime | None = None,
) -> Proposal:
    """A forecaster proposes a question in a tournament they can see; staff review it.

    Raises ``NotFound`` (tournament not visible), ``CommunityError`` (empty title or
    criteria, bad window), ``RateLimited`` (``PROPOSAL_RATES``).
    """
    if not tournament.is_visible_to(author):
        raise NotFound("No such tournament.")
    fields = _validate(
        title=title,
        description=description,
        resolution_criteria=resolution_criteria,
        open_time=open_time,
        close_time=close_time,
        now=now or timezone.now(),
    )
    _rate_limit("proposal", author, settings.PROPOSAL_RATES)
    return Proposal.objects.create(author=author, tournament=tournament, **fields)


@transaction.atomic
def proposal_edit(*, proposal: Proposal, reviewer: Any, **changes: Any) -> Proposal:
    """Staff edit a pending proposal's texts or window before deciding. ``Conflict`` once
    reviewed; ``CommunityError`` for invalid values or an unknown field."""
    _require_staff(reviewer)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise CommunityError(f"Not editable: {', '.join(sorted(unknown))}.")
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.state != Proposal.State.PENDING:
        raise Conflict("This proposal was already reviewed.")
    merged = {name: changes.get(name, getattr(locked, name)) for name in EDITABLE}
    fields = _validate(**merged, now=timezone.now())
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(fields))
    return locked


@transaction.atomic
def proposal_approve(*, proposal: Proposal, reviewer: Any, key: str = "") -> Question:
    """Approve: create the question (``question_create``) and credit the author.

    Raises ``Conflict`` when already reviewed, ``CommunityError`` when its texts or window are
    no longer valid (e.g. the closing time passed while it waited), and the markets service's
    ``QuestionError`` (e.g. a key already used in the tournament) as a ``CommunityError`` with
    its message.
    """
    _require_staff(reviewer)
    locked = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if locked.state != Proposal.State.PENDING:
        raise Conflict("This proposal was already reviewed.")
    # Checked again now: a proposal may wait in the queue past its closing time; edit its
    # window first rather than create a question nobody can forecast.
    _validate(**{name: getattr(locked, name) for name in EDITABLE}, now=timezone.now())
    try:
        question = question_create(
            tournament=locked.tournament,
            title=locked.title,
            key=key,
            description=locked.description,
            resolution_criteria=locked.resolution_criteria,
            open_time=locked.open_time,
            close_time=locked.close_time,
        )
    except DomainError as exc:
        raise CommunityError(str(exc)) from exc
    locked.state = Proposal.State.APPROVED
    locked.question = question
    locked.reviewed_by = reviewer
    locked.reviewed_at = timezone.now()
    locked.save(update_fields=["state", "question", "reviewed_by", "reviewed_at"])
    return question


@transaction.atomic
def proposal_reject(*, proposal: Proposal, reviewer: Any, reason: str) -> Proposal:
    """Reject with a reason the author sees. ``Conflict`` when already reviewed."""
    _require_staff(reviewer)
    reason = _clean_reason(reason)
    updated = Proposal.objects.filter(pk=proposal.pk, state=Proposal.State.PENDING).update(
        state=Proposal.State.REJECTED,
        reject_reason=reason,
        reviewed_by=reviewer,
        reviewed_at=timezone.now(),
    )
    if updated != 1:
        raise Conflict("This proposal was already reviewed.")
    proposal.refresh_from_db()
    return proposal
