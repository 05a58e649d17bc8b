"""The write path's data access: the fused PostgreSQL statements against the ORM path.

``forecasts.store`` does each step of a submission in one statement on PostgreSQL and in
several ORM statements elsewhere. Both must write exactly the same rows; on PostgreSQL (CI)
this runs the same event sequence through each and compares everything they wrote.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import close_old_connections, connection

from forecasts import store
from forecasts.errors import NothingToWithdraw, QuestionNotFound
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.services import crowd_recompute, forecast_submit, forecast_withdraw
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory
from tests.forecasts.test_crowd_engine import assert_matches_recompute

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

# (minutes after T0, forecaster index, probability or None for a withdrawal)
SEQUENCE = [
    (0, 0, 0.2), (1, 1, 0.7), (2, 2, 0.55), (3, 0, 0.35), (4, 1, None), (5, 3, 0.9),
    (6, 1, 0.6), (7, 2, None), (8, 2, 0.05), (9, 0, 0.999), (10, 3, 0.001), (11, 0, None),
]  # fmt: skip


def _replay(question, people, *, fused: bool, monkeypatch) -> None:
    monkeypatch.setattr(store, "FUSED_ON_POSTGRESQL", fused)
    for minutes, who, p in SEQUENCE:
        at = T0 + dt.timedelta(minutes=minutes, microseconds=123_457)
        if p is None:
            forecast_withdraw(question_id=question.pk, forecaster=people[who], at=at)
        else:
            forecast_submit(question_id=question.pk, forecaster=people[who], probability=p, at=at)
    # A withdrawal with nothing to withdraw writes nothing, on either path.
    with pytest.raises(NothingToWithdraw):
        forecast_withdraw(
            question_id=question.pk, forecaster=people[4], at=T0 + dt.timedelta(hours=1)
        )


def _written(question, people) -> dict:
    who = {f.pk: i for i, f in enumerate(people)}
    state = CrowdState.objects.get(question=question)
    return {
        "forecasts": [
            (who[f], kind, p, t, a, r)
            for f, kind, p, t, a, r in Forecast.objects.filter(question=question)
            .order_by("time", "id")
            .values_list(
                "forecaster_id", "kind", "probability", "time", "track_record_weight", "rationale"
            )
        ],
        "points": list(
            CrowdPoint.objects.filter(question=question)
            .order_by("seq")
            .values_list(
                "seq", "time", "forecasters", "probability", "mean", "median", "public_seq"
            )
        ),
        "point_events": [
            Forecast.objects.get(pk=pk).time
            for pk in CrowdPoint.objects.filter(question=question)
            .order_by("seq")
            .values_list("forecast_id", flat=True)
        ],
        "state": {
            f: getattr(state, f)
            for f in (
                "sum_wl",
                "sum_w",
                "sum_p",
                "t0",
                "forecasters",
                "probability",
                "mean",
                "events",
                "last_time",
                "params",
                "public_points",
                "batch_since",
                "batch_forecasters",
            )
        },
    }


def test_fused_and_orm_paths_write_the_same_rows(monkeypatch):
    tournament = TournamentFactory(half_life_hours=72.0)
    people = [ForecasterFactory() for _ in range(5)]
    fused_q = QuestionFactory(tournament=tournament, open_time=T0 - dt.timedelta(days=1))
    orm_q = QuestionFactory(tournament=tournament, open_time=T0 - dt.timedelta(days=1))
    _replay(fused_q, people, fused=True, monkeypatch=monkeypatch)
    _replay(orm_q, people, fused=False, monkeypatch=monkeypatch)
    assert _written(fused_q, people) == _written(orm_q, people)
    assert_matches_recompute(fused_q)


def test_a_question_without_crowd_state_gets_one(monkeypatch):
    question = QuestionFactory(open_time=T0 - dt.timedelta(days=1))
    person = ForecasterFactory()
    forecast_submit(question_id=question.pk, forecaster=person, probability=0.3, at=T0)
    forecast_withdraw(question_id=question.pk, forecaster=person, at=T0 + dt.timedelta(seconds=1))
    Forecast.objects.filter(question=question).delete()
    crowd_recompute(question_id=question.pk)  # an emptied log drops the state row
    assert not CrowdState.objects.filter(question=question).exists()
    forecast_submit(
        question_id=question.pk, forecaster=person, probability=0.4, at=T0 + dt.timedelta(seconds=2)
    )
    assert CrowdState.objects.get(question=question).forecasters == 1
    assert_matches_recompute(question)


def test_a_missing_or_invisible_question_is_not_found(django_user_model):
    outsider = django_user_model.objects.create_user("outsider")
    private = QuestionFactory(tournament=TournamentFactory(visibility="private"))
    person = ForecasterFactory()
    with pytest.raises(QuestionNotFound):
        forecast_submit(question_id=private.pk, forecaster=person, probability=0.5, viewer=outsider)
    with pytest.raises(QuestionNotFound):
        forecast_submit(question_id=private.pk + 1000, forecaster=person, probability=0.5)
    assert not Forecast.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_one_forecaster_submitting_concurrently_keeps_one_term():
    """Two requests of the same forecaster at once: the second must see the first as previous."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; CI runs this with DATABASE_URL set")
    question = QuestionFactory()
    person = ForecasterFactory()
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for i in range(150):
                p = 0.05 + 0.9 * ((i * 13 + offset) % 50) / 50
                forecast_submit(question_id=question.pk, forecaster=person, probability=p)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert CrowdState.objects.get(question=question).forecasters == 1
    assert_matches_recompute(question)


def test_the_submission_response_equals_the_documented_serializer():
    from api.forecasts import forecast_data
    from api.serializers.forecasts import ForecastSerializer

    question = QuestionFactory(open_time=T0 - dt.timedelta(days=1))
    person = ForecasterFactory()
    at = T0 + dt.timedelta(microseconds=5)
    made = forecast_submit(
        question_id=question.pk, forecaster=person, probability=0.123, rationale=" Why. ", at=at
    )
    gone = forecast_withdraw(question_id=question.pk, forecaster=person, at=at)
    for event in (
        made,
        gone,
        Forecast.objects.select_related("question__tournament").get(pk=made.pk),
    ):
        assert forecast_data(event) == ForecastSerializer(event).data


def test_hot_statements_are_prepared_and_other_queries_keep_client_side_binding():
    """The write path's statements get prepared; an ORM query may still bind 70,000 values."""
    question = QuestionFactory(open_time=T0 - dt.timedelta(days=1))
    person = ForecasterFactory()
    for i in range(7):
        forecast_submit(
            question_id=question.pk,
            forecaster=person,
            probability=0.5,
            at=T0 + dt.timedelta(seconds=i),
        )
    mine = list(Forecast.objects.filter(question=question).values_list("pk", flat=True))
    assert Forecast.objects.filter(pk__in=[*range(-70_000, 0), *mine]).count() == 7
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
        assert any("FOR UPDATE OF q, s" in sql for sql in prepared), prepared
