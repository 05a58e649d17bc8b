"""Scoring rules, and the vectorized time averages against an instant-by-instant reference."""

from __future__ import annotations

import dataclasses
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasts.history import pool_history
from scoring.rules import (
    QuestionScores,
    SeriesScores,
    baseline_score,
    brier,
    log_score,
    peer_scores,
    score_question,
    score_series,
    score_series_many,
)
from tests.reference.scoring import naive_score_question, naive_score_series

probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
inner_probability = st.floats(min_value=0.001, max_value=0.999, allow_nan=False)
outcome = st.integers(min_value=0, max_value=1)

# deadline=None: Hypothesis's default 200 ms per example turns a busy CI machine into failures;
# timing is not the property under test.


def assert_close(a: object, b: object, tol: float = 1e-9) -> None:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


def assert_same_scores(
    fast: QuestionScores | SeriesScores, slow: QuestionScores | SeriesScores
) -> None:
    for field in fast.__slots__:  # type: ignore[union-attr]
        assert_close(getattr(fast, field), getattr(slow, field))


# --- the rules ------------------------------------------------------------------------------


def test_baseline_score_matches_spec_reference_values() -> None:
    assert baseline_score(0.9, 1) == pytest.approx(84.799691, abs=1e-6)
    assert baseline_score(0.1, 1) == pytest.approx(-232.192809, abs=1e-6)
    assert baseline_score(0.1, 0) == pytest.approx(84.799691, abs=1e-6)
    assert baseline_score(0.9, 0) == pytest.approx(-232.192809, abs=1e-6)
    assert baseline_score(0.5, 1) == 0.0


def test_brier_is_the_squared_error() -> None:
    assert brier(0.8, 1) == pytest.approx(0.04)
    assert brier(0.8, 0) == pytest.approx(0.64)
    assert brier(1.0, 1) == 0.0
    np.testing.assert_allclose(brier(np.array([0.1, 0.6]), [0, 1]), [0.01, 0.16])


def test_log_score_is_the_natural_log_of_the_probability_of_what_happened() -> None:
    assert log_score(0.8, 1) == pytest.approx(math.log(0.8))
    assert log_score(0.8, 0) == pytest.approx(math.log(0.2))
    assert log_score(1e-20, 0) == -1e-20  # log1p keeps it; log(1 - 1e-20) would give 0
    assert log_score(0.0, 1) == -math.inf


def test_rules_reject_invalid_probabilities_and_outcomes() -> None:
    with pytest.raises(ValueError):
        brier(1.2, 1)
    with pytest.raises(ValueError):
        log_score(math.nan, 1)
    with pytest.raises(ValueError):
        baseline_score(0.5, 2)


def test_peer_scores_compare_with_the_mean_of_the_others() -> None:
    scores = peer_scores([0.9, 0.5, 0.2], 1)
    expected_first = 100 * (math.log(0.9) - (math.log(0.5) + math.log(0.2)) / 2)
    assert scores[0] == pytest.approx(expected_first)
    assert scores.sum() == pytest.approx(0.0, abs=1e-12)


def test_lone_forecaster_has_peer_score_zero() -> None:
    np.testing.assert_array_equal(peer_scores([0.7], 1), [0.0])
    assert peer_scores([], 1).shape == (0,)


@settings(deadline=None)
@given(probability, outcome)
def test_brier_lies_in_the_unit_interval(p: float, o: int) -> None:
    assert 0.0 <= brier(p, o) <= 1.0


@settings(deadline=None)
@given(st.lists(inner_probability, min_size=1, max_size=40), outcome)
def test_peer_scores_of_one_instant_sum_to_zero(probs: list[float], o: int) -> None:
    assert float(np.sum(peer_scores(probs, o))) == pytest.approx(0.0, abs=1e-9)


@settings(deadline=None)
@given(inner_probability, inner_probability, outcome)
def test_a_better_forecast_never_scores_worse(p: float, q: float, o: int) -> None:
    closer, further = (p, q) if abs(p - o) <= abs(q - o) else (q, p)
    assert brier(closer, o) <= brier(further, o)
    assert log_score(closer, o) >= log_score(further, o)
    assert baseline_score(closer, o) >= baseline_score(further, o)


# --- time averages: hand-computed cases ------------------------------------------------------

WINDOW = {"open_time": 0.0, "close_time": 100.0}


def test_lone_forecaster_holding_all_window_scores_the_rules() -> None:
    s = score_question([0.0], [0], [0.8], resolved_at=None, outcome=1, n_forecasters=1, **WINDOW)
    assert s.coverage[0] == 1.0
    assert s.brier[0] == pytest.approx(0.04)
    assert s.log[0] == pytest.approx(math.log(0.8))
    assert s.baseline[0] == pytest.approx(baseline_score(0.8, 1))
    assert s.peer[0] == 0.0
    assert s.spot_brier[0] == pytest.approx(0.04)
    assert s.spot_peer[0] == 0.0


def test_late_first_forecast_counts_uncovered_time_as_zero_for_baseline_only() -> None:
    s = score_question([40.0], [0], [0.8], resolved_at=None, outcome=1, n_forecasters=1, **WINDOW)
    assert s.coverage[0] == pytest.approx(0.6)
    assert s.brier[0] == pytest.approx(0.04)  # averaged over the covered 60%
    assert s.baseline[0] == pytest.approx(0.6 * baseline_score(0.8, 1))


def test_forecast_before_open_counts_from_open_time() -> None:
    s = score_question([-50.0], [0], [0.8], resolved_at=None, outcome=1, n_forecasters=1, **WINDOW)
    assert s.coverage[0] == 1.0
    assert s.baseline[0] == pytest.approx(baseline_score(0.8, 1))


def test_time_after_an_early_resolution_is_uncovered() -> None:
    s = score_question(
        [0.0, 70.0], [0, 0], [0.8, 0.1], resolved_at=60.0, outcome=1, n_forecasters=1, **WINDOW
    )
    assert s.coverage[0] == pytest.approx(0.6)
    assert s.baseline[0] == pytest.approx(0.6 * baseline_score(0.8, 1))
    assert s.spot_brier[0] == pytest.approx(0.04)  # the update after resolution does not count


def test_withdrawal_ends_coverage_and_the_spot_score() -> None:
    s = score_question(
        [10.0, 60.0],
        [0, 0],
        [0.3, math.nan],
        resolved_at=None,
        outcome=0,
        n_forecasters=1,
        **WINDOW,
    )
    assert s.coverage[0] == pytest.approx(0.5)
    assert s.log[0] == pytest.approx(math.log(0.7))
    assert math.isnan(s.spot_brier[0])
    assert math.isnan(s.spot_peer[0])


def test_peer_score_is_zero_while_alone_and_relative_once_joined() -> None:
    # Forecaster 0 alone on [0, 50), then with forecaster 1 on [50, 100).
    s = score_question(
        [0.0, 50.0], [0, 1], [0.9, 0.6], resolved_at=None, outcome=1, n_forecasters=2, **WINDOW
    )
    diff = 100 * (math.log(0.9) - math.log(0.6))
    assert s.peer[0] == pytest.approx(0.5 * diff)
    assert s.peer[1] == pytest.approx(-0.5 * diff)
    np.testing.assert_allclose(s.spot_peer, [diff, -diff])


def test_forecaster_who_never_forecast_has_no_coverage() -> None:
    s = score_question([0.0], [0], [0.8], resolved_at=None, outcome=1, n_forecasters=2, **WINDOW)
    assert s.coverage[1] == 0.0
    assert math.isnan(s.brier[1])
    assert s.baseline[1] == 0.0
    assert s.peer[1] == 0.0


def test_resolution_before_open_covers_nothing() -> None:
    s = score_question([0.0], [0], [0.8], resolved_at=-5.0, outcome=1, n_forecasters=1, **WINDOW)
    assert s.coverage[0] == 0.0
    assert math.isnan(s.brier[0])


def test_invalid_windows_outcomes_and_codes_are_rejected() -> None:
    with pytest.raises(ValueError, match="window"):
        score_question(
            [0.0],
            [0],
            [0.5],
            open_time=5,
            close_time=5,
            resolved_at=None,
            outcome=1,
            n_forecasters=1,
        )
    with pytest.raises(ValueError, match="outcome"):
        score_question([0.0], [0], [0.5], resolved_at=None, outcome=2, n_forecasters=1, **WINDOW)
    with pytest.raises(ValueError, match="n_forecasters"):
        score_question([0.0], [3], [0.5], resolved_at=None, outcome=1, n_forecasters=2, **WINDOW)


def test_time_averages_refuse_a_forecast_that_ruled_out_the_outcome() -> None:
    with pytest.raises(ValueError, match="probability 0"):
        score_question([0.0], [0], [0.0], resolved_at=None, outcome=1, n_forecasters=1, **WINDOW)
    with pytest.raises(ValueError, match="probability 0"):
        score_series([0.0], [1.0], resolved_at=None, outcome=0, **WINDOW)


def test_constant_series_scores_like_a_single_forecast() -> None:
    s = score_series([0.0], [0.7], resolved_at=None, outcome=0, **WINDOW)
    assert s.coverage == 1.0
    assert s.brier == pytest.approx(0.49)
    assert s.log == pytest.approx(math.log(0.3))
    assert s.baseline == pytest.approx(baseline_score(0.7, 0))
    assert math.isnan(s.peer)  # no forecasts given to compare with


def test_series_gaps_are_uncovered() -> None:
    s = score_series([0.0, 25.0, 75.0], [0.7, math.nan, 0.7], resolved_at=None, outcome=1, **WINDOW)
    assert s.coverage == pytest.approx(0.5)
    assert s.baseline == pytest.approx(0.5 * baseline_score(0.7, 1))


def test_crowd_peer_compares_with_the_mean_log_score_of_active_forecasters() -> None:
    times, who, probs = [0.0, 0.0], [0, 1], [0.9, 0.4]
    crowd = pool_history(times, who, probs).probability
    s = score_series(
        times,
        crowd,
        resolved_at=None,
        outcome=1,
        forecast_times=times,
        forecaster=who,
        forecast_probs=probs,
        **WINDOW,
    )
    expected = 100 * (math.log(crowd[-1]) - (math.log(0.9) + math.log(0.4)) / 2)
    assert s.peer == pytest.approx(expected)
    assert s.spot_peer == pytest.approx(expected)


# --- time averages: fast sweep == instant-by-instant reference --------------------------------


def random_question(
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict[str, float | int | None]]:
    rng = np.random.default_rng(seed)
    n_f = int(rng.integers(1, 7))
    n = int(rng.integers(0, 45))
    # Events from before open to after close; some at shared instants and on the window edges.
    times = np.sort(rng.uniform(-20.0, 130.0, n))
    if seed % 3 == 0:
        times = np.sort(np.round(times / 10.0) * 10.0)
    who = rng.integers(0, n_f, n)
    probs = rng.uniform(0.001, 0.999, n)
    probs[rng.random(n) < 0.25] = np.nan
    resolved_at = [None, 100.0, float(rng.uniform(-10.0, 110.0)), 40.0][seed % 4]
    kw: dict[str, float | int | None] = {
        "open_time": 0.0,
        "close_time": 100.0,
        "resolved_at": resolved_at,
        "outcome": int(rng.integers(0, 2)),
    }
    return times, who, probs, n_f, kw


@pytest.mark.parametrize("seed", range(60))
def test_question_scores_equal_the_instant_by_instant_reference(seed: int) -> None:
    times, who, probs, n_f, kw = random_question(seed)
    fast = score_question(times, who, probs, n_forecasters=n_f, **kw)  # type: ignore[arg-type]
    slow = naive_score_question(times, who, probs, n_forecasters=n_f, **kw)  # type: ignore[arg-type]
    assert_same_scores(fast, slow)


@pytest.mark.parametrize("seed", range(60))
def test_time_averaged_peer_scores_sum_to_zero(seed: int) -> None:
    times, who, probs, n_f, kw = random_question(seed)
    s = score_question(times, who, probs, n_forecasters=n_f, **kw)  # type: ignore[arg-type]
    assert float(np.sum(s.peer)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("statistic", ["probability", "median", "mean"])
def test_series_scores_equal_the_instant_by_instant_reference(seed: int, statistic: str) -> None:
    times, who, probs, _, kw = random_question(seed)
    series = getattr(pool_history(times, who, probs), statistic)
    forecasts = {"forecast_times": times, "forecaster": who, "forecast_probs": probs}
    fast = score_series(times, series, **forecasts, **kw)  # type: ignore[arg-type]
    slow = naive_score_series(times, series, **forecasts, **kw)  # type: ignore[arg-type]
    assert_same_scores(fast, slow)


def _bits(s: SeriesScores) -> list[tuple[str, bytes]]:
    """Every field as its IEEE 754 bytes: NaN == NaN only with the same payload and sign."""
    return [(f.name, struct.pack("<d", getattr(s, f.name))) for f in dataclasses.fields(s)]


@st.composite
def series_cases(draw: st.DrawFn) -> tuple[np.ndarray, list[np.ndarray], dict[str, object]]:
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    times, who, probs, _, kw = random_question(seed)
    if draw(st.booleans()) and times.size:  # the crowd's own history: times of the events
        h = pool_history(times, who, probs)
        pts, series = h.time, [h.probability, h.median, h.mean]
    else:  # arbitrary step series, NaN (no value) included, on their own times
        m = int(rng.integers(0, 30))
        pts = np.sort(rng.uniform(-20.0, 130.0, m))
        series = []
        for _ in range(int(rng.integers(1, 5))):
            v = rng.uniform(0.0, 1.0, m)
            v[rng.random(m) < 0.3] = np.nan
            series.append(v)
    if draw(st.booleans()):
        kw = {**kw, "forecast_times": times, "forecaster": who, "forecast_probs": probs}
    return pts, series, kw


@settings(max_examples=300, deadline=None)
@given(series_cases())
def test_series_many_is_bit_identical_to_each_series_alone(
    case: tuple[np.ndarray, list[np.ndarray], dict[str, object]],
) -> None:
    times, series, kw = case
    many = score_series_many(times, series, **kw)  # type: ignore[arg-type]
    assert len(many) == len(series)
    for probs, shared in zip(series, many, strict=True):
        alone = score_series(times, probs, **kw)  # type: ignore[arg-type]
        assert _bits(shared) == _bits(alone)


def test_series_many_rejects_a_bad_series_among_good_ones() -> None:
    kw = {"open_time": 0.0, "close_time": 100.0, "resolved_at": None, "outcome": 1}
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        score_series_many([0.0, 50.0], [[0.5, 0.6], [0.5, 1.5]], **kw)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same length"):
        score_series_many([0.0, 50.0], [[0.5, 0.6], [0.5]], **kw)  # type: ignore[arg-type]


def test_question_scores_of_a_long_history_equal_the_reference() -> None:
    rng = np.random.default_rng(99)
    n, n_f = 300, 25
    times = np.sort(rng.uniform(-100.0, 1100.0, n))
    who = rng.integers(0, n_f, n)
    probs = rng.uniform(0.001, 0.999, n)
    probs[rng.random(n) < 0.1] = np.nan
    kw = {"open_time": 0.0, "close_time": 1000.0, "resolved_at": 870.0, "outcome": 1}
    fast = score_question(times, who, probs, n_forecasters=n_f, **kw)  # type: ignore[arg-type]
    slow = naive_score_question(times, who, probs, n_forecasters=n_f, **kw)  # type: ignore[arg-type]
    assert_same_scores(fast, slow)
