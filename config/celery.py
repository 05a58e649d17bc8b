import logging
import os
from typing import Any

from celery import Celery
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("takeoff")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


logger = logging.getLogger("config.celery")

# What a broker outage raises when a message is sent: kombu's OperationalError (Redis down) and
# the socket errors under it. Task errors in eager mode are not among them and still propagate.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    KombuOperationalError,
    RedisError,
    ConnectionError,
    OSError,
)


def send_safely(task, *args, **options) -> bool:
    """``task.apply_async(args, **options)``, but a broker outage is logged, not raised.

    Used after commit: the data is saved, and raising would turn a saved request into a 500.
    Whatever a lost message would have done, the periodic sweep does (it repairs missing
    scores, evaluates milestones and finalizes proposals). Returns whether it was sent.
    """
    try:
        task.apply_async(args, **options)
    except BROKER_ERRORS as exc:
        logger.warning(
            "could not enqueue %s%s (%s: %s); the periodic sweep will catch up",
            task.name,
            args,
            type(exc).__name__,
            exc,
        )
        return False
    return True


class SafeTask(DjangoTask):
    """Our tasks' base: ``delay_on_commit`` sends after commit like Celery's, but a broker
    outage then is logged instead of raised into a request whose data is already saved."""

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:
        transaction.on_commit(lambda: send_safely(self, *args, kwargs=kwargs or None))


# Options every database task shares: acknowledged after it ran (a killed worker's task is
# redelivered), retried with backoff on connection trouble, a bounded number of times.
DB_TASK = {
    "base": SafeTask,
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

    try:
        if not cache.add(_pending_key(task.name, args), 1, timeout=timeout):
            return False
    except BROKER_ERRORS as exc:  # the cache is the same Redis: down together
        logger.warning("could not debounce %s%s: %s", task.name, args, exc)
        return False
    if not send_safely(task, *args, countdown=delay):
        release_debounced(task, *args)
        return False
    return True


def release_debounced(task, *args) -> None:
    from django.core.cache import cache

    try:
        cache.delete(_pending_key(task.name, args))
    except BROKER_ERRORS as exc:
        logger.warning("could not release the debounce of %s%s: %s", task.name, args, exc)
