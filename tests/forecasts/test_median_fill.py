"""The median fill: exact medians, no question lock while it works, compare-and-set writes."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time

import numpy as np
import pytest
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasts import history, services, store
from forecasts.history import median_after, median_history
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import crowd_fill_medians, crowd_recompute, forecast_submit
from markets.models import Question
from tests.factories import ForecasterFactory, QuestionFactory

T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def medians(question: Question) -> list[float | None]:
    return list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("median", flat=True)
    )


def submit(question: Question, forecaster, p: float | None, minutes: float) -> None:
    at = T0 + dt.timedelta(minutes=minutes)
    if p is None:
        services.forecast_withdraw(question_id=question.pk, forecaster=forecaster, at=at)
    else:
        forecast_submit(question_id=question.pk, forecaster=forecaster, probability=p, at=at)


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 6), st.one_of(st.none(), st.sampled_from([0.1, 0.25, 0.5, 0.7, 0.9]))
        ),
        min_size=1,
        max_size=40,
    ),
    data=st.data(),
)
def test_median_after_equals_the_full_history_at_those_positions(events, data):
    forecaster = np.array([f for f, _ in events])
    probs = np.array([np.nan if p is None else p for _, p in events])
    positions = data.draw(st.lists(st.integers(0, len(events) - 1), min_size=1, max_size=10))
    full = median_history(forecaster, probs)
    # Replayed one by one on a sorted list, and (max_replay=0) by the vectorized pass.
    np.testing.assert_array_equal(median_after(forecaster, probs, positions), full[positions])
    np.testing.assert_array_equal(
        median_after(forecaster, probs, positions, max_replay=0), full[positions]
    )


def test_median_after_with_sparse_forecaster_ids_and_extreme_probabilities():
    forecaster = np.array([10**12, 5, 10**12, 7, 5])
    probs = np.array([0.0, 1.0, 0.5, np.nan, np.nan])
    full = median_history(forecaster, probs)
    np.testing.assert_array_equal(median_after(forecaster, probs, [4, 1, 3]), full[[4, 1, 3]])
    assert median_after(forecaster, probs, [1])[0] == pytest.approx(0.5)  # clipped 0.001, 0.999


def test_median_after_refuses_positions_outside_the_log():
    with pytest.raises(IndexError):
        median_after([1, 2], [0.2, 0.4], [2])
    assert median_after([1], [0.2], []).shape == (0,)


@pytest.mark.django_db
def test_fill_gives_the_recompute_medians_with_withdrawals_and_replacements():
    question = QuestionFactory()
    a, b, c = ForecasterFactory(), ForecasterFactory(), ForecasterFactory()
    for minutes, (who, p) in enumerate(
        [(a, 0.1), (b, 0.3), (c, 0.8), (a, 0.9), (b, None), (c, 0.2), (b, 0.6)]
    ):
        submit(question, who, p, minutes)
    assert medians(question) == [None] * 7
    assert crowd_fill_medians(question_id=question.pk) == 7
    # Active sets: {.1} {.1,.3} {.1,.3,.8} {.9,.3,.8} {.9,.8} {.9,.2} {.9,.2,.6}
    assert medians(question) == pytest.approx([0.1, 0.2, 0.3, 0.8, 0.85, 0.55, 0.6])
    assert CrowdState.objects.get(question=question).median == pytest.approx(0.6)
    assert crowd_fill_medians(question_id=question.pk) == 0  # idempotent
    filled = medians(question)
    crowd_recompute(question_id=question.pk)
    assert medians(question) == pytest.approx(filled)


@pytest.mark.django_db
def test_fill_after_a_recompute_fills_only_the_new_points():
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(4)]
    for i, p in enumerate([0.2, 0.4, 0.6]):
        submit(question, people[i], p, i)
    crowd_recompute(question_id=question.pk)  # every point exact
    submit(question, people[3], 0.9, 10)
    assert store.pending_medians(question.pk).tolist() == [
        Forecast.objects.filter(question=question).latest("time").pk
    ]
    assert crowd_fill_medians(question_id=question.pk) == 1
    assert medians(question) == pytest.approx([0.2, 0.3, 0.4, 0.5])


@pytest.mark.django_db
def test_a_point_replaced_by_a_recompute_meanwhile_keeps_its_exact_median(monkeypatch):
    """Compare-and-set: the fill read the log, then a backdated forecast rebuilt the history
    (exact medians for every point) before the fill wrote. The fill's medians, computed from the
    old log, must not overwrite the rebuilt ones; a point appended meanwhile stays pending."""
    question = QuestionFactory()
    a, b, c, d = (ForecasterFactory() for _ in range(4))
    submit(question, a, 0.1, 10)
    submit(question, b, 0.5, 20)
    load = store.load_events

    def load_then_race(question_id: int) -> store.EventLog:
        log = load(question_id)
        monkeypatch.setattr(store, "load_events", load)
        submit(question, c, 0.9, 5)  # backdated: a full recompute, medians included
        submit(question, d, 0.7, 30)  # appended after the read: pending
        return log

    monkeypatch.setattr(store, "load_events", load_then_race)
    assert crowd_fill_medians(question_id=question.pk) == 0
    # Log order c .9, a .1, b .5, d .7; the stale log would have given 0.1 and 0.3.
    assert medians(question) == pytest.approx([0.9, 0.5, 0.5, None])
    assert CrowdState.objects.get(question=question).median is None
    assert crowd_fill_medians(question_id=question.pk) == 1
    assert medians(question) == pytest.approx([0.9, 0.5, 0.5, 0.6])
    assert CrowdState.objects.get(question=question).median == pytest.approx(0.6)


@pytest.mark.django_db
def test_the_event_time_is_taken_once_the_question_lock_is_granted(monkeypatch):
    """A time taken before waiting for the lock makes concurrent writers commit out of time
    order, and the later one looks backdated (a full recompute under the lock)."""
    question = QuestionFactory(open_time=timezone.now() - dt.timedelta(days=1))
    granted: list[dt.datetime] = []
    lock = store.lock_question_and_state

    def slow_lock(question_id: int):
        locked = lock(question_id)
        time.sleep(0.01)  # the wait for a concurrent holder
        granted.append(timezone.now())
        return locked

    monkeypatch.setattr(store, "lock_question_and_state", slow_lock)
    forecast = forecast_submit(
        question_id=question.pk, forecaster=ForecasterFactory(), probability=0.3
    )
    assert forecast.time >= granted[0]


def _lock_is_free(question_id: int) -> bool:
    """From another connection: can the question's row lock be taken right now?"""
    free: list[bool] = []

    def probe() -> None:
        try:
            with transaction.atomic():
                Question.objects.select_for_update(nowait=True).filter(pk=question_id).first()
            free.append(True)
        except DatabaseError:
            free.append(False)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return free[0]


@pytest.mark.django_db(transaction=True)
def test_the_fill_reads_computes_and_writes_without_the_question_lock(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; CI runs this with DATABASE_URL set")
    monkeypatch.setattr(services, "_schedule_median_fill", lambda question_id: None)
    question = QuestionFactory()
    for i, p in enumerate([0.2, 0.4, 0.6, 0.8]):
        submit(question, ForecasterFactory(), p, i)
    seen: dict[str, bool] = {}
    compute, write = history.median_replay, store.fill_medians

    def watched_compute(*args):
        seen["compute"] = _lock_is_free(question.pk)
        return compute(*args)

    def watched_write(*args):
        seen["write"] = _lock_is_free(question.pk)
        return write(*args)

    monkeypatch.setattr(history, "median_replay", watched_compute)
    monkeypatch.setattr(store, "fill_medians", watched_write)
    assert crowd_fill_medians(question_id=question.pk) == 4
    assert seen == {"compute": True, "write": True}
    assert medians(question) == pytest.approx([0.2, 0.3, 0.4, 0.5])


def _no_whole_log_read(question_id: int) -> store.EventLog:
    raise AssertionError("the fill read the whole log despite a valid checkpoint")


@pytest.mark.django_db
def test_a_later_fill_reads_only_the_log_after_its_checkpoint(monkeypatch):
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(4)]
    for i, p in enumerate([0.2, 0.4, 0.6]):
        submit(question, people[i], p, i)
    assert crowd_fill_medians(question_id=question.pk) == 3
    checkpoint = store.median_checkpoint(question.pk)
    assert checkpoint is not None and checkpoint.seq == 3
    assert sorted(checkpoint.probability.tolist()) == [0.2, 0.4, 0.6]
    submit(question, people[3], 0.9, 10)
    submit(question, people[0], None, 11)  # a withdrawal
    submit(question, people[1], 0.1, 12)
    monkeypatch.setattr(store, "load_events", _no_whole_log_read)
    assert crowd_fill_medians(question_id=question.pk) == 3
    # {.2,.4,.6,.9} → withdraw .2 → {.4,.6,.9} → .4 becomes .1 → {.1,.6,.9}
    assert medians(question) == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6, 0.6])
    assert store.median_checkpoint(question.pk).seq == 6


@pytest.mark.django_db
def test_a_backdated_event_invalidates_the_checkpoint():
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(5)]
    for i, p in enumerate([0.2, 0.4, 0.6]):
        submit(question, people[i], p, 10 + i)
    crowd_fill_medians(question_id=question.pk)
    submit(question, people[3], 0.9, 1)  # backdated: the points after it are renumbered
    assert store.median_checkpoint(question.pk) is None
    submit(question, people[4], 0.3, 20)
    assert crowd_fill_medians(question_id=question.pk) == 1
    # Log order: .9, .2, .4, .6, .3
    assert medians(question) == pytest.approx([0.9, 0.55, 0.4, 0.5, 0.4])


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fills_between_random_submissions_give_the_recompute_medians(seed):
    import random

    rng = random.Random(seed)
    question = QuestionFactory()
    people = [ForecasterFactory() for _ in range(6)]
    minutes = 100.0
    for _ in range(40):
        roll = rng.random()
        who = rng.choice(people)
        if roll < 0.15:
            crowd_fill_medians(question_id=question.pk)
            continue
        if roll < 0.22:
            at = rng.uniform(0, minutes)  # backdated
        else:
            minutes += 1
            at = minutes
        p = None if roll > 0.9 else round(rng.uniform(0.01, 0.99), 2)
        with contextlib.suppress(services.NothingToWithdraw):
            submit(question, who, p, at)
    crowd_fill_medians(question_id=question.pk)
    filled = medians(question)
    assert (
        None not in filled[1:]
        or CrowdPoint.objects.filter(question=question, forecasters=0).exists()
    )
    crowd_recompute(question_id=question.pk)
    assert filled == pytest.approx(medians(question))


@pytest.mark.django_db
def test_an_event_appended_after_the_pending_read_is_filled_before_the_checkpoint(monkeypatch):
    """Otherwise its point stays empty behind the checkpoint, and every later fill falls back
    to reading the whole log."""
    question = QuestionFactory()
    a, b, c = ForecasterFactory(), ForecasterFactory(), ForecasterFactory()
    submit(question, a, 0.2, 1)
    submit(question, b, 0.4, 2)
    read = store.pending_medians

    def read_then_append(question_id: int):
        pending = read(question_id)
        submit(question, c, 0.9, 3)
        return pending

    monkeypatch.setattr(store, "pending_medians", read_then_append)
    assert crowd_fill_medians(question_id=question.pk) == 3
    monkeypatch.setattr(store, "pending_medians", read)
    assert medians(question) == pytest.approx([0.2, 0.3, 0.4])
    assert store.median_checkpoint(question.pk).seq == 3
    submit(question, a, 0.6, 4)
    monkeypatch.setattr(store, "load_events", _no_whole_log_read)
    assert crowd_fill_medians(question_id=question.pk) == 1
    assert medians(question) == pytest.approx([0.2, 0.3, 0.4, 0.6])


@pytest.mark.django_db(transaction=True)
def test_a_fill_skips_points_another_fill_holds_instead_of_waiting(monkeypatch):
    """Two fills updating overlapping points in different orders deadlocked (CI, 8 concurrent
    submitters with eager fills). A fill now skips a point another transaction holds."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; CI runs this with DATABASE_URL set")
    monkeypatch.setattr(services, "_schedule_median_fill", lambda question_id: None)
    question = QuestionFactory()
    for i, p in enumerate([0.2, 0.4]):
        submit(question, ForecasterFactory(), p, i)
    ids = store.pending_medians(question.pk)
    holding, release, results = threading.Event(), threading.Event(), []

    def other_fill() -> None:
        try:
            with transaction.atomic():
                store.fill_medians(question.pk, ids[:1], np.array([0.2]))
                holding.set()
                release.wait(10)
        finally:
            close_old_connections()
            connection.close()

    thread = threading.Thread(target=other_fill)
    thread.start()
    holding.wait(10)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # the old UPDATE waited here
            results.append(store.fill_medians(question.pk, ids[::-1], np.array([0.3, 0.2])))
    finally:
        release.set()
        thread.join()
    assert results == [1]  # the second point; the first was held, and is now filled by its holder
    assert medians(question) == pytest.approx([0.2, 0.3])
