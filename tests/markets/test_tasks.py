"""The Celery tasks as functions: sweep, evaluate, poll, and fetch with conditional requests.

HTTP goes to ``httpx.MockTransport``; the real-worker behaviour is in test_celery_integration.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from io import StringIO

import httpx
import pytest
import time_machine
from django.core.management import call_command

from markets import tasks
from markets.benchmarks import ingest
from markets.models import BenchmarkResult, FeedSnapshot, Question, Resolution
from tests.markets.conftest import (
    METR_SAMPLE,
    OPUS,
    metr_sample_with_opus,
    milestone_question,
    sample,
)

pytestmark = pytest.mark.django_db

URL = "https://feeds.example.org/benchmark_results_1_1.yaml"
MARCH = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
Outcome = FeedSnapshot.Outcome


class FakeServer:
    """Serves a METR feed and records every request's conditional headers."""

    def __init__(self, body: bytes, etag: str = '"v1"') -> None:
        self.body = body
        self.etag = etag
        self.last_modified = "Tue, 10 Mar 2026 12:00:00 GMT"
        self.requests: list[httpx.Request] = []
        self.respond: Callable[[httpx.Request], httpx.Response] | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.respond is not None:
            return self.respond(request)
        if request.headers.get("If-None-Match") == self.etag:
            return httpx.Response(304, headers={"ETag": self.etag})
        return httpx.Response(
            200,
            content=self.body,
            headers={"ETag": self.etag, "Last-Modified": self.last_modified},
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    fake = FakeServer(sample(METR_SAMPLE))
    monkeypatch.setattr(
        ingest, "http_client", lambda: httpx.Client(transport=httpx.MockTransport(fake))
    )
    return fake


@pytest.fixture(autouse=True)
def eager_retries() -> Iterator[None]:
    """``apply()`` runs a task's retries in-process, but only when errors do not propagate."""
    from config.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


def fetch() -> None:
    result = tasks.fetch_feed_task.apply(args=("metr", URL))
    assert result.successful(), result.traceback


def test_fetch_ingests_and_then_asks_conditionally(server):
    fetch()
    first = FeedSnapshot.objects.get()
    assert (first.outcome, first.etag, first.source) == (Outcome.OK, '"v1"', URL)
    assert first.last_modified == server.last_modified
    assert first.results_added == 3
    assert "If-None-Match" not in server.requests[0].headers

    fetch()  # 304
    assert server.requests[1].headers["If-None-Match"] == '"v1"'
    assert server.requests[1].headers["If-Modified-Since"] == server.last_modified
    not_modified = FeedSnapshot.objects.latest("pk")
    assert not_modified.outcome == Outcome.UNCHANGED
    assert (not_modified.etag, not_modified.sha256) == ('"v1"', first.sha256)
    assert BenchmarkResult.objects.count() == 3

    fetch()  # conditional again, from the 304 snapshot's validators
    assert server.requests[2].headers["If-None-Match"] == '"v1"'


def test_server_ignoring_validators_sends_same_bytes_which_add_nothing(server):
    fetch()
    server.respond = lambda request: httpx.Response(200, content=server.body)
    fetch()
    latest = FeedSnapshot.objects.latest("pk")
    assert latest.outcome == Outcome.UNCHANGED
    assert BenchmarkResult.objects.count() == 3


def test_changed_content_is_ingested_as_a_revision(server):
    server.body = metr_sample_with_opus(870.0)
    fetch()
    server.body, server.etag = sample(METR_SAMPLE), '"v2"'
    fetch()
    latest = FeedSnapshot.objects.latest("pk")
    assert (latest.outcome, latest.results_revised, latest.etag) == (Outcome.OK, 1, '"v2"')
    assert BenchmarkResult.objects.get(system=OPUS, is_current=True).value == pytest.approx(
        718.80683
    )


def test_transient_errors_are_retried_then_succeed(server):
    responses = iter([httpx.Response(503), httpx.Response(429)])

    def flaky(request: httpx.Request) -> httpx.Response:
        try:
            return next(responses)
        except StopIteration:
            return httpx.Response(200, content=server.body)

    server.respond = flaky
    fetch()
    assert len(server.requests) == 3
    assert FeedSnapshot.objects.get().outcome == Outcome.OK


def test_retries_are_bounded_and_the_failure_is_recorded(server):
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    server.respond = down
    fetch()
    assert len(server.requests) == tasks.FETCH_MAX_RETRIES + 1
    snapshot = FeedSnapshot.objects.get()
    assert snapshot.outcome == Outcome.FAILED
    assert "connection refused" in snapshot.error
    assert f"gave up after {tasks.FETCH_MAX_RETRIES + 1} attempt(s)" in snapshot.error
    assert (snapshot.sha256, bytes(snapshot.raw)) == ("", b"")


def test_client_errors_are_not_retried(server):
    server.respond = lambda request: httpx.Response(404)
    fetch()
    assert len(server.requests) == 1
    snapshot = FeedSnapshot.objects.get()
    assert snapshot.outcome == Outcome.FAILED
    assert f"HTTP 404 from {URL}" in snapshot.error


def test_unparseable_content_fails_once_without_retries(server):
    server.body = b"results: [unterminated"
    fetch()
    assert len(server.requests) == 1
    snapshot = FeedSnapshot.objects.get()
    assert snapshot.outcome == Outcome.FAILED
    assert snapshot.error.startswith("metr: invalid YAML")
    assert bytes(snapshot.raw) == server.body


def test_oversized_responses_are_cut_off(server, monkeypatch):
    monkeypatch.setattr(ingest, "MAX_FEED_BYTES", 1000)
    server.respond = lambda request: httpx.Response(200, content=b"x" * 5000)
    fetch()

    def chunks():
        for _ in range(50):
            yield b"y" * 100  # no Content-Length: counted while streaming

    server.respond = lambda request: httpx.Response(200, content=chunks())
    fetch()
    declared, streamed = FeedSnapshot.objects.order_by("pk")
    assert declared.outcome == streamed.outcome == Outcome.FAILED
    assert "is 5,000 bytes, over the limit of 1,000 bytes" in declared.error
    assert "is more than 1,000 bytes" in streamed.error
    assert len(server.requests) == 2  # not retried


def test_poll_enqueues_one_fetch_per_configured_feed(settings, enqueued, caplog):
    settings.FEED_URLS = {"metr": URL, "swebench": "https://x/leaderboards.json", "nope": "u"}
    tasks.poll_feeds_task()
    assert enqueued == [
        ("markets.fetch_feed", ("metr", URL)),
        ("markets.fetch_feed", ("swebench", "https://x/leaderboards.json")),
    ]
    assert "unknown feed 'nope'" in caplog.text


@time_machine.travel(MARCH, tick=False)
def test_evaluate_task_proposes_and_is_idempotent():
    question = milestone_question(threshold=600)
    ingest.feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
    tasks.evaluate_question_task(question.pk)
    tasks.evaluate_question_task(question.pk)
    tasks.evaluate_question_task(question.pk + 1000)  # deleted question: nothing to do
    assert Resolution.objects.get().state == Resolution.State.PROPOSED


def test_sweep_task_runs_the_whole_sweep(settings):
    settings.RESOLUTION_REVIEW_HOURS = 1
    question = milestone_question(threshold=600, close_time=dt.datetime(2026, 3, 11, tzinfo=dt.UTC))
    with time_machine.travel(MARCH, tick=False):
        ingest.feed_ingest(feed="metr", raw=sample(METR_SAMPLE), source=METR_SAMPLE)
        tasks.sweep_task()
    with time_machine.travel(MARCH + dt.timedelta(days=1), tick=False):
        tasks.sweep_task()
    question.refresh_from_db()
    assert question.status == Question.Status.RESOLVED
    assert question.resolutions.get().state == Resolution.State.FINAL
    assert list(question.audit.values_list("action", flat=True)) == [
        "proposed",
        "closed",
        "finalized",
    ]


def test_run_sweep_command_reports_what_it_did():
    out = StringIO()
    call_command("run_sweep", stdout=out)
    assert "Opened 0, closed 0, evaluated 0 milestone question(s), finalized 0" in out.getvalue()


def test_every_task_is_late_acking_bounded_and_time_limited():
    for task in (
        tasks.sweep_task,
        tasks.evaluate_question_task,
        tasks.poll_feeds_task,
        tasks.fetch_feed_task,
    ):
        assert task.acks_late is True, task.name
        assert task.max_retries is not None and task.max_retries <= 5, task.name
        assert task.time_limit and task.soft_time_limit < task.time_limit, task.name
