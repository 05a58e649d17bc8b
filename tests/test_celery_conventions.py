"""Celery conventions (docs/architecture.md, "Celery"): explicit task names, heavy work on its own
queue so the minute sweep never waits behind it, bounded retries and time limits."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import app

OURS = ("markets.", "forecasts.", "scoring.", "trading.", "community.")


@pytest.fixture(scope="module")
def tasks() -> dict:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith(OURS)}


def test_every_task_has_an_explicit_name_not_its_module_path(tasks) -> None:
    assert set(tasks) == {
        "markets.sweep",
        "markets.evaluate_question",
        "markets.poll_feeds",
        "markets.fetch_feed",
        "forecasts.fill_medians",
        "forecasts.baselines_refresh",
        "scoring.score_question",
        "scoring.score_questions",
        "scoring.recompute_question",
        "scoring.rebuild_leaderboard",
        "scoring.repair_scores",
        "trading.settle_market",
        "trading.repair_settlements",
        "community.notify",
        "community.send_digests",
        "community.digests_send",
        "community.digest_send",
        "community.digests_deliver",
    }
    for name in tasks:
        assert ".tasks." not in name, name


def test_heavy_work_is_routed_away_from_the_sweep(tasks) -> None:
    router = app.amqp.router

    def queue(name: str) -> str:
        route = router.route({}, name)
        return route["queue"].name

    for name in (
        "markets.sweep",
        "markets.evaluate_question",
        "markets.fetch_feed",
        "scoring.repair_scores",
    ):
        assert queue(name) == settings.CELERY_TASK_DEFAULT_QUEUE == "default", name
    for name in (
        "scoring.score_question",
        "scoring.score_questions",
        "scoring.recompute_question",
        "scoring.rebuild_leaderboard",
        "forecasts.fill_medians",
    ):
        assert queue(name) == settings.CELERY_HEAVY_QUEUE == "heavy", name


def test_every_task_is_late_acking_bounded_and_time_limited(tasks) -> None:
    for name, task in tasks.items():
        assert task.acks_late is True, name
        assert task.max_retries is not None and task.max_retries <= 5, name
        assert task.time_limit and task.soft_time_limit < task.time_limit, name


def test_beat_schedules_tasks_by_their_names(tasks) -> None:
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in tasks, entry


def test_retries_back_off_with_jitter_declaratively(tasks) -> None:
    fetch = tasks["markets.fetch_feed"]
    assert fetch.retry_jitter is True and fetch.retry_backoff
    assert fetch.autoretry_for, "retries are declared, not hand-written"
    for name, task in tasks.items():
        assert task.autoretry_for and task.retry_jitter, name
