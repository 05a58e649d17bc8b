"""Fixtures for the website tests: people, a tournament with questions in every state."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from forecasts.models import Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import BenchmarkResult, Comparator, Question, Resolution, Tournament
from tests.factories import BenchmarkFactory, QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
PASSWORD = "correct-horse-battery"


@dataclass
class Site:
    tournament: Tournament
    private: Tournament
    open_q: Question
    milestone_q: Question
    closed_q: Question
    upcoming_q: Question
    resolved_q: Question
    annulled_q: Question
    private_q: Question
    alice: object
    bob: object
    carol: object
    member: object


def forecast(question: Question, user, p: float, *, at: dt.datetime | None = None) -> Forecast:
    return forecast_submit(
        question_id=question.pk, forecaster=forecaster_for_user(user), probability=p, at=at
    )


def resolve(question: Question, outcome: str, *, by=None) -> Resolution:
    """Write a final resolution directly (the resolution service has its own tests)."""
    now = timezone.now()
    resolution = Resolution.objects.create(
        question=question,
        version=1,
        outcome=outcome,
        state=Resolution.State.FINAL,
        source=Resolution.Source.MANUAL,
        decided_by=by,
        reason="Settled by the test.",
        resolved_at=now,
        finalized_at=now,
    )
    question.status = (
        Question.Status.ANNULLED
        if outcome == Resolution.Outcome.ANNULLED
        else Question.Status.RESOLVED
    )
    question.save(update_fields=["status"])
    return resolution


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_scoring_task(monkeypatch):
    # Tests here write scores themselves when they need them; scoring has its own tests.
    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)


@pytest.fixture
def site(db) -> Site:
    now = timezone.now()
    t = TournamentFactory(slug="ai-milestones", name="AI milestones", min_forecasters=2)
    private = TournamentFactory(
        slug="secret-club", name="Secret club", visibility=Tournament.Visibility.PRIVATE
    )
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    carol = UserFactory(username="carol")
    member = UserFactory(username="member")
    private.members.add(member)
    bench = BenchmarkFactory()
    for system, value, day in [
        ("GPT-4", 4.0, dt.date(2023, 3, 14)),
        ("o1", 40.0, dt.date(2024, 12, 5)),
    ]:
        BenchmarkResult.objects.create(benchmark=bench, system=system, value=value, achieved_on=day)
    open_q = QuestionFactory(tournament=t, key="open", title="Will the open question resolve YES?")
    milestone_q = QuestionFactory(
        tournament=t,
        key="metr",
        title="Will METR p50 reach 6,000 minutes?",
        benchmark=bench,
        comparator=Comparator.GE,
        threshold=6000,
        deadline=dt.date(2039, 12, 31),
    )
    closed_q = QuestionFactory(
        tournament=t,
        key="closed",
        title="A question that has closed",
        open_time=now - dt.timedelta(days=30),
        close_time=now - dt.timedelta(days=1),
        status=Question.Status.CLOSED,
    )
    upcoming_q = QuestionFactory(
        tournament=t,
        key="later",
        title="A question that opens later",
        open_time=now + dt.timedelta(days=5),
        close_time=now + dt.timedelta(days=50),
        status=Question.Status.UPCOMING,
    )
    resolved_q = QuestionFactory(
        tournament=t,
        key="resolved",
        title="A question that resolved",
        open_time=now - dt.timedelta(days=60),
        close_time=now + dt.timedelta(days=60),
    )
    annulled_q = QuestionFactory(tournament=t, key="annulled", title="An annulled question")
    private_q = QuestionFactory(tournament=private, key="secret", title="A secret question")
    # A third forecaster, so that the crowd is public (docs/privacy.md: three at least); at
    # the pool of the other two, which leaves the pool where it was (44.5%).
    dan = UserFactory(username="dan")
    for user, p in [(alice, 0.3), (bob, 0.6), (dan, 0.445)]:
        forecast(open_q, user, p)
        forecast(resolved_q, user, p, at=now - dt.timedelta(days=10))
    resolve(resolved_q, Resolution.Outcome.YES)
    resolve(annulled_q, Resolution.Outcome.ANNULLED)
    return Site(
        tournament=t,
        private=private,
        open_q=open_q,
        milestone_q=milestone_q,
        closed_q=closed_q,
        upcoming_q=upcoming_q,
        resolved_q=resolved_q,
        annulled_q=annulled_q,
        private_q=private_q,
        alice=alice,
        bob=bob,
        carol=carol,
        member=member,
    )


def login(user) -> Client:
    # force_login, not Client.login(): that calls authenticate() without a request, which
    # django-axes (first in AUTHENTICATION_BACKENDS) refuses. Posting the login form works.
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def carol_client(site) -> Client:
    return login(site.carol)
