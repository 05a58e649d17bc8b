import os

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("takeoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Options every database task shares: acknowledged after it ran (a killed worker's task is
# redelivered), retried with backoff on connection trouble, a bounded number of times.
DB_TASK = {
    "acks_late": True,
    "max_retries": 5,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


def _pending_key(task_name: str, args: tuple) -> str:
    return "celery:pending:" + task_name + ":" + ":".join(map(str, args))


def enqueue_debounced(task, *args, delay: float, timeout: int = 300) -> bool:
    """Enqueue ``task(*args)`` after ``delay`` seconds unless one is already pending.

    For work that recomputes from the database (a median fill, a leaderboard): one run serves
    every trigger that arrives before it starts. ``cache.add`` is atomic, so concurrent
    triggers enqueue once. The task calls ``release_debounced`` first thing, so a trigger that
    arrives while it runs schedules the next run. ``timeout`` bounds how long a lost message can
    block new runs. Returns whether a run was enqueued.
    """
    from django.core.cache import cache

    if not cache.add(_pending_key(task.name, args), 1, timeout=timeout):
        return False
    task.apply_async(args, countdown=delay)
    return True


def release_debounced(task, *args) -> None:
    from django.core.cache import cache

    cache.delete(_pending_key(task.name, args))
