"""Score rows written column-wise (``config.bulk.bulk_insert_columns``: one binary COPY built in
numpy on PostgreSQL, ``bulk_insert`` elsewhere): every value stored exactly, NULLs, row order."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from config.bulk import bulk_insert, bulk_insert_columns
from markets.resolution.manual import question_resolve
from scoring.models import Rule, Score, Subject
from scoring.services import SCORE_COLUMNS
from tests.factories import ForecasterFactory, QuestionFactory

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
NOW = dt.datetime(2031, 6, 1, 12, 30, 45, 123457, tzinfo=UTC)

pytestmark = pytest.mark.usefixtures("clock_after_2031")

READ = ("subject", "forecaster_id", "rule", "score", "coverage", "forecast", "computed_at")


def setup_rows(n_people: int = 8):
    question = QuestionFactory(open_time=OPEN, close_time=CLOSE)
    resolution = question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    people = [ForecasterFactory().pk for _ in range(n_people)]
    rng = np.random.default_rng(7)
    awkward = [
        1 / 3,
        -230.25850929940458,
        5e-324,
        1e300,
        -1.7976931348623157e308,
        math.inf,
        -math.inf,
        0.1 + 0.2,
    ]
    rows = []
    for i, who in enumerate(people):
        for j, rule in enumerate((Rule.LOG, Rule.PEER, Rule.SPOT_LOG, Rule.CRPS)):
            score = None if (i + j) % 4 == 0 else float(rng.normal() * 10.0 ** rng.integers(-8, 8))
            if j == 1:  # every awkward value once: subnormal, ±inf (SQLite keeps no -0.0), ...
                score = awkward[i]
            forecast = float(rng.uniform()) if rule == Rule.SPOT_LOG else None
            rows.append((Subject.FORECASTER, who, rule, score, float(rng.uniform()), forecast))
    for rule in (Rule.LOG, Rule.PEER):
        rows.append((Subject.CROWD, None, rule, 1 / 7, 0.5, None))
        rows.append((Subject.MEAN, None, rule, None, 1.0, 2 / 3))
    return question, resolution, rows


def columns_of(question, resolution, rows):
    subject, forecaster, rule, score, coverage, forecast = zip(*rows, strict=True)
    return {
        "question_id": question.pk,
        "resolution_id": resolution.pk,
        "subject": np.asarray(subject, dtype=str),
        "forecaster_id": np.array(forecaster, dtype=np.float64),
        "rule": np.asarray(rule, dtype=str),
        "score": np.array(score, dtype=np.float64),
        "coverage": np.array(coverage, dtype=np.float64),
        "forecast": np.array(forecast, dtype=np.float64),
        "computed_at": NOW,
    }


def stored(question):
    return list(Score.objects.filter(question=question).order_by("id").values_list(*READ))


def same(a, b) -> bool:
    """Equal row lists, floats compared by their bits (NaN never occurs)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) or isinstance(v, float):
                if not (isinstance(u, float) and isinstance(v, float)):
                    return False
                if np.float64(u).tobytes() != np.float64(v).tobytes():
                    return False
            elif u != v:
                return False
    return True


@pytest.mark.django_db
def test_columns_are_stored_exactly_in_row_order_with_nulls():
    question, resolution, rows = setup_rows()
    written = bulk_insert_columns(Score, columns_of(question, resolution, rows))
    assert written == len(rows)
    expected = [(*row, NOW) for row in rows]
    assert same(stored(question), expected)  # ids follow the given order; floats bit for bit


@pytest.mark.django_db
def test_columns_store_what_the_row_writer_stores():
    question, resolution, rows = setup_rows()
    bulk_insert(Score, SCORE_COLUMNS, ((question.pk, resolution.pk, *r, NOW) for r in rows))
    by_rows = stored(question)
    Score.objects.filter(question=question).delete()
    bulk_insert_columns(Score, columns_of(question, resolution, rows))
    assert same(stored(question), by_rows)


@pytest.mark.django_db
def test_bad_columns_are_rejected_and_nothing_is_written():
    question, resolution, rows = setup_rows(2)
    cols = columns_of(question, resolution, rows)
    with pytest.raises(ValueError, match="one common length"):
        bulk_insert_columns(Score, {**cols, "coverage": cols["coverage"][:-1]})
    with pytest.raises(KeyError):
        bulk_insert_columns(Score, {**cols, "no_such_column": cols["coverage"]})
    assert not Score.objects.filter(question=question).exists()
    assert bulk_insert_columns(Score, {k: v[:0] if isinstance(v, np.ndarray) else v
                                       for k, v in cols.items()}) == 0  # fmt: skip
