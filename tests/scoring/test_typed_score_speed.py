"""The faster scoring of multiple-choice and continuous questions gives the same scores as the
path it replaced, bit for bit: the column-wise pooled-CDF tidy (``_tidy_columns``) against
``_tidy_cdf(cdf_from_buckets(...))``, the forecaster rows built as arrays
(``_forecaster_columns``) against one ``_rows`` tuple list per forecaster, and the stored Score
rows of ``question_score`` on hostile logs (near-degenerate CDFs, updates, withdrawals, mass
outside open bounds, outcomes below and above the range, a discrete question without CRPS)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecasts.services import forecast_submit, forecast_withdraw
from forecasts.vector_pooling import cdf_from_buckets
from markets.models import Question
from markets.resolution.manual import question_resolve
from scoring import typed_scores
from scoring.models import Score, Subject
from scoring.services import question_score
from scoring.typed_scores import ScoreColumns, _tidy_cdf, _tidy_columns
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
FIELDS = ("subject", "forecaster", "rule", "score", "coverage", "forecast")


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes, NaN in the same places, every other float the same 64 bits (so -0.0 and
    0.0 differ)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    keep = ~np.isnan(a)
    return bool(np.array_equal(a[keep].view(np.int64), b[keep].view(np.int64)))


HOSTILE = st.sampled_from(
    [0.0, 1.0, 5e-324, 1e-300, 1e-17, 1.0 - 2**-53, 1.0 + 2**-52, -1e-18, 0.5, 1e-3]
)


@st.composite
def pooled_blocks(draw: st.DrawFn, width: int) -> np.ndarray:
    """Rows of pooled values with rounding residue: mostly a random simplex, some hostile
    entries, some all-NaN rows (nobody active)."""
    n = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = rng.dirichlet(np.full(width, 0.3), size=n)
    hostile = draw(arrays(np.float64, (n, width), elements=HOSTILE))
    pick = draw(arrays(np.bool_, (n, width), elements=st.booleans()))
    rows = np.where(pick & (rng.random((n, width)) < 0.2), hostile, rows)
    rows[draw(arrays(np.bool_, n, elements=st.booleans()))] = np.nan
    return rows


@settings(max_examples=200, deadline=None)
@given(pooled_blocks(202))
def test_tidy_columns_from_buckets_is_the_row_wise_tidy_bit_for_bit(pmf):
    assert same_bits(_tidy_columns(pmf, prefix=True), _tidy_cdf(cdf_from_buckets(pmf)))


@settings(max_examples=200, deadline=None)
@given(pooled_blocks(201))
def test_tidy_columns_of_cdfs_is_the_row_wise_tidy_bit_for_bit(cdf):
    cdf = np.cumsum(cdf, axis=1)  # residue above 1 and flat steps included
    out = _tidy_columns(cdf, prefix=False)
    assert out.flags.c_contiguous
    assert same_bits(out, _tidy_cdf(cdf))


# --- the whole scoring, against the replaced path --------------------------------------------


def reference_forecaster_columns(forecaster_ids, scores, rules, spot_rules, held):
    """The replaced code: one ``_rows`` tuple list per forecaster."""
    rows = []
    for code, forecaster_id in enumerate(forecaster_ids.tolist()):
        rows += typed_scores._rows(
            Subject.FORECASTER,
            forecaster_id,
            typed_scores._getter(scores, code),
            rules,
            spot_rules,
            float(scores.coverage[code]),
            float(held[code]),
        )
    return ScoreColumns.of_rows(rows)


def reference_tidy(rows, *, prefix):
    return _tidy_cdf(cdf_from_buckets(rows)) if prefix else _tidy_cdf(rows)


@pytest.fixture
def old_path(monkeypatch):
    def use():
        monkeypatch.setattr(typed_scores, "_forecaster_columns", reference_forecaster_columns)
        monkeypatch.setattr(typed_scores, "_tidy_columns", reference_tidy)

    return use


def hostile_cdfs(rng: np.random.Generator, n: int, open_lower: bool, open_upper: bool):
    """Standardised CDFs at the edges of what is accepted (steps from 5e-5 to 0.2,
    docs/methods.md §13.2): most mass in a few buckets at the step limit with the minimum
    everywhere else, spiky random ones, mass outside open bounds."""
    out = []
    for i in range(n):
        below = 0.0011 + 0.15 * rng.random() if open_lower else 0.0
        above = 0.0011 + 0.15 * rng.random() if open_upper else 0.0
        inbound = 1.0 - below - above
        if i % 3 == 0:  # six buckets near the largest step, the least allowed elsewhere
            w = np.full(200, 6e-5)
            peak = int(rng.integers(0, 194))
            w[peak : peak + 6] = (inbound - 6e-5 * 194) / 6
        else:
            w = 6e-5 + (inbound - 200 * 6e-5) * rng.dirichlet(np.full(200, 0.05 if i % 3 else 2))
            for _ in range(50):  # cap the spikes at 0.19, spreading the excess evenly
                excess = float(np.sum(np.maximum(w - 0.19, 0.0)))
                if excess <= 0.0:
                    break
                w = np.minimum(w, 0.19)
                free = w < 0.19
                w[free] += excess / free.sum()
        cdf = below + np.concatenate([[0.0], np.cumsum(w)])
        out.append(np.clip(cdf, 0.0, 1.0))
    return out


def build(qtype, open_lower, open_upper, seed):
    rng = np.random.default_rng(seed)
    tournament = TournamentFactory()
    if qtype == Question.Type.MULTIPLE_CHOICE:
        question = QuestionFactory(
            tournament=tournament,
            type=qtype,
            options=[f"option {i}" for i in range(5)],
            open_time=OPEN,
            close_time=CLOSE,
        )
        values = [rng.dirichlet(np.full(5, 0.2)) * 0.99 + 0.002 for _ in range(30)]
        values = [v / v.sum() for v in values]
    else:
        question = QuestionFactory(
            tournament=tournament,
            type=qtype,
            range_min=0.0,
            range_max=100.0,
            open_lower_bound=open_lower,
            open_upper_bound=open_upper,
            open_time=OPEN,
            close_time=CLOSE,
        )
        values = hostile_cdfs(rng, 30, open_lower, open_upper)
    people = [ForecasterFactory() for _ in range(8)]
    at = OPEN + HOUR
    for i, v in enumerate(values):
        who = people[int(rng.integers(0, len(people)))]
        forecast_submit(question_id=question.pk, forecaster=who, values=list(v), at=at)
        if i in (7, 19):  # withdrawals: one forecaster holds nothing at the end
            forecast_withdraw(question_id=question.pk, forecaster=who, at=at + HOUR / 2)
        at += HOUR * float(rng.integers(1, 6))
    return question


CASES = [
    (Question.Type.NUMERIC, True, True, {"outcome": "value", "value": 37.25}),
    (Question.Type.NUMERIC, True, True, {"outcome": "below"}),
    (Question.Type.NUMERIC, False, True, {"outcome": "above"}),
    (Question.Type.NUMERIC, False, False, {"outcome": "value", "value": 100.0}),
    (Question.Type.DISCRETE, True, False, {"outcome": "value", "value": 0.0}),
    (Question.Type.MULTIPLE_CHOICE, False, False, {"outcome": "option", "option": 3}),
]


def stored(question) -> list[tuple]:
    return sorted(
        Score.objects.filter(question=question).values_list(
            "subject", "forecaster_id", "rule", "score", "coverage", "forecast"
        ),
        key=lambda r: (r[0], r[1] or 0, r[2]),
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("clock_after_2031")
@pytest.mark.parametrize(("qtype", "open_lower", "open_upper", "outcome"), CASES)
def test_scoring_equals_the_replaced_path_on_hostile_logs(
    qtype, open_lower, open_upper, outcome, old_path
):
    question = build(qtype, open_lower, open_upper, seed=len(str(outcome)) + int(open_lower))
    resolution = question_resolve(question_id=question.pk, resolved_at=CLOSE, **outcome)
    new, new_ids = typed_scores.question_rows(question, resolution)
    written = question_score(question_id=question.pk, resolution_id=resolution.pk)
    new_stored = stored(question)
    assert written == len(new) == len(new_stored) > 0
    Score.objects.filter(question=question).delete()

    old_path()
    old, old_ids = typed_scores.question_rows(question, resolution)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    old_stored = stored(question)

    assert isinstance(new, ScoreColumns) and isinstance(old, ScoreColumns)
    assert new_ids == old_ids
    for field in ("subject", "rule"):
        assert getattr(new, field).tolist() == getattr(old, field).tolist()
    for field in ("forecaster", "score", "coverage", "forecast"):
        assert same_bits(getattr(new, field), getattr(old, field)), field
    # What the database holds: the same rows, every float the same (NULL where NaN).
    assert len(new_stored) == len(old_stored)
    for a, b in zip(new_stored, old_stored, strict=True):
        assert a[:3] == b[:3]
        for x, y in zip(a[3:], b[3:], strict=True):
            assert (x is None and y is None) or same_bits(np.array([x]), np.array([y]))
    assert {r[0] for r in new_stored} == {"forecaster", "crowd", "mean"}
