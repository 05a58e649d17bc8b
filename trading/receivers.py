"""Trading's subscriptions to the resolution workflow (connected in ``TradingConfig.ready``):
a market settles after commit whenever its question's final resolution changes (made final,
re-resolved, withdrawn). Markets never imports trading."""

from __future__ import annotations

from typing import Any

from trading.models import Market
from trading.tasks import market_settle_task


def _schedule(question_ids: list[int]) -> None:
    for question_id in Market.objects.filter(question_id__in=question_ids).values_list(
        "question_id", flat=True
    ):
        market_settle_task.delay_on_commit(question_id)


def on_resolution_changed(sender: Any, *, question_id: int, **kwargs: Any) -> None:
    """Receiver of ``resolution_finalized`` and ``resolution_withdrawn``."""
    _schedule([question_id])


def on_resolutions_finalized(sender: Any, *, pairs: list[tuple[int, int]], **kwargs: Any) -> None:
    """Receiver of ``resolutions_finalized`` (a bulk import)."""
    _schedule([int(q) for q, _ in pairs])
