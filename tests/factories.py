"""factory_boy factories shared by the test suite."""

from __future__ import annotations

import datetime as dt

import factory
from django.contrib.auth import get_user_model

from forecasts.models import Forecast, Forecaster
from markets.models import Benchmark, Question, Tournament

UTC = dt.UTC


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("correct-horse-battery")


class ForecasterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Forecaster

    user = factory.SubFactory(UserFactory)


class TournamentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tournament
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tournament-{n}")
    name = factory.LazyAttribute(lambda t: t.slug.replace("-", " ").title())
    min_forecasters = 1


class QuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Question

    tournament = factory.SubFactory(TournamentFactory)
    key = factory.Sequence(lambda n: f"q{n}")
    title = factory.Sequence(lambda n: f"Will event {n} happen?")
    open_time = dt.datetime(2020, 1, 1, tzinfo=UTC)
    close_time = dt.datetime(2040, 1, 1, tzinfo=UTC)
    status = Question.Status.OPEN


class BenchmarkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Benchmark
        django_get_or_create = ("slug",)

    slug = "metr-p50"
    name = "METR time horizon (p50)"
    unit = "minutes"


def current_forecast(*, question_id: int, forecaster: Forecaster) -> Forecast | None:
    """The forecaster's current forecast on the question: their last event, unless a withdrawal."""
    latest = (
        Forecast.objects.filter(question_id=question_id, forecaster=forecaster)
        .order_by("-time", "-id")
        .first()
    )
    if latest is None or latest.kind == Forecast.Kind.WITHDRAWAL:
        return None
    return latest
