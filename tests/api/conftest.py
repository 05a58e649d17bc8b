"""Fixtures for the API tests: users, tokens, a public and a private tournament with data."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import pytest
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from forecasts.models import Forecaster
from forecasts.services import crowd_recompute, forecast_submit, forecaster_for_user
from markets.models import Question, Resolution, Tournament
from markets.resolution.manual import question_resolve
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def throttle_cache(monkeypatch):
    """A fresh throttle history per test (CI's default cache is a Redis shared by all tests)."""
    from api import throttling

    # A unique name: LocMemCache keeps its data per name for the whole process, and id() values
    # are reused once an object is freed, so an id-based name leaked throttle history between
    # tests (an occasional 429 in the next one).
    cache = LocMemCache(f"throttle-test-{uuid.uuid4()}", {})
    monkeypatch.setattr(throttling.ApiThrottle, "get_cache", classmethod(lambda cls: cache))
    return cache


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    c = APIClient()
    c.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return c


@dataclass
class World:
    public: Tournament
    private: Tournament
    open_q: Question
    closed_q: Question
    resolved_q: Question
    private_q: Question
    member: object
    outsider: object
    staff: object
    forecasters: list


def _forecast(question: Question, forecaster: Forecaster, p: float, minutes: int) -> None:
    forecast_submit(
        question_id=question.pk,
        forecaster=forecaster,
        probability=p,
        at=T0 + dt.timedelta(minutes=minutes),
    )


@pytest.fixture
def world(db, monkeypatch) -> World:
    """Public tournament (open, closed and resolved questions) and a private one.

    Forecasts are made at fixed past times so exports over them are reproducible. Scoring is
    not enqueued: tests that need scores write them (scoring has its own tests).
    """
    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)
    return build_world()


def build_world() -> World:
    """The ``world`` fixture's rows (the caller keeps scoring from being enqueued)."""
    bench = BenchmarkFactory()
    public = TournamentFactory(slug="ai-public", min_forecasters=1)
    private = TournamentFactory(
        slug="secret-club", visibility=Tournament.Visibility.PRIVATE, min_forecasters=1
    )
    member, outsider = UserFactory(username="member"), UserFactory(username="outsider")
    staff = UserFactory(username="admin", is_staff=True)
    private.members.add(member)
    open_q = QuestionFactory(
        tournament=public,
        key="metr-6000",
        benchmark=bench,
        comparator=">=",
        threshold=6000,
        deadline=dt.date(2026, 12, 31),
        open_time=T0,
    )
    closed_q = QuestionFactory(
        tournament=public,
        key="rsi-2027",
        open_time=T0,
        close_time=T0 + dt.timedelta(days=30),
        status=Question.Status.CLOSED,
    )
    resolved_q = QuestionFactory(
        tournament=public,
        key="swe-95",
        open_time=T0,
        close_time=T0 + dt.timedelta(days=30),
    )
    private_q = QuestionFactory(tournament=private, key="secret-q", open_time=T0)
    people = [forecaster_for_user(UserFactory(username=f"f{i}")) for i in range(3)]
    for q in (open_q, closed_q, resolved_q):
        for i, (f, p) in enumerate(zip(people, (0.2, 0.6, 0.9), strict=True)):
            if q.status == Question.Status.CLOSED:
                continue
            _forecast(q, f, p, minutes=10 * i + 1)
    # The closed question got its forecasts while it was open (written through the import path).
    for i, (f, p) in enumerate(zip(people, (0.3, 0.4, 0.5), strict=True)):
        from forecasts.models import Forecast

        Forecast.objects.create(
            question=closed_q, forecaster=f, probability=p, time=T0 + dt.timedelta(minutes=i + 1)
        )
    crowd_recompute(question_id=closed_q.pk)
    _forecast(private_q, forecaster_for_user(member), 0.77, minutes=5)
    question_resolve(
        question_id=resolved_q.pk,
        outcome=Resolution.Outcome.YES,
        reason="Verified result",
        user=staff,
        resolved_at=T0 + dt.timedelta(days=20),
    )
    private_q.refresh_from_db()
    resolved_q.refresh_from_db()
    return World(
        public=public,
        private=private,
        open_q=open_q,
        closed_q=closed_q,
        resolved_q=resolved_q,
        private_q=private_q,
        member=member,
        outsider=outsider,
        staff=staff,
        forecasters=people,
    )
