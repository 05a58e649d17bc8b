"""Logarithmic pooling: reference values (docs/methods.md §2.8), numerics, the O(1) sums, and
pooling properties."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasts.pooling import (
    EPS,
    REBASE_EXPONENT,
    clip,
    log_pool,
    logit,
    mean_pool,
    median_pool,
    pool_from_sums,
    rebase,
    recency_factor,
    recency_weights,
    sigmoid,
)

probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
inner_probability = st.floats(min_value=EPS, max_value=1.0 - EPS, allow_nan=False)
forecasts = st.lists(probability, min_size=1, max_size=30)
weight = st.floats(min_value=0.01, max_value=100.0)

# deadline=None: Hypothesis's default 200 ms per example turns a busy CI machine into failures;
# timing is not the property under test.


# --- docs/methods.md §2.8 reference values ---------------------------------------------------


@pytest.mark.parametrize(
    ("probs", "weights", "extremize", "expected"),
    [
        ([0.1, 0.5, 0.9], None, 1.0, 0.500000),
        ([0.2, 0.6, 0.9], None, 1.0, 0.600000),
        ([0.2, 0.6, 0.9], None, 2.0, 0.692308),
        ([0.2, 0.6, 0.9], [1, 2, 3], 1.0, 0.731593),
        ([0.1, 0.3, 0.8], None, 1.0, 0.365228),
        ([0.1, 0.3, 0.8], None, 2.0, 0.248714),
        ([0.0140, 0.0221, 0.0039, 0.0040], None, 1.0, 0.008358),
        ([0.0, 0.7, 0.8], None, 1.0, 0.173974),
    ],
)
def test_log_pool_matches_spec_reference_values(
    probs: list[float], weights: list[float] | None, extremize: float, expected: float
) -> None:
    assert log_pool(probs, weights, extremize=extremize) == pytest.approx(expected, abs=1e-6)


def test_mean_pool_matches_spec_reference_value() -> None:
    assert mean_pool([0.0140, 0.0221, 0.0039, 0.0040]) == pytest.approx(0.011000, abs=1e-6)


def test_forecast_of_zero_is_pooled_as_epsilon() -> None:
    assert log_pool([0.0, 0.7, 0.8]) == pytest.approx(log_pool([EPS, 0.7, 0.8]), abs=1e-15)
    assert log_pool([1.0, 0.7]) == pytest.approx(log_pool([1.0 - EPS, 0.7]), abs=1e-15)


def test_pool_of_one_forecast_is_that_forecast() -> None:
    assert log_pool([0.37]) == pytest.approx(0.37, abs=1e-15)


def test_pure_log_pool_is_the_geometric_mean_of_odds() -> None:
    probs = np.array([0.2, 0.45, 0.7, 0.95])
    odds = probs / (1 - probs)
    geo = float(np.prod(odds) ** (1 / len(odds)))
    assert log_pool(probs) == pytest.approx(geo / (1 + geo), abs=1e-12)


def test_base_rate_is_the_fixed_point_of_extremizing() -> None:
    b = float(logit(0.2))
    assert log_pool([0.2, 0.2], extremize=3.0, base_logit=b) == pytest.approx(0.2, abs=1e-12)


def test_many_forecasts_neither_underflow_nor_overflow() -> None:
    # A product of 100,000 odds of 1000 would overflow; averaging logits does not.
    assert log_pool(np.full(100_000, 0.999)) == pytest.approx(0.999, abs=1e-12)
    assert log_pool(np.full(100_000, 0.001)) == pytest.approx(0.001, abs=1e-12)


# --- clip, logit, sigmoid ---------------------------------------------------------------------


def test_clip_bounds_probabilities_to_epsilon() -> None:
    assert clip(0.0) == EPS
    assert clip(1.0) == 1.0 - EPS
    assert clip(0.5) == 0.5
    np.testing.assert_array_equal(clip(np.array([0.0, 0.3, 1.0])), [EPS, 0.3, 1.0 - EPS])


def test_scalars_give_floats_and_arrays_give_arrays() -> None:
    assert isinstance(clip(0.3), float)
    assert isinstance(logit(0.3), float)
    assert isinstance(sigmoid(0.3), float)
    assert isinstance(logit(np.array([0.3])), np.ndarray)
    assert isinstance(sigmoid([0.3, 0.4]), np.ndarray)


def test_logit_keeps_precision_for_tiny_probabilities() -> None:
    # ln(p) - log1p(-p): exact for p far below the float spacing of 1 - p.
    assert logit(1e-300) == pytest.approx(math.log(1e-300), rel=1e-15)
    assert logit(1e-10) == pytest.approx(math.log(1e-10) + 1e-10, rel=1e-15)
    assert logit(0.5) == 0.0


def test_logit_of_zero_and_one_is_infinite() -> None:
    assert logit(0.0) == -math.inf
    assert logit(1.0) == math.inf


def test_sigmoid_never_overflows() -> None:
    # Underflow of exp(-|x|) to 0 is the intended result for large |x|; overflow would not be.
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert sigmoid(1000.0) == 1.0
        assert sigmoid(-1000.0) == 0.0
        assert sigmoid(-745.0) > 0.0
        np.testing.assert_array_equal(sigmoid(np.array([-1e308, 1e308])), [0.0, 1.0])


@settings(deadline=None)
@given(st.floats(min_value=-700, max_value=700))
def test_sigmoid_is_symmetric(x: float) -> None:
    assert sigmoid(x) + sigmoid(-x) == pytest.approx(1.0, abs=1e-15)


@settings(deadline=None)
@given(inner_probability)
def test_sigmoid_inverts_logit(p: float) -> None:
    assert sigmoid(logit(p)) == pytest.approx(p, rel=1e-12)


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probs", "weights", "message"),
    [
        ([], None, "empty"),
        ([0.5, 1.2], None, r"\[0, 1\]"),
        ([0.5, math.nan], None, r"\[0, 1\]"),
        ([0.5, 0.6], [0.0, 0.0], "total weight"),
        ([0.5, 0.6], [1.0, -1.0], "non-negative"),
        ([0.5, 0.6], [1.0], "expected 2 weights"),
        ([0.5, 0.6], [1.0, math.inf], "finite"),
    ],
)
def test_log_pool_rejects_invalid_input(
    probs: list[float], weights: list[float] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        log_pool(probs, weights)


def test_log_pool_rejects_non_finite_parameters() -> None:
    with pytest.raises(ValueError, match="extremize"):
        log_pool([0.5], extremize=math.nan)
    with pytest.raises(ValueError, match="base_logit"):
        log_pool([0.5], base_logit=math.inf)


def test_zero_weight_forecast_is_ignored() -> None:
    assert log_pool([0.2, 0.9], [1.0, 0.0]) == pytest.approx(0.2, abs=1e-15)


def test_median_and_mean_use_clipped_values() -> None:
    assert median_pool([0.0, 0.0, 0.5]) == EPS
    assert median_pool([0.1, 0.2, 0.3, 0.9]) == pytest.approx(0.25)
    assert mean_pool([0.0, 1.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        median_pool([])
    with pytest.raises(ValueError):
        mean_pool([1.5])


# --- O(1) running sums ----------------------------------------------------------------------


def test_pool_from_sums_equals_weighted_log_pool() -> None:
    probs, weights = [0.2, 0.6, 0.9], [1.0, 2.0, 3.0]
    s = sum(w * logit(p) for p, w in zip(probs, weights, strict=True))
    w_total = sum(weights)
    assert pool_from_sums(s, w_total) == pytest.approx(0.731593, abs=1e-6)
    assert pool_from_sums(s, w_total, extremize=2.0, base_logit=0.3) == pytest.approx(
        log_pool(probs, weights, extremize=2.0, base_logit=0.3), abs=1e-15
    )


def test_pool_from_sums_rejects_empty_sums() -> None:
    with pytest.raises(ValueError, match="total weight"):
        pool_from_sums(0.0, 0.0)
    with pytest.raises(ValueError):
        pool_from_sums(math.nan, 1.0)


def test_recency_factor_doubles_every_half_life() -> None:
    assert recency_factor(10.0, 10.0, 3600.0) == 1.0
    assert recency_factor(3600.0, 0.0, 3600.0) == 2.0
    assert recency_factor(0.0, 7200.0, 3600.0) == 0.25
    assert recency_factor(123.0, 0.0, None) == 1.0
    with pytest.raises(ValueError):
        recency_factor(0.0, 0.0, 0.0)


def test_recency_weights_halve_at_one_half_life_of_age() -> None:
    np.testing.assert_allclose(
        recency_weights([0.0, 50.0, 100.0], 100.0, 50.0), [0.25, 0.5, 1.0], rtol=1e-15
    )
    np.testing.assert_array_equal(recency_weights([0.0, 5.0], 100.0, None), [1.0, 1.0])


def test_recency_weights_and_factors_give_the_same_pool() -> None:
    times, probs, h = [0.0, 30.0, 90.0], [0.2, 0.7, 0.6], 40.0
    direct = log_pool(probs, recency_weights(times, 100.0, h))
    t0 = 0.0
    w = [recency_factor(t, t0, h) for t in times]
    s = sum(wi * logit(p) for wi, p in zip(w, probs, strict=True))
    assert pool_from_sums(s, sum(w)) == pytest.approx(direct, abs=1e-14)


def test_rebase_keeps_the_pool_and_lets_new_forecasts_join() -> None:
    h = 3600.0
    t0 = 0.0
    old = [(0.0, 0.3), (1800.0, 0.8)]
    s = sum(recency_factor(t, t0, h) * logit(p) for t, p in old)
    w = sum(recency_factor(t, t0, h) for t, _ in old)
    before = pool_from_sums(s, w)
    # A forecast 600 half-lives later would need 2^600 · ... : move t0 first, as the rule says.
    t_new = 600 * h
    assert (t_new - t0) / h > REBASE_EXPONENT
    s, w = rebase(s, w, t0, t_new, h)
    assert pool_from_sums(s, w) == pytest.approx(before, abs=1e-15)
    s += recency_factor(t_new, t_new, h) * logit(0.9)
    w += recency_factor(t_new, t_new, h)
    expected = log_pool([0.3, 0.8, 0.9], recency_weights([0.0, 1800.0, t_new], t_new, h))
    assert pool_from_sums(s, w) == pytest.approx(expected, abs=1e-12)


def test_rebase_by_whole_half_lives_is_exact() -> None:
    s, w = rebase(3.0, 5.0, 0.0, 7 * 60.0, 60.0)
    assert (s, w) == (3.0 / 128, 5.0 / 128)
    assert rebase(3.0, 5.0, 0.0, 1e9, None) == (3.0, 5.0)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=5),
            st.one_of(st.none(), probability),
            st.floats(min_value=0.0, max_value=100.0),
            weight,
        ),
        min_size=1,
        max_size=40,
    ),
    st.one_of(st.none(), st.floats(min_value=100.0, max_value=10_000.0)),
)
def test_running_sums_equal_a_from_scratch_pool(
    ops: list[tuple[int, float | None, float, float]], half_life: float | None
) -> None:
    """Add, replace and withdraw one term at a time (the service's engine) vs re-pooling."""
    t = 0.0
    t0 = 0.0
    s = w = 0.0
    current: dict[
        int, tuple[float, float, float]
    ] = {}  # forecaster -> (time, p, track_record_weight)

    def term(entry: tuple[float, float, float]) -> tuple[float, float]:
        ti, p, a = entry
        wi = a * recency_factor(ti, t0, half_life)
        return wi, wi * logit(clip(p))

    for who, p, dt, a in ops:
        t += dt
        if half_life is not None and (t - t0) / half_life > REBASE_EXPONENT:
            s, w = rebase(s, w, t0, t, half_life)
            t0 = t
        if who in current:
            wi, si = term(current.pop(who))
            s, w = s - si, w - wi
        if p is not None:
            current[who] = (t, p, a)
            wi, si = term(current[who])
            s, w = s + si, w + wi
        if not current:
            s = w = 0.0  # the engine resets instead of keeping rounding residue
            continue
        times, probs, acc = (np.array(c) for c in zip(*current.values(), strict=True))
        weights = acc * recency_weights(times, t, half_life)
        assert pool_from_sums(s, w) == pytest.approx(log_pool(probs, weights), abs=1e-9)


# --- properties -----------------------------------------------------------------------------


@settings(deadline=None)
@given(probability, st.integers(min_value=1, max_value=50))
def test_pooling_identical_forecasts_returns_that_forecast(p: float, n: int) -> None:
    assert log_pool([p] * n) == pytest.approx(clip(p), rel=1e-12)


@settings(deadline=None)
@given(st.lists(st.tuples(probability, weight), min_size=1, max_size=30), st.randoms())
def test_pool_does_not_depend_on_the_order_of_forecasts(
    pairs: list[tuple[float, float]], rnd: random.Random
) -> None:
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    a = log_pool([p for p, _ in pairs], [w for _, w in pairs], extremize=1.5)
    b = log_pool([p for p, _ in shuffled], [w for _, w in shuffled], extremize=1.5)
    assert a == pytest.approx(b, abs=1e-12)


@settings(deadline=None)
@given(
    st.lists(st.tuples(probability, weight), min_size=1, max_size=30),
    st.floats(min_value=1.0, max_value=5.0),
)
def test_pool_of_complements_is_the_complement_of_the_pool(
    pairs: list[tuple[float, float]], d: float
) -> None:
    probs = np.array([p for p, _ in pairs])
    weights = [w for _, w in pairs]
    pooled = log_pool(probs, weights, extremize=d)
    assert log_pool(1.0 - probs, weights, extremize=d) == pytest.approx(1.0 - pooled, abs=1e-12)


@settings(deadline=None)
@given(st.lists(st.tuples(probability, weight), min_size=1, max_size=30))
def test_pool_lies_between_the_extreme_clipped_forecasts(pairs: list[tuple[float, float]]) -> None:
    clipped = clip(np.array([p for p, _ in pairs]))
    pooled = log_pool([p for p, _ in pairs], [w for _, w in pairs])
    assert clipped.min() - 1e-12 <= pooled <= clipped.max() + 1e-12


@settings(deadline=None)
@given(
    forecasts,
    st.floats(min_value=1.0, max_value=10.0),
    st.floats(min_value=-3.0, max_value=3.0),
)
def test_extremizing_moves_the_pool_away_from_the_base_rate(
    probs: list[float], d: float, b: float
) -> None:
    plain = log_pool(probs, base_logit=b)
    extreme = log_pool(probs, extremize=d, base_logit=b)
    base = sigmoid(b)
    assert (extreme - base) * (plain - base) >= 0.0
    assert abs(extreme - base) >= abs(plain - base) - 1e-12


@settings(deadline=None)
@given(forecasts)
def test_median_and_mean_lie_between_the_extreme_clipped_forecasts(probs: list[float]) -> None:
    clipped = clip(np.array(probs))
    assert clipped.min() <= median_pool(probs) <= clipped.max()
    assert clipped.min() - 1e-15 <= mean_pool(probs) <= clipped.max() + 1e-15
