"""The public crowd series (forecasts.privacy, docs/privacy.md): which points are public, the
same from the O(1) write path, a recompute, the migration's backfill and verify_crowd."""

from __future__ import annotations

import datetime as dt
import io
import random

import numpy as np
import pytest
from django.core.management import call_command

from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.privacy import BATCH, public_series
from forecasts.services import crowd_recompute, forecast_submit, forecast_withdraw
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def test_batch_is_three():
    assert BATCH == 3


def test_a_point_is_public_after_three_distinct_forecasters_with_three_active():
    # Forecasters a=1, b=2, c=3, d=4 at increasing times (one event each minute).
    who = [1, 2, 3, 1, 1, 1, 2, 4, 3, 2, 2, 2]
    times = np.arange(len(who), dtype=np.float64)
    active = np.array([1, 2, 3, 3, 3, 3, 3, 4, 4, 4, 4, 4])
    series = public_series(times, np.array(who, dtype=np.int64), active)
    # #3: a, b, c joined. Then a updates three times (one forecaster, not three), b updates,
    # d joins: a, b, d — public at #8. Then c, b, b, b: only two distinct, still open.
    assert series.seq.tolist() == [0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0]
    assert (series.public_points, series.batch_since, series.batch_forecasters) == (2, 7.0, 2)


def test_no_public_point_pools_fewer_than_three():
    # Three forecasters join but two withdraw in between: the batch is complete, yet a point
    # of one forecaster is that person's forecast.
    who = np.array([1, 2, 2, 3, 4, 5], dtype=np.int64)
    active = np.array([1, 2, 1, 2, 3, 4])
    series = public_series(np.arange(6, dtype=np.float64), who, active)
    assert series.seq.tolist() == [0, 0, 0, 0, 1, 0]


def test_an_event_at_the_same_instant_as_the_last_public_point_does_not_count_again():
    # b's first event shares the instant of c's, the public point: b's update after it is not
    # counted (it could only be told apart by event ids, which the write path does not read),
    # so the batch after the public point counts d and e only: two.
    who = np.array([1, 2, 3, 2, 4, 5], dtype=np.int64)
    times = np.array([0.0, 2.0, 2.0, 2.0, 3.0, 4.0])
    active = np.array([1, 2, 3, 3, 4, 5])
    series = public_series(times, who, active)
    assert series.seq.tolist() == [0, 0, 1, 0, 0, 0]
    assert series.batch_forecasters == 2


def _random_log(question, rng: random.Random, people, n: int) -> None:
    minute = 0
    for _ in range(n):
        f = rng.choice(people)
        minute += rng.choice([0, 1, 1, 2])  # ties of times included
        at = T0 + dt.timedelta(minutes=minute)
        if rng.random() < 0.15:
            try:
                forecast_withdraw(question_id=question.pk, forecaster=f, at=at)
            except Exception:  # nothing to withdraw: the event is rolled back
                continue
        else:
            forecast_submit(
                question_id=question.pk, forecaster=f, probability=rng.uniform(0.01, 0.99), at=at
            )


def _public(question) -> list[tuple[int, int | None]]:
    return list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("forecast_id", "public_seq")
    )


def _batch_state(question) -> tuple:
    state = CrowdState.objects.get(question=question)
    return state.public_points, state.batch_since, state.batch_forecasters


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_write_path_marks_the_same_points_as_a_recompute(seed):
    rng = random.Random(seed)
    question = QuestionFactory(tournament=TournamentFactory(min_forecasters=2))
    people = [ForecasterFactory() for _ in range(7)]
    _random_log(question, rng, people, 80)
    written, state = _public(question), _batch_state(question)
    assert any(s for _, s in written) and any(s is None for _, s in written)
    crowd_recompute(question_id=question.pk)
    assert _public(question) == written
    assert _batch_state(question) == state
    out = io.StringIO()
    call_command("verify_crowd", "--no-progress", stdout=out)
    assert "match a recompute" in out.getvalue()


@pytest.mark.django_db
def test_verify_crowd_reports_a_wrong_public_series():
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(4)]
    for i, f in enumerate(people):
        forecast_submit(
            question_id=question.pk, forecaster=f, probability=0.5, at=T0 + dt.timedelta(i)
        )
    CrowdPoint.objects.filter(question=question, seq=2).update(public_seq=7)
    with pytest.raises(Exception, match="differ"):
        call_command("verify_crowd", "--no-progress", stdout=io.StringIO())


@pytest.mark.django_db
def test_changing_min_forecasters_never_moves_a_batch_boundary():
    """Re-batching would let a saved old series be differenced against the new one; the
    setting only decides which public points are shown."""
    tournament = TournamentFactory(min_forecasters=3)
    question = QuestionFactory(tournament=tournament)
    _random_log(question, random.Random(7), [ForecasterFactory() for _ in range(6)], 40)
    before = _public(question)
    tournament.min_forecasters = 5
    tournament.save()
    crowd_recompute(question_id=question.pk)
    assert _public(question) == before


@pytest.mark.django_db
def test_the_migration_backfills_existing_histories_as_a_recompute_would():
    import importlib

    from django.apps import apps
    from django.db import connection

    question = QuestionFactory()
    _random_log(question, random.Random(11), [ForecasterFactory() for _ in range(6)], 50)
    expected, state = _public(question), _batch_state(question)
    CrowdPoint.objects.filter(question=question).update(public_seq=None)
    CrowdState.objects.filter(question=question).update(
        public_points=0, batch_since=None, batch_forecasters=0
    )
    migration = importlib.import_module("forecasts.migrations.0011_crowd_public_series")

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection  # type: ignore[attr-defined]
    migration.mark_public_points(apps, editor)
    assert _public(question) == expected
    assert _batch_state(question) == state
    assert Forecast.objects.filter(question=question).count() == len(expected)
