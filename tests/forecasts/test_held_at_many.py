"""``forecasts_held_at`` with more distinct cutoffs than SQLite's expression depth (1,000)
allows in one OR: an import's scoring warms the held forecasts of 15,000 questions at once."""

from __future__ import annotations

import datetime as dt

import pytest

from forecasts.models import Forecast
from forecasts.selectors import HELD_CUTOFFS_PER_QUERY, forecasts_held_at
from markets.models import Question
from tests.factories import ForecasterFactory, TournamentFactory

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_many_distinct_cutoffs_read_in_batches() -> None:
    n = 2 * HELD_CUTOFFS_PER_QUERY + 300  # > 1,000 OR terms in one query: SQLite refuses
    tournament = TournamentFactory()
    questions = Question.objects.bulk_create(
        Question(
            tournament=tournament,
            key=f"q{i}",
            title=f"q{i}",
            open_time=T0,
            close_time=T0 + dt.timedelta(days=30),
        )
        for i in range(n)
    )
    a, b = ForecasterFactory(), ForecasterFactory()
    rows = []
    cutoffs = {}
    for i, q in enumerate(questions):
        cutoff = T0 + dt.timedelta(hours=1, seconds=i)  # one distinct cutoff per question
        cutoffs[q.pk] = cutoff
        rows += [
            Forecast(question=q, forecaster=a, probability=0.2, time=T0),
            Forecast(question=q, forecaster=a, probability=0.9, time=cutoff),  # at: held
            Forecast(question=q, forecaster=b, probability=0.4, time=T0),
            Forecast(
                question=q, forecaster=b, probability=0.7, time=cutoff + dt.timedelta(seconds=1)
            ),  # after: not held
        ]
    Forecast.objects.bulk_create(rows, batch_size=2_000)
    held = forecasts_held_at(cutoffs)
    assert held == {q.pk: {a.pk: 0.9, b.pk: 0.4} for q in questions}
