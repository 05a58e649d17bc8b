"""Scoring's subscriptions to the resolution workflow (connected in ``ScoringConfig.ready``).

Markets announces a final resolution version with ``resolution_finalized`` inside its
transaction; scoring answers by enqueueing ``question_score_task`` after commit. A withdrawn
final version (``resolution_withdrawn``: the question is un-resolved) takes the question's
scores with it, in the same transaction. This keeps the
dependency one-way: scoring knows markets, markets never imports scoring.
"""

from __future__ import annotations

from typing import Any

from scoring.tasks import question_score_task, questions_score_many_task


def schedule_scoring(*, question_id: int, resolution_id: int) -> None:
    """Enqueue scoring of ``question_id`` for ``resolution_id`` once the transaction commits."""
    question_score_task.delay_on_commit(question_id, resolution_id)


def on_resolution_finalized(
    sender: Any, *, question_id: int, resolution_id: int, **kwargs: Any
) -> None:
    """Receiver of ``markets.resolution.signals.resolution_finalized``."""
    schedule_scoring(question_id=question_id, resolution_id=resolution_id)


def on_resolutions_finalized(sender: Any, *, pairs: list[tuple[int, int]], **kwargs: Any) -> None:
    """Receiver of ``markets.resolution.signals.resolutions_finalized`` (many at once): one
    batch scoring task after commit."""
    questions_score_many_task.delay_on_commit([list(p) for p in pairs])


def on_resolution_withdrawn(
    sender: Any, *, question_id: int, resolution_id: int, **kwargs: Any
) -> None:
    """Receiver of ``markets.resolution.signals.resolution_withdrawn`` (the question was
    un-resolved): its scores go in the same transaction; the leaderboard follows after commit."""
    from scoring.services import question_scores_withdraw

    question_scores_withdraw(question_id=question_id)


def on_log_changed(sender: Any, *, question_ids: list[int], **kwargs: Any) -> None:
    """Receiver of ``forecasts.signals.log_changed``: questions with a final resolution lose
    their scores (and the weights derived from them) now, in the transaction, and are scored
    again after commit."""
    from markets.models import Resolution
    from scoring.services import scores_delete

    finals = Resolution.objects.filter(
        question_id__in=question_ids, state=Resolution.State.FINAL
    ).select_related("question")
    for final in finals:
        scores_delete(question_id=final.question_id, tournament_id=final.question.tournament_id)
        schedule_scoring(question_id=final.question_id, resolution_id=final.pk)
