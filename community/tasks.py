"""Celery tasks of the community app: thin, idempotent, on beat (config.settings)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from config.celery import DB_TASK


@shared_task(name="community.notify", time_limit=600, soft_time_limit=540, **DB_TASK)
def notify_task() -> int:
    """Run every notification producer once (community.jobs.notify_all)."""
    from community.jobs import notify_all

    return notify_all()


@shared_task(name="community.send_digests", time_limit=600, soft_time_limit=540, **DB_TASK)
def send_digests_task() -> int:
    """From ``DIGEST_HOUR_UTC`` on, enqueue today's digest of each person due one."""
    from community.jobs import digest_recipients

    now = timezone.now()
    if now.hour < settings.DIGEST_HOUR_UTC:
        return 0
    day = now.date().isoformat()
    count = 0
    for user_id in digest_recipients(day=now.date()):
        digest_send_task.delay(user_id, day)
        count += 1
    return count


@shared_task(name="community.digest_send", time_limit=120, soft_time_limit=100, **DB_TASK)
def digest_send_task(user_id: int, day: str) -> bool:
    """Send one person's digest for ``day`` (ISO date) at most once."""
    from community.jobs import digest_send

    return digest_send(user_id=user_id, day=dt.date.fromisoformat(day))
