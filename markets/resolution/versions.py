"""Resolution versions: the question lock, version numbers, status for an outcome, and the
announcements that a version became final or was withdrawn.

Resolutions are versions: a change creates a new version and supersedes the old one; an
un-resolution withdraws the final version and creates none. When a version becomes final,
``announce_final`` sends ``resolution_finalized`` inside the transaction; scoring subscribes (it
enqueues ``question_score_task`` after commit, keyed by the resolution id, so a stale task for
an older version finds its resolution no longer final and does nothing). When the final version
is withdrawn, ``announce_withdrawn`` sends ``resolution_withdrawn``; scoring deletes the
question's scores in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Max

from markets.models import Question, Resolution
from markets.resolution.signals import (
    resolution_finalized,
    resolution_withdrawn,
    resolutions_finalized,
)

Outcome = Resolution.Outcome
State = Resolution.State


def lock_question(question_id: int) -> Question:
    """The question row, locked ``FOR UPDATE`` until the transaction ends (the caller's).

    Raises ``Question.DoesNotExist``. Every resolution write holds this lock, so versions and
    the one-proposed/one-final constraints never race.
    """
    return Question.objects.select_for_update(of=("self",)).get(pk=question_id)


def next_version(question: Question) -> int:
    """The version number for a new resolution of ``question`` (1 for the first)."""
    current = question.resolutions.aggregate(v=Max("version"))["v"]
    return (current or 0) + 1


def status_for(outcome: str) -> str:
    """The question status a final resolution with ``outcome`` gives: annulled or resolved."""
    return Question.Status.ANNULLED if outcome == Outcome.ANNULLED else Question.Status.RESOLVED


def status_unsettled(question: Question, now: dt.datetime) -> str:
    """The status of ``question`` without a resolution at ``now``: by its window, upcoming,
    open or closed."""
    if now < question.open_time:
        return Question.Status.UPCOMING
    if now < question.close_time:
        return Question.Status.OPEN
    return Question.Status.CLOSED


def final_resolution(question: Question) -> Resolution | None:
    """The question's final resolution, if it has one."""
    return question.resolutions.filter(state=State.FINAL).first()


def announce_final(resolution: Resolution) -> None:
    """Tell subscribers (scoring) that ``resolution`` is now the question's final version."""
    resolution_finalized.send(
        sender=Resolution, question_id=resolution.question_id, resolution_id=resolution.pk
    )


def announce_final_many(resolutions: list[Resolution]) -> None:
    """Tell subscribers that each of ``resolutions`` is now its question's final version, in one
    ``resolutions_finalized`` message (scoring scores them as one batch)."""
    if resolutions:
        resolutions_finalized.send(
            sender=Resolution, pairs=[(r.question_id, r.pk) for r in resolutions]
        )


def announce_withdrawn(resolution: Resolution) -> None:
    """Tell subscribers (scoring) that ``resolution``, the question's final version, was
    withdrawn and nothing replaces it: the question is un-resolved."""
    resolution_withdrawn.send(
        sender=Resolution, question_id=resolution.question_id, resolution_id=resolution.pk
    )
