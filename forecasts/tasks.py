"""Celery tasks of the crowd engine: one-line calls into services (the heavy queue)."""

from typing import Any

from celery import shared_task
from django.conf import settings

from config.celery import DB_TASK, release_debounced


@shared_task(**DB_TASK, name="forecasts.fill_medians", time_limit=600, soft_time_limit=540)
def crowd_fill_medians_task(question_id: int) -> None:
    """Fill the medians of history points written by submissions (debounced, O(n))."""
    from forecasts.services import crowd_fill_medians

    release_debounced(crowd_fill_medians_task, question_id)
    crowd_fill_medians(question_id=question_id)


@shared_task(**DB_TASK, name="forecasts.baselines_refresh", time_limit=600, soft_time_limit=540)
def baselines_refresh_task(benchmark_ids: list[int] | None = None) -> int:
    """Refresh the built-in baseline bots' forecasts (docs/methods.md §16.4): the trend bot on
    the questions of ``benchmark_ids`` (None: all), and the base-rate bot. Idempotent: an
    unchanged forecast is not written again."""
    from forecasts.baselines import baselines_refresh

    return baselines_refresh(benchmark_ids=benchmark_ids)


def on_results_changed(sender: Any, *, benchmark_ids: list[int], **kwargs: Any) -> None:
    """Receiver of ``markets.benchmarks.signals.results_changed``: refresh the baselines after
    the ingest commits (a feed changed these benchmarks' results)."""
    if settings.BASELINE_BOTS:
        baselines_refresh_task.delay_on_commit(sorted(benchmark_ids))


def on_resolution_finalized(sender: Any, **kwargs: Any) -> None:
    """Receiver of ``markets.resolution.signals.resolution_finalized``: a new resolved question
    moves the base rates, so refresh the baselines after commit (no benchmark refit needed,
    but the refresh is idempotent and cheap)."""
    if settings.BASELINE_BOTS:
        baselines_refresh_task.delay_on_commit([])
