"""End to end on PostgreSQL and Redis with a real Celery worker and beat, started here.

Ingesting a METR file whose Opus 4.6 result (718.8 minutes, released 2026-02-05) crosses a
question's 600-minute threshold must produce a proposal with its evidence and then a final
resolution after the (shortened) review window, with no manual step, and survive faults:
a worker SIGKILLed mid-task, and Redis down while the result is ingested.

Runs when DATABASE_URL points at PostgreSQL (CI); the worker shares pytest's test database.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.db import connection, transaction

from markets.models import AuditRecord, BenchmarkResult, FeedSnapshot, Question, Resolution
from tests.markets.celery_harness import (
    Harness,
    database_url,
    free_port,
    harness,
    port_open,
    wait_for,
)
from tests.markets.conftest import DATA, METR_SAMPLE, OPUS, milestone_question

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)"),
    pytest.mark.django_db(transaction=True),
]

# A Redis database of its own (10-15), per pytest-xdist worker when the suite runs in parallel.
SPARE_REDIS_DB = 10 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw3").removeprefix("gw")) % 6
REVIEW_HOURS = 0.001  # 3.6 seconds
State = Resolution.State


def redis_base() -> tuple[str, int]:
    url = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return url.hostname or "127.0.0.1", url.port or 6379


@pytest.fixture
def env() -> dict[str, str]:
    host, port = redis_base()
    values = {k: v for k, v in os.environ.items() if k != "FEED_URLS"}
    values.update(
        DATABASE_URL=database_url(connection.settings_dict),
        REDIS_URL=f"redis://{host}:{port}/{SPARE_REDIS_DB}",
        SWEEP_INTERVAL_SECONDS="2",
        RESOLUTION_REVIEW_HOURS=str(REVIEW_HOURS),
        FEED_POLL_INTERVAL_SECONDS="3600",
        CELERY_TASK_ALWAYS_EAGER="false",
        CONN_MAX_AGE="0",
        DEBUG="true",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return values


@pytest.fixture
def spare_redis(env: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(env["REDIS_URL"])
    client.flushdb()  # leftovers from an earlier run must not be delivered to this one
    yield client
    client.flushdb()


@pytest.fixture
def cluster(tmp_path: Path, env: dict[str, str], spare_redis) -> Iterator[Harness]:
    with harness(tmp_path, env) as h:
        yield h


def ingest_metr(h: Harness, env: dict[str, str] | None = None):
    result = h.manage("ingest_benchmarks", str(DATA / METR_SAMPLE), "--feed", "metr", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def resolutions(question: Question) -> list[Resolution]:
    return list(Resolution.objects.filter(question=question).order_by("version"))


def state_of(question: Question, state: str) -> Resolution | None:
    return Resolution.objects.filter(question=question, state=state).first()


def test_ingest_crossing_a_threshold_resolves_after_the_window_with_no_manual_step(cluster):
    question = milestone_question(threshold=600)
    cluster.worker()

    output = ingest_metr(cluster).stdout
    assert "added 3, revised 0, unchanged 0" in output

    # Only the evaluation task enqueued after the ingest committed can propose: no beat yet.
    proposal = wait_for(
        lambda: state_of(question, State.PROPOSED) or state_of(question, State.FINAL),
        timeout=60,
        what="the proposal from evaluate_question_task",
        logs=cluster.logs,
    )
    snapshot = FeedSnapshot.objects.get(outcome=FeedSnapshot.Outcome.OK)
    opus = BenchmarkResult.objects.get(system=OPUS)
    assert proposal.outcome == Resolution.Outcome.YES
    assert proposal.evidence_result == opus
    assert proposal.evidence_snapshot == snapshot
    proposed = AuditRecord.objects.get(question=question, action=AuditRecord.Action.PROPOSED)
    assert proposed.evidence["trigger"] == f"ingest:snapshot:{snapshot.pk}"
    assert proposed.evidence["value"] == pytest.approx(718.80683)
    assert proposed.evidence["snapshot_sha256"] == snapshot.sha256

    cluster.beat()  # the sweep finalizes once the 3.6-second window has passed
    final = wait_for(
        lambda: state_of(question, State.FINAL),
        timeout=60,
        what="the review window to finalize the proposal",
        logs=cluster.logs,
    )
    assert final.pk == proposal.pk
    assert (final.finalized_at - final.created_at).total_seconds() >= REVIEW_HOURS * 3600
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    assert [r.pk for r in resolutions(question)] == [final.pk]
    finalized = AuditRecord.objects.get(question=question, action=AuditRecord.Action.FINALIZED)
    assert finalized.who == "review window"


def test_worker_killed_mid_task_then_restarted_leaves_exactly_one_resolution(cluster, spare_redis):
    question = milestone_question(threshold=600)
    worker = cluster.worker("worker-1")

    with transaction.atomic():
        # Hold the question's row lock: the evaluation task blocks inside its transaction.
        Question.objects.select_for_update().get(pk=question.pk)
        ingest_metr(cluster)
        wait_for(
            lambda: blocked_on_question_lock(question),
            timeout=60,
            what="the worker to block mid-task on the question lock",
            logs=cluster.logs,
        )
        worker.kill()  # SIGKILL, main process and pool children alike
        assert not worker.running
        # acks_late: the message was not acknowledged; Redis still holds it as unacked.
        assert spare_redis.hlen("unacked") >= 1
    assert resolutions(question) == []  # the killed transaction committed nothing

    cluster.worker("worker-2")
    cluster.beat()
    final = wait_for(
        lambda: state_of(question, State.FINAL),
        timeout=90,
        what="the restarted worker and the sweep to resolve the question",
        logs=cluster.logs,
    )
    assert [r.pk for r in resolutions(question)] == [final.pk]
    actions = list(question.audit.values_list("action", flat=True))
    assert sorted(actions) == ["finalized", "proposed"]


def blocked_on_question_lock(question: Question) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            ['%FROM "markets_question"%FOR UPDATE%'],
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")
def test_redis_down_while_ingesting_resolves_once_redis_is_back(tmp_path, env):
    port = free_port()
    env = {**env, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    question = milestone_question(threshold=600)
    with harness(tmp_path, env) as h:
        broker = h.redis_server(port)
        h.worker()
        h.beat()

        broker.signal(signal.SIGTERM)  # Redis goes down
        wait_for(lambda: not port_open(port), timeout=20, what="redis to stop")
        ingested = ingest_metr(h)
        assert "added 3" in ingested.stdout
        assert "the periodic sweep will evaluate it" in ingested.stderr
        assert BenchmarkResult.objects.filter(is_current=True).count() == 3
        assert resolutions(question) == []

        h.redis_server(port, name="redis-again")  # empty: the enqueued message never existed
        final = wait_for(
            lambda: state_of(question, State.FINAL),
            timeout=120,
            what="the sweep to catch the missed evaluation once Redis is back",
            logs=h.logs,
        )
    assert [r.pk for r in resolutions(question)] == [final.pk]
    proposed = question.audit.get(action=AuditRecord.Action.PROPOSED)
    assert proposed.evidence["trigger"] == "sweep"


def test_broker_unreachable_at_ingest_is_caught_by_the_sweep(cluster, env):
    """The same fault without a private redis-server: the enqueue goes to a closed port."""
    question = milestone_question(threshold=600)
    closed = {**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    ingested = ingest_metr(cluster, env=closed)
    assert "the periodic sweep will evaluate it" in ingested.stderr
    assert resolutions(question) == []

    cluster.worker()
    cluster.beat()
    final = wait_for(
        lambda: state_of(question, State.FINAL),
        timeout=90,
        what="the sweep to catch the missed evaluation",
        logs=cluster.logs,
    )
    assert [r.pk for r in resolutions(question)] == [final.pk]
