"""Celery tasks of the community app: thin, idempotent, on beat (config.settings)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from celery import Task, shared_task
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
    """From ``DIGEST_HOUR_UTC`` on, enqueue today's digest of each person due one; at any
    hour, enqueue the outbox rows a dead run left unsent once their lease expired."""
    from community.jobs import digest_recipients, digests_unsent

    now = timezone.now()
    count = 0
    for chunk in _batches(digests_unsent(now=now)):
        digests_deliver_task.delay(chunk)
        count += len(chunk)
    if now.hour < settings.DIGEST_HOUR_UTC:
        return count
    day = now.date().isoformat()
    for chunk in _batches(digest_recipients(day=now.date())):
        digests_send_task.delay(chunk, day)
        count += len(chunk)
    return count


def _batches(ids: Iterator[int]) -> Iterator[list[int]]:
    batch: list[int] = []
    for pk in ids:
        batch.append(pk)
        if len(batch) == DIGEST_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@shared_task(
    bind=True, name="community.digests_send", time_limit=300, soft_time_limit=240, **DB_TASK
)
def digests_send_task(self: Task, user_ids: list[int], day: str) -> int:
    """Build and send the digests of a batch of people for ``day`` (ISO date): one a day each,
    and a redelivery of this task sends what its dead run left unsent (its id is the lease)."""
    from community.jobs import digests_send

    return digests_send(
        user_ids=[int(u) for u in user_ids],
        day=dt.date.fromisoformat(day),
        owner=self.request.id,
    )


@shared_task(
    bind=True, name="community.digest_send", time_limit=120, soft_time_limit=100, **DB_TASK
)
def digest_send_task(self: Task, user_id: int, day: str) -> bool:
    """Build and send one person's digest for ``day`` (ISO date), as ``digests_send_task``."""
    from community.jobs import digest_send

    return digest_send(user_id=user_id, day=dt.date.fromisoformat(day), owner=self.request.id)


@shared_task(
    bind=True, name="community.digests_deliver", time_limit=300, soft_time_limit=240, **DB_TASK
)
def digests_deliver_task(self: Task, digest_ids: list[int]) -> int:
    """Send the outbox rows ``digest_ids`` still unsent (community.jobs.digests_deliver)."""
    from community.jobs import digests_deliver

    return digests_deliver(digest_ids=[int(d) for d in digest_ids], owner=self.request.id)
