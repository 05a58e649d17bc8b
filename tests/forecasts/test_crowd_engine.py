"""The O(1) crowd engine against a from-scratch recompute, and the submission rules."""

from __future__ import annotations

import datetime as dt
import math
import threading

import pytest
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasts.errors import InvalidProbability, NothingToWithdraw, QuestionNotOpen
from forecasts.history import pool_history
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import (
    crowd_recompute,
    crowd_weights,
    forecast_submit,
    forecast_withdraw,
)
from forecasts.store import load_events
from markets.models import Question
from tests.factories import (
    ForecasterFactory,
    QuestionFactory,
    TournamentFactory,
    current_forecast,
)

UTC = dt.UTC
T0 = dt.datetime(2030, 1, 1, tzinfo=UTC)


def stored(question: Question) -> list[tuple[int, float | None, float | None]]:
    return list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("forecasters", "probability", "mean")
    )


def assert_matches_recompute(question: Question) -> None:
    question.refresh_from_db()
    t = question.tournament
    ev = load_events(question.pk)
    hist = (
        pool_history(
            ev.times,
            ev.forecaster,
            ev.probs,
            track_record_weight=crowd_weights(question, ev.forecaster),
            extremize=t.effective_extremize,
            base_logit=t.base_logit,
            half_life=t.half_life_seconds,
        )
        if len(ev.ids)
        else None
    )
    points = stored(question)
    if hist is None:
        assert points == []
        assert not CrowdState.objects.filter(question=question, events__gt=0).exists()
        return
    assert len(points) == len(hist)
    for (n, p, mean), hn, hp, hm in zip(
        points, hist.forecasters, hist.probability, hist.mean, strict=True
    ):
        assert n == hn
        if n == 0:
            assert p is None and mean is None
        else:
            assert abs(p - hp) <= 1e-9
            assert abs(mean - hm) <= 1e-9
    state = CrowdState.objects.get(question=question)
    if len(hist):
        last = hist.probability[-1]
        assert (state.probability is None) == math.isnan(last)
        if state.probability is not None:
            assert abs(state.probability - last) <= 1e-9


@pytest.mark.django_db
def test_submit_update_and_withdraw_move_the_crowd():
    question = QuestionFactory()
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=question.pk, forecaster=a, probability=0.2, at=T0)
    forecast_submit(
        question_id=question.pk, forecaster=b, probability=0.8, at=T0 + dt.timedelta(hours=1)
    )
    assert question.crowd.probability == pytest.approx(0.5)
    forecast_submit(
        question_id=question.pk, forecaster=b, probability=0.9, at=T0 + dt.timedelta(hours=2)
    )
    question.crowd.refresh_from_db()
    # Geometric mean of odds of 0.2 and 0.9: sqrt(0.25 · 9) = 1.5 → 0.6
    assert question.crowd.probability == pytest.approx(0.6)
    assert question.crowd.forecasters == 2
    forecast_withdraw(question_id=question.pk, forecaster=a, at=T0 + dt.timedelta(hours=3))
    question.crowd.refresh_from_db()
    assert question.crowd.probability == pytest.approx(0.9)
    assert current_forecast(question_id=question.pk, forecaster=a) is None
    assert [p[0] for p in stored(question)] == [1, 2, 2, 1]
    assert Forecast.objects.filter(question=question).count() == 4  # the log is append-only


@pytest.mark.django_db
def test_medians_are_filled_after_commit():
    question = QuestionFactory()
    for i, p in enumerate([0.1, 0.3, 0.8]):
        forecast_submit(
            question_id=question.pk,
            forecaster=ForecasterFactory(),
            probability=p,
            at=T0 + dt.timedelta(minutes=i),
        )
    # Tests run inside a transaction: run the after-commit median fill explicitly.
    from forecasts.services import crowd_fill_medians

    crowd_fill_medians(question_id=question.pk)
    medians = list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("median", flat=True)
    )
    assert medians == pytest.approx([0.1, 0.2, 0.3])


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, "abc", "nan", None, "", 0.0009, 0.9991])
def test_invalid_probabilities_are_rejected_and_change_nothing(bad):
    question = QuestionFactory()
    with pytest.raises(InvalidProbability):
        forecast_submit(question_id=question.pk, forecaster=ForecasterFactory(), probability=bad)
    assert Forecast.objects.count() == 0
    assert CrowdPoint.objects.count() == 0


@pytest.mark.django_db
def test_forecast_after_close_is_rejected_even_before_the_sweep_runs():
    question = QuestionFactory(close_time=T0)  # status still OPEN: the sweep has not run
    with pytest.raises(QuestionNotOpen, match="closed"):
        forecast_submit(
            question_id=question.pk,
            forecaster=ForecasterFactory(),
            probability=0.5,
            at=T0 + dt.timedelta(seconds=1),
        )
    assert Forecast.objects.count() == 0


@pytest.mark.django_db
def test_forecast_before_open_and_on_resolved_questions_is_rejected():
    upcoming = QuestionFactory(open_time=T0, status=Question.Status.UPCOMING)
    with pytest.raises(QuestionNotOpen, match="opens for forecasts"):
        forecast_submit(
            question_id=upcoming.pk,
            forecaster=ForecasterFactory(),
            probability=0.5,
            at=T0 - dt.timedelta(days=1),
        )
    resolved = QuestionFactory(status=Question.Status.RESOLVED)
    with pytest.raises(QuestionNotOpen, match="resolved"):
        forecast_submit(question_id=resolved.pk, forecaster=ForecasterFactory(), probability=0.5)
    assert Forecast.objects.count() == 0


@pytest.mark.django_db
def test_withdrawing_without_a_forecast_is_an_error():
    question = QuestionFactory()
    with pytest.raises(NothingToWithdraw):
        forecast_withdraw(question_id=question.pk, forecaster=ForecasterFactory())
    assert Forecast.objects.count() == 0


@pytest.mark.django_db
def test_the_database_refuses_out_of_range_probabilities():
    from django.db import IntegrityError, transaction

    question = QuestionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Forecast.objects.create(question=question, forecaster=ForecasterFactory(), probability=1.0)


@pytest.mark.django_db
def test_backdated_event_triggers_a_consistent_recompute():
    question = QuestionFactory()
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(
        question_id=question.pk,
        forecaster=a,
        probability=0.3,
        at=T0 + dt.timedelta(hours=2, microseconds=987_653),
    )
    forecast_submit(
        question_id=question.pk,
        forecaster=b,
        probability=0.7,
        at=T0 + dt.timedelta(microseconds=123_457),
    )
    assert [p[0] for p in stored(question)] == [1, 2]
    assert stored(question)[0][1] == pytest.approx(0.7)
    assert_matches_recompute(question)
    # Rebuilt points keep their events' exact times (to the microsecond).
    for point in CrowdPoint.objects.filter(question=question).select_related("forecast"):
        assert point.time == point.forecast.time


@pytest.mark.django_db
def test_changing_tournament_parameters_recomputes_on_the_next_event():
    question = QuestionFactory()
    forecast_submit(question_id=question.pk, forecaster=ForecasterFactory(), probability=0.2, at=T0)
    forecast_submit(
        question_id=question.pk,
        forecaster=ForecasterFactory(),
        probability=0.6,
        at=T0 + dt.timedelta(minutes=1),
    )
    t = question.tournament
    t.extremize = 2.0
    t.save()
    forecast_submit(
        question_id=question.pk,
        forecaster=ForecasterFactory(),
        probability=0.9,
        at=T0 + dt.timedelta(minutes=2),
    )
    assert question.crowd.probability == pytest.approx(0.692308, abs=1e-6)  # docs/methods.md §2.8
    assert_matches_recompute(question)


event_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=5),  # forecaster
        st.one_of(st.none(), st.floats(min_value=0.001, max_value=0.999)),  # None = withdraw
        st.integers(min_value=0, max_value=20_000),  # seconds since the previous event
    ),
    min_size=1,
    max_size=40,
)


@pytest.mark.django_db
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=event_strategy,
    extremize=st.sampled_from([1.0, 1.5, 3.0]),
    base_rate=st.sampled_from([0.5, 0.2]),
    half_life_hours=st.sampled_from([None, 0.5, 24.0]),
)
def test_stored_crowd_equals_a_from_scratch_recompute(
    events, extremize, base_rate, half_life_hours
):
    tournament = TournamentFactory(
        extremize=extremize, base_rate=base_rate, half_life_hours=half_life_hours
    )
    question = QuestionFactory(tournament=tournament)
    people = [ForecasterFactory() for _ in range(6)]
    at = T0
    for who, p, gap in events:
        at = at + dt.timedelta(seconds=gap)
        if p is None:
            try:
                forecast_withdraw(question_id=question.pk, forecaster=people[who], at=at)
            except NothingToWithdraw:
                continue
        else:
            forecast_submit(question_id=question.pk, forecaster=people[who], probability=p, at=at)
    assert_matches_recompute(question)
    before = stored(question)
    crowd_recompute(question_id=question.pk)
    after = stored(question)
    for (n1, p1, m1), (n2, p2, m2) in zip(before, after, strict=True):
        assert n1 == n2
        if p1 is not None:
            assert abs(p1 - p2) <= 1e-9 and abs(m1 - m2) <= 1e-9


@pytest.mark.django_db(transaction=True)
def test_concurrent_submissions_lose_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; CI runs this with DATABASE_URL set")
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(8)]
    per_thread = 500
    errors: list[BaseException] = []

    def work(forecaster) -> None:
        try:
            for i in range(per_thread):
                forecast_submit(
                    question_id=question.pk,
                    forecaster=forecaster,
                    probability=0.05 + 0.9 * ((i * 37 + forecaster.pk) % 100) / 100,
                )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(f,)) for f in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert Forecast.objects.filter(question=question).count() == 8 * per_thread
    assert CrowdPoint.objects.filter(question=question).count() == 8 * per_thread
    assert_matches_recompute(question)
