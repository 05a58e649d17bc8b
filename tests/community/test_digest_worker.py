"""A digest is sent once even if the worker dies mid-send: a real Celery worker, SIGKILL.

Runs on PostgreSQL and Redis (CI). The worker's email backend (tests.community.slow_mail)
writes the message to a file and then blocks; the test kills the worker there (after the
email left, before the digest was marked sent), starts another, lets Redis redeliver the
unacknowledged task, runs the beat task too, and counts the emails: one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.db import connection
from django.utils import timezone

from community import services
from community.models import Digest
from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from tests.markets.celery_harness import Harness, database_url, harness, tail, wait_for

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)"),
    pytest.mark.django_db(transaction=True),
]

SPARE_REDIS_DB = 10 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw4").removeprefix("gw")) % 6


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    (tmp_path / "mail").mkdir()
    values = dict(os.environ)
    values.update(
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=f"redis://{url.hostname or '127.0.0.1'}:{url.port or 6379}/{SPARE_REDIS_DB}",
        CELERY_TASK_ALWAYS_EAGER="false",
        # Redis hands an unacknowledged message to another worker after this many seconds.
        CELERY_VISIBILITY_TIMEOUT="3",
        SWEEP_INTERVAL_SECONDS="3600",
        NOTIFY_INTERVAL_SECONDS="3600",
        DIGEST_INTERVAL_SECONDS="2",
        DIGEST_HOUR_UTC="0",
        CONN_MAX_AGE="0",
        DEBUG="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        EMAIL_BACKEND="tests.community.slow_mail.EmailBackend",
        TEST_MAIL_DIR=str(tmp_path / "mail"),
        TEST_MAIL_BLOCK=str(tmp_path / "block"),
    )
    return values


@pytest.fixture
def cluster(tmp_path: Path, env: dict[str, str]) -> Iterator[Harness]:
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()
    with harness(tmp_path, env) as h:
        yield h
    client.flushdb()


def mails(env: dict[str, str]) -> list[Path]:
    return sorted(Path(env["TEST_MAIL_DIR"]).glob("*.eml"))


def test_digest_is_sent_once_when_the_worker_is_killed_mid_send(cluster, env, tmp_path):
    question = QuestionFactory(tournament=TournamentFactory(slug="kill"))
    alice = UserFactory(username="alice-kill")
    staff = UserFactory(username="staff-kill", is_staff=True)
    services.follow_question(user=alice, question=question)
    services.clarification_post(question=question, author=staff, body="Only GA models count.")
    day = timezone.now().date().isoformat()
    Path(env["TEST_MAIL_BLOCK"]).touch()

    worker = cluster.worker(queues="default,heavy")
    enqueue = f"from community.tasks import digest_send_task as t; t.delay({alice.pk}, {day!r})"
    sent = cluster.manage("shell", "-c", enqueue)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    wait_for(lambda: mails(env), timeout=60, what="the email to be written", logs=cluster.logs)
    worker.kill()  # SIGKILL mid-send: the email left, the digest is not marked sent
    assert not worker.running
    assert Digest.objects.get(user=alice).state == Digest.State.SENDING

    Path(env["TEST_MAIL_BLOCK"]).unlink()
    second = cluster.worker("worker-2", queues="default,heavy")
    log = second.log
    wait_for(
        lambda: "community.digest_send" in tail(log, 400) and "succeeded" in tail(log, 400),
        timeout=60,
        what="the redelivered digest task to run again",
        logs=cluster.logs,
    )
    cluster.beat()  # the hourly sweep too: it must not find alice due again today
    wait_for(
        lambda: "community.send_digests" in tail(log, 400),
        timeout=30,
        what="beat's digest sweep",
        logs=cluster.logs,
    )
    found = mails(env)
    assert len(found) == 1, [p.read_text()[:200] for p in found]
    assert "Only GA models count." in found[0].read_text()
    assert Digest.objects.filter(user=alice).count() == 1
