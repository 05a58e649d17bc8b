"""forecasts.typed_crowd.crowd_at: the crowd recomputed at a history point agrees with the point
the engine wrote (its summary) at every point, withdrawals and a half-life included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasts import distributions, typed
from forecasts.models import CrowdPoint, Forecast
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from forecasts.typed_crowd import _pool_at, crowd_at, iso_of
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("kind", ["multiple_choice", "numeric"])
def test_crowd_at_every_point_matches_the_stored_summary(kind):
    t = TournamentFactory(slug="t", half_life_hours=5.0, extremize=1.5)
    if kind == "multiple_choice":
        q = QuestionFactory(tournament=t, type=kind, options=["A", "B", "C"], open_time=T0)
    else:
        q = QuestionFactory(
            tournament=t, type=kind, range_min=0.0, range_max=10.0, open_upper_bound=True,
            open_time=T0,
        )  # fmt: skip
    rng = np.random.default_rng(7)
    users = [forecaster_for_user(UserFactory(username=f"u{i}")) for i in range(4)]
    scale = distributions.Scale(0.0, 10.0, False, True)
    for step in range(12):
        f = users[step % 4]
        at = T0 + dt.timedelta(hours=step)
        if step == 6:
            forecast_withdraw(question_id=q.pk, forecaster=f, at=at)
            continue
        if kind == "multiple_choice":
            p = rng.dirichlet([2, 2, 2]) * 0.99 + 0.0033
            values = p / p.sum()
        else:
            mid = float(rng.uniform(2, 8))
            values = distributions.cdf_from_mixture([(1.0, mid, 0.08)], scale)
        forecast_submit(question_id=q.pk, forecaster=f, values=values, at=at)
    q.refresh_from_db()
    summarize = typed.summarizer(q)
    points = list(CrowdPoint.objects.filter(question=q).order_by("seq"))
    assert len(points) == 12
    for point in points:
        crowd = crowd_at(q, point.seq)
        assert crowd is not None and crowd.forecasters == point.forecasters
        stored = typed.from_bytes(point.summary)
        assert summarize(crowd.pooled[None, :])[0] == pytest.approx(stored, abs=1e-9)
        assert crowd.linear.sum() == pytest.approx(1.0)
        if kind == "multiple_choice":
            assert crowd.median is not None and crowd.median.sum() == pytest.approx(1.0)
    assert crowd_at(q, 13) is None and crowd_at(q, 0) is None
    # The last point is the live crowd.
    state_vector = typed.from_bytes(q.crowd.vector)
    last = crowd_at(q, 12)
    assert last is not None
    assert typed.crowd_vector(q, last.pooled) == pytest.approx(state_vector, abs=1e-9)


def test_iso_of():
    assert iso_of(0.0) == "1970-01-01T00:00:00Z"
    assert iso_of(1767225600.5) == "2026-01-01T00:00:00Z"
    assert iso_of(1e20) == "9999-12-31T23:59:59Z"


# --- the cache --------------------------------------------------------------------------------


def mc_with_forecasts(**tournament):
    t = TournamentFactory(slug="tc", **tournament)
    q = QuestionFactory(tournament=t, type="multiple_choice", options=["A", "B", "C"], open_time=T0)
    users = [forecaster_for_user(UserFactory(username=f"c{i}")) for i in range(5)]
    vectors = ([0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8])
    for i, (f, v) in enumerate(zip(users, vectors, strict=True)):
        forecast_submit(question_id=q.pk, forecaster=f, values=np.array(v), at=T0 + i * HOUR)
    q.refresh_from_db()
    return q, users


HOUR = dt.timedelta(hours=1)


def same(a, b) -> bool:
    return (
        a.forecasters == b.forecasters
        and np.array_equal(a.pooled, b.pooled)
        and np.array_equal(a.linear, b.linear)
        and np.array_equal(a.median, b.median)
    )


def test_crowd_at_is_computed_once_per_point(django_assert_max_num_queries):
    q, _ = mc_with_forecasts(half_life_hours=3.0)
    first = crowd_at(q, 4)
    with django_assert_max_num_queries(3):  # the point, its event, the frozen weights: no log
        again = crowd_at(q, 4)
    assert first is not None and again is not None and same(first, again)
    assert same(first, _pool_at(q, *Forecast.objects.filter(pk=first_event(q, 4)).values_list(
        "id", "time").get()))  # fmt: skip


def first_event(q, seq):
    return CrowdPoint.objects.get(question=q, seq=seq).forecast_id


def test_a_later_event_leaves_an_earlier_point_cached_and_computes_its_own():
    q, users = mc_with_forecasts()
    before = crowd_at(q, 5)
    forecast_submit(
        question_id=q.pk, forecaster=users[0], values=np.array([0.1, 0.8, 0.1]), at=T0 + 9 * HOUR
    )
    assert same(crowd_at(q, 5), before)
    after = crowd_at(q, 6)
    assert after is not None and not np.array_equal(after.pooled, before.pooled)


def test_changed_pool_parameters_or_weights_are_not_served_from_the_cache():
    from forecasts.models import TrackRecordWeight

    q, users = mc_with_forecasts()
    plain = crowd_at(q, 5)
    t = q.tournament
    t.extremize = 2.0
    t.save()
    q.refresh_from_db()
    extremized = crowd_at(q, 5)
    assert extremized is not None and plain is not None
    assert not np.array_equal(extremized.pooled, plain.pooled)
    # Track-record weights: a changed a_i gives another crowd, not the cached one.
    t.track_record_weighting = True
    t.save()
    q.refresh_from_db()
    even = crowd_at(q, 5)
    TrackRecordWeight.objects.create(tournament=t, forecaster=users[4], weight=3.0, questions=1)
    weighted = crowd_at(q, 5)
    assert even is not None and weighted is not None
    assert same(weighted, _pool_at(q, *Forecast.objects.filter(pk=first_event(q, 5)).values_list(
        "id", "time").get()))  # fmt: skip
    assert not np.array_equal(weighted.pooled, even.pooled)


def test_a_failing_cache_only_costs_the_recompute(monkeypatch):
    import forecasts.typed_crowd as typed_crowd

    q, _ = mc_with_forecasts()
    expected = crowd_at(q, 5)

    class Broken:
        def get(self, *args, **kwargs):
            raise ConnectionError("cache down")

        set = get

    monkeypatch.setattr(typed_crowd, "cache", Broken())
    got = crowd_at(q, 5)
    assert expected is not None and got is not None and same(got, expected)
