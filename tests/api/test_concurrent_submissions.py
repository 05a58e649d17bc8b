"""Concurrent forecast submissions against a real server (issue 20, case 1).

SQLite is the demo's database, so it must serve people who click at the same time. With
deferred transactions two submissions both read, and the second one's upgrade to a writer was
refused at once ("database is locked", an HTML 500) whatever the lock timeout. The server is a
separate process (``manage.py runserver``: a thread and a database connection per request).
The SQLite test gives it a SQLite file of its own, whatever database the suite runs on (CI:
PostgreSQL), so it runs in CI too; the PostgreSQL test points it at the suite's test database.
"""

from __future__ import annotations

import http.client
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.authtoken.models import Token

from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import forecaster_for_user
from tests.factories import QuestionFactory, UserFactory
from tests.markets.celery_harness import database_url, free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 8
PROBABILITY = 0.7
ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))

SETUP = """
import datetime as dt, json
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from forecasts.services import forecaster_for_user
from markets.models import Question, Tournament

call_command("migrate", "--no-input", verbosity=0)

UTC = dt.UTC
tournament = Tournament.objects.create(slug="clicks", name="Clicks")
question = Question.objects.create(
    tournament=tournament, key="q1", title="Two clicks?", status=Question.Status.OPEN,
    open_time=dt.datetime(2020, 1, 1, tzinfo=UTC), close_time=dt.datetime(2040, 1, 1, tzinfo=UTC),
)
user = get_user_model().objects.create_user("clicker", password="x-Unused-123")
forecaster_for_user(user)  # someone who has forecast before
print(json.dumps({"question": question.pk, "token": Token.objects.create(user=user).key}))
"""


@dataclass
class Server:
    port: int
    question: int
    token: str


def _manage(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _server_env(database_url: str) -> dict[str, str]:
    """The server's environment: the project's settings for ``database_url``, tasks in-process
    and the cache in memory (the demo's setup, no broker)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def _runserver(env: dict[str, str], log: Path) -> Iterator[int]:
    """``manage.py runserver --noreload`` (a thread and a database connection per request) in a
    process of its own; yields its port once /healthz answers, stops it afterwards."""
    port = free_port()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                if _request(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no server after 60 s:\n{log.read_text()}"
            time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _request(port: int, method: str, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _together(server: Server, n: int) -> list[tuple[int, str, bytes]]:
    """``n`` identical forecast POSTs released at the same instant, each on its own connection:
    (status, content type, body) of each."""
    barrier = threading.Barrier(n)
    results: list[tuple[int, str, bytes] | BaseException] = [RuntimeError("no answer")] * n
    body = {"question": server.question, "probability": PROBABILITY}

    def submit(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=90)
        try:
            conn.connect()  # connected before the barrier: the POSTs leave together
            barrier.wait(timeout=30)
            conn.request(
                "POST",
                "/api/v1/forecasts/",
                body=json.dumps(body),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Authorization": f"Token {server.token}",
                },
            )
            response = conn.getresponse()
            results[i] = (response.status, response.getheader("Content-Type", ""), response.read())
        except BaseException as exc:  # reported below, with the others
            results[i] = exc
        finally:
            conn.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return [r for r in results if not isinstance(r, BaseException)]


def _two_then_eight(server: Server) -> None:
    """Two POSTs together, then eight: every one a 201 with the forecast as JSON."""
    answers = _together(server, 2) + _together(server, REQUESTS)
    statuses = [status for status, _, _ in answers]
    failed = [(status, kind, body[:200]) for status, kind, body in answers if status != 201]
    assert statuses == [201] * (2 + REQUESTS), failed
    for _, content_type, body in answers:
        assert content_type.startswith("application/json")
        assert json.loads(body)["probability"] == PROBABILITY


def _assert_consistent(state: tuple, points: list[tuple], events: int) -> None:
    """One forecaster holding 0.7 after every event: ``events`` events in the crowd state with
    one forecaster and p = 0.7, and one history point per event (seq 1..events), each 0.7."""
    total = 2 + REQUESTS
    assert events == total
    assert state[:2] == (total, 1)
    assert state[2] == pytest.approx(PROBABILITY, abs=1e-12)
    assert [(seq, n) for seq, n, _ in points] == [(i, 1) for i in range(1, total + 1)]
    assert all(p == pytest.approx(PROBABILITY, abs=1e-12) for _, _, p in points)


def test_concurrent_identical_submissions_all_succeed_on_sqlite(tmp_path):
    """A fresh SQLite file with the project's SQLite settings, whatever the suite runs on."""
    database = tmp_path / "takeoff.sqlite3"
    env = _server_env(f"sqlite:///{database}")
    ids = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
    with _runserver(env, tmp_path / "server.log") as port:
        _two_then_eight(Server(port, ids["question"], ids["token"]))

    with sqlite3.connect(database) as db:
        (events,) = db.execute("SELECT count(*) FROM forecasts_forecast").fetchone()
        state = db.execute("SELECT events, forecasters, probability FROM forecasts_crowdstate")
        (state_row,) = state.fetchall()
        points = db.execute(
            "SELECT seq, forecasters, probability FROM forecasts_crowdpoint ORDER BY seq"
        ).fetchall()
    _assert_consistent(state_row, points, events)
    report = _manage(env, "verify_crowd", "--no-progress")
    assert "All stored crowd histories match a recompute" in report, report


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_submissions_all_succeed_on_postgresql(tmp_path, capsys):
    """The same against the suite's PostgreSQL test database (committed rows: the server is
    another process)."""
    question = QuestionFactory()
    user = UserFactory()
    forecaster_for_user(user)
    token = Token.objects.create(user=user).key
    env = _server_env(database_url(connection.settings_dict))
    with _runserver(env, tmp_path / "server.log") as port:
        _two_then_eight(Server(port, question.pk, token))

    state = CrowdState.objects.values_list("events", "forecasters", "probability").get(
        question=question
    )
    points = list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("seq", "forecasters", "probability")
    )
    _assert_consistent(state, points, Forecast.objects.filter(question=question).count())
    call_command("verify_crowd", "--no-progress")
    assert "All stored crowd histories match a recompute" in capsys.readouterr().out
