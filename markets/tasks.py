"""Celery tasks for markets: thin wrappers around services, ids in, nothing returned.

Every task may run twice, late or concurrently (``acks_late`` redelivers after a worker dies):
the services recompute from the database, transitions are compare-and-set, and a stale task
finds its work done. Retries are declarative (``autoretry_for`` with exponential backoff and
jitter) and bounded. The periodic tasks expire instead of piling up while no worker is running:
the next one does the same work. Names are explicit (``markets.*``), so renaming a module never
orphans queued messages; every task here runs on the default queue, so the minute sweep is
never stuck behind a heavy recompute (``config.celery``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction

from config.celery import DB_TASK
from markets.benchmarks.ingest import FeedFetchError, feed_fetch, feed_record_failure

logger = logging.getLogger("markets.tasks")


@shared_task(**DB_TASK, name="markets.sweep", time_limit=300, soft_time_limit=240, expires=600)
def sweep_task() -> None:
    """Open and close due questions, evaluate milestones, finalize due proposals."""
    from markets.resolution.sweep import markets_sweep

    report = markets_sweep()
    logger.info("sweep: %s", report)


@shared_task(**DB_TASK, name="markets.evaluate_question", time_limit=120, soft_time_limit=100)
def evaluate_question_task(question_id: int, trigger: str = "task") -> None:
    """Apply the milestone rule to one question (enqueued after results change)."""
    from markets.resolution.milestones import question_evaluate_milestone

    question_evaluate_milestone(question_id=question_id, trigger=trigger)


@shared_task(**DB_TASK, name="markets.poll_feeds", time_limit=60, soft_time_limit=50, expires=1800)
def poll_feeds_task() -> None:
    """One fetch task per configured feed URL (``settings.FEED_URLS``: name -> URL)."""
    from markets.benchmarks.feeds import FEEDS

    for feed, url in settings.FEED_URLS.items():
        if feed not in FEEDS:
            logger.error("FEED_URLS names an unknown feed %r (known: %s)", feed, sorted(FEEDS))
            continue
        fetch_feed_task.delay(feed, url)


FETCH_MAX_RETRIES = 4


@shared_task(
    bind=True,
    name="markets.fetch_feed",
    acks_late=True,
    autoretry_for=(FeedFetchError, OperationalError, InterfaceError),
    max_retries=FETCH_MAX_RETRIES,
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    time_limit=180,
    soft_time_limit=150,
)
def fetch_feed_task(self, feed: str, url: str) -> None:
    """Fetch one feed URL (conditional request) and ingest it.

    Transient failures (network, HTTP 429/5xx, database) are retried by Celery with exponential
    backoff and jitter (30 s, 60 s, … up to 15 min). Once retries are exhausted, or for a
    permanent failure (HTTP 4xx), a failed snapshot records the error. Content that cannot be
    parsed is not retried: its failed snapshot is the record.
    """
    try:
        feed_fetch(feed=feed, url=url)
    except FeedFetchError as exc:
        if exc.retryable and self.request.retries < self.max_retries:
            raise  # autoretry_for schedules the retry
        tries = self.request.retries + 1
        feed_record_failure(
            feed=feed, source=url, error=f"{exc} (gave up after {tries} attempt(s))"
        )
        logger.error("%s: giving up on %s: %s", feed, url, exc)


# --- Subscriptions ----------------------------------------------------------------------------


def on_results_changed(
    sender: Any, *, benchmark_ids: list[int], now: dt.datetime, trigger: str, **kwargs: Any
) -> None:
    """Receiver of ``markets.benchmarks.signals.results_changed`` (inside the ingest transaction).

    Final questions on those benchmarks are checked (and flagged) at once, in the transaction;
    the unsettled ones get an ``evaluate_question_task`` each after commit.
    """
    from markets.resolution.milestones import milestones_after_results

    pending = milestones_after_results(benchmark_ids=benchmark_ids, now=now, trigger=trigger)
    if pending:
        transaction.on_commit(lambda: enqueue_evaluations(pending, trigger=trigger))


def enqueue_evaluations(question_ids: Iterable[int], *, trigger: str) -> int:
    """Send one ``evaluate_question_task`` per question; a broker outage is logged, not raised.

    This runs after the results are committed; failing here would only turn a stored ingest into
    an error. The periodic sweep evaluates every unsettled milestone question anyway, so what a
    broker outage loses is latency, not a resolution. Returns how many were sent.
    """
    sent = 0
    for question_id in question_ids:
        try:
            evaluate_question_task.delay(question_id, trigger)
        except Exception as exc:
            logger.warning(
                "could not enqueue milestone evaluation of question %s (%s): %s: %s; the "
                "periodic sweep will evaluate it",
                question_id,
                trigger,
                type(exc).__name__,
                exc,
            )
            break
        sent += 1
    return sent
