"""Scoring's subscriptions to the resolution workflow (connected in ``ScoringConfig.ready``).

Markets announces a final resolution version with ``resolution_finalized`` inside its
transaction; scoring answers by enqueueing ``question_score_task`` after commit. This keeps the
dependency one-way: scoring knows markets, markets never imports scoring.
"""

from __future__ import annotations

from typing import Any

from scoring.tasks import question_score_task


def schedule_scoring(*, question_id: int, resolution_id: int) -> None:
    """Enqueue scoring of ``question_id`` for ``resolution_id`` once the transaction commits."""
    question_score_task.delay_on_commit(question_id, resolution_id)


def on_resolution_finalized(
    sender: Any, *, question_id: int, resolution_id: int, **kwargs: Any
) -> None:
    """Receiver of ``markets.resolution.signals.resolution_finalized``."""
    schedule_scoring(question_id=question_id, resolution_id=resolution_id)
