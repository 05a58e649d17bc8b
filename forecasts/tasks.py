"""Celery tasks of the crowd engine: one-line calls into services (the heavy queue)."""

from celery import shared_task

from config.celery import DB_TASK, release_debounced


@shared_task(**DB_TASK, name="forecasts.fill_medians", time_limit=600, soft_time_limit=540)
def crowd_fill_medians_task(question_id: int) -> None:
    """Fill the medians of history points written by submissions (debounced, O(n))."""
    from forecasts.services import crowd_fill_medians

    release_debounced(crowd_fill_medians_task, question_id)
    crowd_fill_medians(question_id=question_id)
