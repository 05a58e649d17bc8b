"""markets.questions.question_create: the one service that creates questions."""

from __future__ import annotations

import datetime as dt

import pytest

from markets.errors import QuestionError, QuestionTypeError
from markets.models import Question
from markets.questions import question_create
from tests.factories import TournamentFactory

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def make(**kw):
    args = {
        "tournament": TournamentFactory(slug="t"),
        "title": "Will it happen?",
        "open_time": dt.datetime(2026, 1, 1, tzinfo=UTC),
        "close_time": dt.datetime(2027, 1, 1, tzinfo=UTC),
        "now": NOW,
        **kw,
    }
    return question_create(**args)


@pytest.mark.parametrize(
    ("open_day", "close_day", "status"),
    [
        (dt.datetime(2026, 7, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC), "upcoming"),
        (dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC), "open"),
        (dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2026, 1, 1, tzinfo=UTC), "closed"),
    ],
)
def test_status_follows_the_window(open_day, close_day, status):
    q = make(open_time=open_day, close_time=close_day)
    assert q.status == status and q.key == "will-it-happen"


def test_every_type_is_saved_with_its_configuration():
    mc = make(key="mc", type="multiple_choice", options=["A", "B"])
    num = make(key="n", type="numeric", range_min=1.0, range_max=100.0, zero_point=0.0)
    for q in (mc, num):
        q.refresh_from_db()
    assert mc.options == ["A", "B"] and mc.type == "multiple_choice"
    assert (num.range_min, num.range_max, num.zero_point) == (1.0, 100.0, 0.0)


@pytest.mark.parametrize(
    ("kw", "error", "field"),
    [
        ({"type": "multiple_choice", "options": ["A"]}, QuestionTypeError, None),
        ({"type": "numeric", "range_min": 1.0}, QuestionTypeError, None),
        ({"type": "numeric", "range_min": 1.0, "range_max": float("inf")}, QuestionTypeError, None),
        ({"colour": "blue"}, QuestionTypeError, None),
        ({"title": "  "}, QuestionError, "title"),
        ({"title": "x" * 301}, QuestionError, "title"),
        ({"title": "???"}, QuestionError, "key"),
        ({"key": "k" * 101}, QuestionError, "key"),
        ({"close_time": dt.datetime(2025, 1, 1, tzinfo=UTC)}, QuestionError, "close_time"),
    ],
)
def test_invalid_input_raises_and_writes_nothing(kw, error, field):
    with pytest.raises(error) as caught:
        make(**kw)
    assert getattr(caught.value, "field", None) == field
    assert Question.objects.count() == 0


def test_a_key_is_unique_within_its_tournament():
    make(key="same")
    with pytest.raises(QuestionError) as caught:
        make(key="same")
    assert caught.value.field == "key"
    assert Question.objects.count() == 1
    other = TournamentFactory(slug="other")
    assert make(key="same", tournament=other).tournament == other


def test_a_milestone_rule_is_created_with_the_question():
    from tests.factories import BenchmarkFactory

    bench = BenchmarkFactory()
    q = make(benchmark=bench, comparator=">=", threshold=600.0, deadline=dt.date(2026, 12, 31))
    assert (q.benchmark_id, q.comparator, q.threshold) == (bench.pk, ">=", 600.0)
    date_q = make(
        key="d",
        type="date",
        range_min=1.7e9,
        range_max=1.9e9,
        benchmark=bench,
        comparator=">=",
        threshold=6000.0,
    )
    assert date_q.has_milestone


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"comparator": ">=", "threshold": 600.0}, "benchmark", "needs its parts"),
        ({"type": "numeric", "range_min": 0.0, "range_max": 1.0}, "benchmark", "needs its parts"),
        (
            {"comparator": "~", "threshold": 1.0, "deadline": dt.date(2026, 1, 1)},
            "comparator",
            "Unknown",
        ),
    ],
)
def test_an_incomplete_milestone_rule_is_refused_in_words(kwargs, field, words):
    from tests.factories import BenchmarkFactory

    with pytest.raises(QuestionError, match=words) as error:
        make(benchmark=BenchmarkFactory(), **kwargs)
    assert error.value.field == field
    assert not Question.objects.exists()
