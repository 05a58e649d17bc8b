"""Cohorts: bots out of the default crowd (unless the tournament says so), in the bots and
everyone cohorts; stored cohort states equal a from-scratch recompute (docs/methods.md §16.2)."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from forecasts import cohorts, pooling
from forecasts.bots import bot_create, builtin_bot
from forecasts.history import pool_history
from forecasts.models import CohortState, CrowdPoint, CrowdState
from forecasts.services import crowd_recompute, forecast_submit, forecast_withdraw
from forecasts.store import load_events
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=False)
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def _people_and_bots(n_people: int = 5, n_bots: int = 3):
    people = [ForecasterFactory() for _ in range(n_people)]
    owner = UserFactory()
    bots = [bot_create(owner=owner, name=f"bot-{i}") for i in range(n_bots - 1)]
    bots.append(builtin_bot("trend-bot"))
    return people, bots


def test_bots_are_left_out_of_the_default_crowd_and_counted_in_bots_and_everyone():
    question = QuestionFactory()
    people, bots = _people_and_bots(3, 2)
    for i, f in enumerate(people):
        forecast_submit(
            question_id=question.pk, forecaster=f, probability=0.2, at=T0 + dt.timedelta(hours=i)
        )
    for i, b in enumerate(bots):
        forecast_submit(
            question_id=question.pk,
            forecaster=b,
            probability=0.9,
            at=T0 + dt.timedelta(days=1, hours=i),
        )
    crowd = CrowdState.objects.get(question=question)
    assert crowd.forecasters == 3
    assert crowd.probability == pytest.approx(0.2, abs=1e-12)
    assert CrowdPoint.objects.filter(question=question).count() == 3  # no point for bot events
    states = cohorts.cohort_states(question)
    assert states["humans"].forecasters == 3
    assert states["bots"].forecasters == 2
    assert states["bots"].probability == pytest.approx(0.9, abs=1e-12)
    assert states["everyone"].forecasters == 5
    expected = pooling.log_pool([0.2, 0.2, 0.2, 0.9, 0.9])
    assert states["everyone"].probability == pytest.approx(expected, abs=1e-12)
    # A recompute of the default crowd leaves the bots out as well.
    crowd_recompute(question_id=question.pk)
    crowd = CrowdState.objects.get(question=question)
    assert crowd.forecasters == 3 and CrowdPoint.objects.filter(question=question).count() == 3


def test_a_tournament_may_count_bots_in_its_default_crowd():
    question = QuestionFactory(tournament=TournamentFactory(bots_in_crowd=True))
    people, bots = _people_and_bots(2, 1)
    forecast_submit(question_id=question.pk, forecaster=people[0], probability=0.3, at=T0)
    forecast_submit(
        question_id=question.pk, forecaster=bots[0], probability=0.8, at=T0 + dt.timedelta(hours=1)
    )
    crowd = CrowdState.objects.get(question=question)
    assert crowd.forecasters == 2
    assert crowd.probability == pytest.approx(pooling.log_pool([0.3, 0.8]), abs=1e-12)
    assert cohorts.default_cohort(question.tournament) == "everyone"


def _random_log(question, forecasters, seed: int, n: int = 120) -> None:
    rng = random.Random(seed)
    active: set[int] = set()
    at = T0
    for _ in range(n):
        f = rng.choice(forecasters)
        at += dt.timedelta(minutes=rng.randint(1, 600))
        if f.pk in active and rng.random() < 0.2:
            forecast_withdraw(question_id=question.pk, forecaster=f, at=at)
            active.discard(f.pk)
        else:
            p = rng.choice([0.001, 0.999, rng.random() * 0.98 + 0.01])
            forecast_submit(question_id=question.pk, forecaster=f, probability=p, at=at)
            active.add(f.pk)


@pytest.mark.parametrize("half_life_hours", [None, 24.0])
@pytest.mark.parametrize("bots_in_crowd", [False, True])
def test_stored_cohort_states_equal_a_recompute_with_updates_and_withdrawals(
    half_life_hours, bots_in_crowd
):
    tournament = TournamentFactory(
        half_life_hours=half_life_hours, extremize=1.5, bots_in_crowd=bots_in_crowd
    )
    question = QuestionFactory(tournament=tournament)
    people, bots = _people_and_bots(6, 3)
    _random_log(question, people + bots, seed=7 if bots_in_crowd else 11)
    stored = {s.cohort: s for s in CohortState.objects.filter(question=question)}
    assert set(stored) == set(cohorts.COHORTS)
    for cohort in cohorts.COHORTS:
        fresh = cohorts.cohort_compute(question, cohort)
        state = stored[cohort]
        assert state.forecasters == fresh.forecasters
        if fresh.probability is None:
            assert state.probability is None
            continue
        assert abs(state.probability - fresh.probability) <= 1e-9
        assert abs(state.mean - fresh.mean) <= 1e-9
    # The default crowd is the humans cohort, or everyone.
    crowd = CrowdState.objects.get(question=question)
    default = stored[cohorts.default_cohort(tournament)]
    assert crowd.forecasters == default.forecasters
    if crowd.probability is not None:
        assert abs(crowd.probability - default.probability) <= 1e-9
    # Each cohort's history equals pool_history on the cohort's events; the default crowd's
    # stored history equals the default cohort's.
    ev = load_events(question.pk)
    bot_ids = cohorts.bot_ids()
    for cohort in cohorts.COHORTS:
        hist = cohorts.cohort_history(question, cohort)
        mask = cohorts.cohort_mask(ev.forecaster, cohort, bot_ids)
        ref = pool_history(
            ev.times[mask],
            ev.forecaster[mask],
            ev.probs[mask],
            extremize=1.5,
            half_life=None if half_life_hours is None else half_life_hours * 3600,
        )
        assert len(hist.stamps) == int(mask.sum())
        np.testing.assert_allclose(hist.probability, ref.probability, atol=1e-9, equal_nan=True)
        np.testing.assert_array_equal(hist.forecasters, ref.forecasters)
    points = np.array(
        [
            np.nan if p is None else p
            for p in CrowdPoint.objects.filter(question=question)
            .order_by("seq")
            .values_list("probability", flat=True)
        ]
    )
    default_hist = cohorts.cohort_history(question, cohorts.default_cohort(tournament))
    np.testing.assert_allclose(points, default_hist.probability, atol=1e-9, equal_nan=True)


def test_cohort_states_follow_a_bulk_write_they_did_not_see():
    question = QuestionFactory()
    people, bots = _people_and_bots(2, 1)
    forecast_submit(question_id=question.pk, forecaster=people[0], probability=0.3, at=T0)
    # Written behind the services' back (as a bulk import does): the read notices and rebuilds.
    from forecasts.models import Forecast

    Forecast.objects.create(
        question=question, forecaster=bots[0], probability=0.7, time=T0 + dt.timedelta(hours=1)
    )
    states = cohorts.cohort_states(question)
    assert states["bots"].forecasters == 1
    assert states["everyone"].probability == pytest.approx(pooling.log_pool([0.3, 0.7]))
