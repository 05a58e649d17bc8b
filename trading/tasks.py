"""Celery tasks of the play-money market: one-line calls into ``trading.services``."""

from celery import shared_task

from config.celery import DB_TASK


@shared_task(**DB_TASK, name="trading.settle_market", time_limit=600, soft_time_limit=540)
def market_settle_task(question_id: int) -> None:
    """Settle the question's market for its current final resolution (idempotent, §15.7)."""
    from trading.services import market_settle

    market_settle(question_id=question_id)


@shared_task(
    **DB_TASK, name="trading.repair_settlements", time_limit=300, soft_time_limit=240, expires=600
)
def settlements_repair_task() -> None:
    """Periodic (beat, with the sweep): every market is settled for its final resolution."""
    from trading.services import settlements_repair

    settlements_repair()
