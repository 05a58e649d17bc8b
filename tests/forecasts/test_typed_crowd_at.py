"""forecasts.typed_crowd.crowd_at: the crowd recomputed at a history point agrees with the point
the engine wrote (its summary) at every point, withdrawals and a half-life included."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from forecasts import distributions, typed
from forecasts.models import CrowdPoint
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from forecasts.typed_crowd import crowd_at, iso_of
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
