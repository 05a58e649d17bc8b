"""Celery tasks of the community app: thin, idempotent, on beat (config.settings)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from config.celery import DB_TASK

# People per digest task: one claim, one query of notifications, one mail connection each.
DIGEST_BATCH = 100


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
    batch: list[int] = []
    for user_id in digest_recipients(day=now.date()):
        batch.append(user_id)
        if len(batch) == DIGEST_BATCH:
            digests_send_task.delay(batch, day)
            count, batch = count + len(batch), []
    if batch:
        digests_send_task.delay(batch, day)
        count += len(batch)
    return count


@shared_task(name="community.digests_send", time_limit=300, soft_time_limit=240, **DB_TASK)
def digests_send_task(user_ids: list[int], day: str) -> int:
    """Send the digests of a batch of people for ``day`` (ISO date), each at most once."""
    from community.jobs import digests_send

    return digests_send(user_ids=[int(u) for u in user_ids], day=dt.date.fromisoformat(day))


@shared_task(name="community.digest_send", time_limit=120, soft_time_limit=100, **DB_TASK)
def digest_send_task(user_id: int, day: str) -> bool:
    """Send one person's digest for ``day`` (ISO date) at most once."""
    from community.jobs import digest_send

    return digest_send(user_id=user_id, day=dt.date.fromisoformat(day))
