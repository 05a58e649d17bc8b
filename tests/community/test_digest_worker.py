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


def _recover(cluster, env: dict[str, str], *, lost: bool = False) -> None:
    """Unblock the mail backend, start a second worker and let the redelivered task run (or,
    with ``lost``, drop the message: beat's sweep must find the row once its lease expired),
    then let beat's digest sweep run too."""
    Path(env["TEST_MAIL_BLOCK"]).unlink()
    if lost:
        redis.Redis.from_url(env["REDIS_URL"]).flushdb()
    second = cluster.worker("worker-2", queues="default,heavy")
    log = second.log
    if not lost:
        wait_for(
            lambda: "community.digest" in tail(log, 400) and "succeeded" in tail(log, 400),
            timeout=60,
            what="the redelivered digest task to run again",
            logs=cluster.logs,
        )
    cluster.beat()  # the digest sweep: it must not send anyone a second digest today
    wait_for(
        lambda: "community.send_digests" in tail(log, 400) and "succeeded" in tail(log, 400),
        timeout=30,
        what="beat's digest sweep",
        logs=cluster.logs,
    )


def _setup(names: list[str]) -> list:
    question = QuestionFactory(tournament=TournamentFactory(slug="kill"))
    staff = UserFactory(username="staff-kill", is_staff=True)
    people = [UserFactory(username=name, email=f"{name}@example.org") for name in names]
    for person in people:
        services.follow_question(user=person, question=question)
    services.clarification_post(question=question, author=staff, body="Only GA models count.")
    return people


@pytest.mark.parametrize("lost", [False, True], ids=["redelivered", "message-lost"])
def test_killed_before_the_send_the_digest_is_sent_once_later(cluster, env, lost):
    """SIGKILL after the digest is in the outbox and leased, before the email left: the
    redelivered task (same task id, so the same lease) sends it; a lost message is covered by
    beat's sweep once the lease expired. One email either way."""
    (alice,) = _setup(["alice-kill"])
    day = timezone.now().date().isoformat()
    Path(env["TEST_MAIL_BLOCK"]).touch()
    env["TEST_MAIL_BLOCK_BEFORE"] = "0"
    env["DIGEST_LEASE_SECONDS"] = "3"

    worker = cluster.worker(queues="default,heavy")
    enqueue = f"from community.tasks import digest_send_task as t; t.delay({alice.pk}, {day!r})"
    sent = cluster.manage("shell", "-c", enqueue)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    waiting = Path(env["TEST_MAIL_DIR"]) / "waiting"
    wait_for(waiting.exists, timeout=60, what="the send to start", logs=cluster.logs)
    worker.kill()  # SIGKILL before the send: built, leased, nothing left
    assert not worker.running
    assert mails(env) == []
    digest = Digest.objects.get(user=alice)
    assert digest.state == Digest.State.PENDING and digest.lease_until is not None
    assert "Only GA models count." in digest.body_text

    _recover(cluster, env, lost=lost)
    wait_for(lambda: mails(env), timeout=30, what="the email to be sent", logs=cluster.logs)
    found = mails(env)
    assert len(found) == 1, [p.read_text()[:200] for p in found]
    assert "Only GA models count." in found[0].read_text()
    digest.refresh_from_db()
    assert digest.state == Digest.State.SENT and digest.sent_at is not None
    assert digest.attempts == 2
    assert Digest.objects.filter(user=alice).count() == 1


def test_killed_after_a_send_that_digest_is_not_sent_again(cluster, env):
    """A batch of two: alice's email left and was marked sent, the worker is killed before
    bob's. After recovery: alice one email (not two), bob one."""
    alice, bob = _setup(["alice-kill", "bob-kill"])
    day = timezone.now().date().isoformat()
    Path(env["TEST_MAIL_BLOCK"]).touch()
    env["TEST_MAIL_BLOCK_BEFORE"] = "1"

    worker = cluster.worker(queues="default,heavy")
    enqueue = (
        "from community.tasks import digests_send_task as t; "
        f"t.delay([{alice.pk}, {bob.pk}], {day!r})"
    )
    sent = cluster.manage("shell", "-c", enqueue)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    waiting = Path(env["TEST_MAIL_DIR"]) / "waiting"
    wait_for(waiting.exists, timeout=60, what="the second send to start", logs=cluster.logs)
    worker.kill()  # SIGKILL after alice's send and its sent mark, before bob's send
    assert not worker.running
    assert len(mails(env)) == 1
    assert Digest.objects.get(user=alice).state == Digest.State.SENT
    assert Digest.objects.get(user=bob).state == Digest.State.PENDING

    _recover(cluster, env)
    wait_for(lambda: len(mails(env)) >= 2, timeout=30, what="bob's email", logs=cluster.logs)
    found = [p.read_text() for p in mails(env)]
    recipients = sorted(
        line for text in found for line in text.splitlines() if line.startswith("To:")
    )
    assert recipients == ["To: alice-kill@example.org", "To: bob-kill@example.org"], recipients
    assert set(Digest.objects.values_list("state", flat=True)) == {Digest.State.SENT}
