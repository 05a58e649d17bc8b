"""The vectorized crowd history against a re-pool at every event, and its edge cases."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasts import history
from forecasts.history import (
    CrowdHistory,
    compensated_cumsum,
    link_events,
    median_history,
    pool_history,
)
from forecasts.pooling import EPS, log_pool
from tests.reference.history import naive_history

HOUR = 3600.0
DAY = 24 * HOUR
YEAR = 365 * DAY


def assert_same_history(fast: CrowdHistory, slow: CrowdHistory, tol: float = 1e-9) -> None:
    np.testing.assert_array_equal(fast.forecasters, slow.forecasters)
    for name in ("probability", "mean", "median"):
        a, b = getattr(fast, name), getattr(slow, name)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=name)
        np.testing.assert_allclose(a, b, rtol=0, atol=tol, err_msg=name)


def random_log(
    rng: np.random.Generator,
    n: int,
    n_forecasters: int,
    *,
    span: float = 1e5,
    withdraw: float = 0.2,
    decimals: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    times = np.sort(rng.uniform(0.0, span, n))
    who = rng.integers(0, n_forecasters, n)
    probs = rng.uniform(0.0, 1.0, n)
    if decimals is not None:
        probs = np.round(probs, decimals)  # ties in the median
    probs[rng.random(n) < withdraw] = np.nan
    return times, who, probs


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("half_life", "extremize", "base_logit"),
    [(None, 1.0, 0.0), (None, 2.5, -0.7), (HOUR, 1.0, 0.0), (10 * HOUR, 1.7, 0.4)],
)
def test_vectorized_history_equals_repooling_every_event(
    seed: int, half_life: float | None, extremize: float, base_logit: float
) -> None:
    rng = np.random.default_rng(seed)
    times, who, probs = random_log(rng, 150, 12, span=5 * DAY, decimals=2 if seed % 2 else None)
    track_record_weight = rng.uniform(0.2, 3.0, 150)
    kwargs = {"extremize": extremize, "base_logit": base_logit, "half_life": half_life}
    fast = pool_history(times, who, probs, track_record_weight=track_record_weight, **kwargs)  # type: ignore[arg-type]
    slow = naive_history(times, who, probs, track_record_weight=track_record_weight, **kwargs)  # type: ignore[arg-type]
    assert_same_history(fast, slow)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0)),
            st.floats(min_value=0.0, max_value=10 * HOUR),
        ),
        max_size=40,
    ),
    st.one_of(st.none(), st.floats(min_value=60.0, max_value=DAY)),
)
def test_history_equals_repooling_for_any_event_sequence(
    events: list[tuple[int, float | None, float]], half_life: float | None
) -> None:
    who = np.array([e[0] for e in events], dtype=np.int64)
    probs = np.array([math.nan if e[1] is None else e[1] for e in events])
    times = np.cumsum([e[2] for e in events]) if events else np.zeros(0)
    fast = pool_history(times, who, probs, half_life=half_life)
    slow = naive_history(times, who, probs, half_life=half_life)
    assert_same_history(fast, slow)


def test_spec_reference_pool_is_the_last_history_point() -> None:
    hist = pool_history([0.0, 1.0, 2.0], [7, 8, 9], [0.2, 0.6, 0.9])
    assert hist.probability[-1] == pytest.approx(0.6, abs=1e-6)
    hist = pool_history([0.0, 1.0, 2.0, 3.0], [1, 2, 3, 4], [0.0140, 0.0221, 0.0039, 0.0040])
    assert hist.probability[-1] == pytest.approx(0.008358, abs=1e-6)
    assert hist.mean[-1] == pytest.approx(0.011, abs=1e-6)
    hist = pool_history(
        [0.0, 1.0, 2.0], [1, 2, 3], [0.2, 0.6, 0.9], track_record_weight=[1.0, 2.0, 3.0]
    )
    assert hist.probability[-1] == pytest.approx(0.731593, abs=1e-6)


def test_new_forecast_replaces_the_previous_one() -> None:
    hist = pool_history([0.0, 1.0, 2.0], [1, 1, 2], [0.2, 0.7, 0.7])
    np.testing.assert_array_equal(hist.forecasters, [1, 1, 2])
    assert hist.probability[1] == pytest.approx(0.7)
    assert hist.probability[2] == pytest.approx(0.7)


def test_withdrawal_removes_the_forecast_and_leaves_nan_when_nobody_is_left() -> None:
    hist = pool_history([0.0, 1.0, 2.0, 3.0], [1, 2, 1, 2], [0.2, 0.8, math.nan, math.nan])
    np.testing.assert_array_equal(hist.forecasters, [1, 2, 1, 0])
    assert hist.probability[2] == pytest.approx(0.8)
    assert math.isnan(hist.probability[3])
    assert math.isnan(hist.mean[3])
    assert math.isnan(hist.median[3])


def test_withdrawal_without_a_forecast_is_a_no_op_that_still_gets_a_point() -> None:
    hist = pool_history([0.0, 1.0, 2.0], [1, 2, 2], [0.3, math.nan, math.nan])
    assert len(hist) == 3
    np.testing.assert_array_equal(hist.forecasters, [1, 1, 1])
    np.testing.assert_allclose(hist.probability, [0.3, 0.3, 0.3])
    hist = pool_history([0.0], [5], [math.nan])
    assert hist.forecasters[0] == 0
    assert math.isnan(hist.probability[0])


def test_forecast_after_a_withdrawal_counts_again() -> None:
    hist = pool_history([0.0, 1.0, 2.0], [1, 1, 1], [0.3, math.nan, 0.6])
    np.testing.assert_array_equal(hist.forecasters, [1, 0, 1])
    assert hist.probability[2] == pytest.approx(0.6)


def test_median_of_an_even_count_is_the_mean_of_the_middle_two() -> None:
    hist = pool_history([0.0, 1.0, 2.0, 3.0], [1, 2, 3, 4], [0.1, 0.9, 0.3, 0.5])
    np.testing.assert_allclose(hist.median, [0.1, 0.5, 0.3, 0.4])


def test_median_and_mean_are_of_clipped_forecasts() -> None:
    hist = pool_history([0.0, 1.0, 2.0], [1, 2, 3], [0.0, 0.0, 1.0])
    assert hist.median[-1] == EPS
    assert hist.mean[-1] == pytest.approx((2 * EPS + 1 - EPS) / 3)


@pytest.mark.parametrize("seed", range(4))
def test_median_is_exact_with_ties_and_many_forecasters(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    times, who, probs = random_log(rng, 4000, 300 if seed % 2 else 5, decimals=2)
    expected = naive_history(times, who, probs).median
    np.testing.assert_array_equal(median_history(who, probs), expected)


def test_history_without_median_leaves_it_nan() -> None:
    hist = pool_history([0.0, 1.0], [1, 2], [0.2, 0.4], with_median=False)
    assert np.isnan(hist.median).all()
    assert hist.probability[-1] == pytest.approx(log_pool([0.2, 0.4]))


def test_empty_log_gives_an_empty_history() -> None:
    hist = pool_history([], np.array([], dtype=np.int64), [])
    assert len(hist) == 0
    assert hist.probability.shape == hist.median.shape == (0,)


def test_one_hour_half_life_over_years_neither_overflows_nor_loses_weight() -> None:
    rng = np.random.default_rng(7)
    times, who, probs = random_log(rng, 600, 25, span=3 * YEAR, withdraw=0.35)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or invalid operation would warn
        fast = pool_history(times, who, probs, half_life=HOUR)
    slow = naive_history(times, who, probs, half_life=HOUR)
    active = fast.forecasters > 0
    assert np.isfinite(fast.probability[active]).all()
    assert_same_history(fast, slow)


def test_withdrawing_the_dominant_recent_forecast_restores_the_old_ones() -> None:
    # With a 1-hour half-life, C (day 40) weighs 2^936 times B (day 1) and 2^960 times A (day 0).
    # After C withdraws the pool is A and B again, B 2^24 times heavier: subtracting C's term from
    # plain running sums would have left nothing but rounding error.
    times = [0.0, DAY, 40 * DAY, 40 * DAY + 1, 41 * DAY]
    who = [1, 2, 3, 3, 2]
    probs = [0.2, 0.9, 0.7, math.nan, math.nan]
    fast = pool_history(times, who, probs, half_life=HOUR)
    slow = naive_history(times, who, probs, half_life=HOUR)
    assert_same_history(fast, slow, tol=1e-12)
    assert fast.probability[3] == pytest.approx(log_pool([0.2, 0.9], [2.0**-24, 1.0]), abs=1e-12)
    assert fast.probability[4] == pytest.approx(0.2, abs=1e-12)


def test_track_record_weights_over_many_orders_of_magnitude_survive_withdrawals() -> None:
    times = np.arange(4.0)
    fast = pool_history(
        times,
        [1, 2, 2, 3],
        [0.3, 0.9, math.nan, 0.6],
        track_record_weight=[1e-12, 1e12, 1.0, 1e-12],
    )
    assert fast.probability[2] == pytest.approx(0.3, abs=1e-12)
    assert fast.probability[3] == pytest.approx(log_pool([0.3, 0.6]), abs=1e-12)


def test_forecasts_at_the_same_instant_are_applied_in_the_given_order() -> None:
    hist = pool_history([5.0, 5.0, 5.0], [1, 1, 2], [0.2, 0.4, 0.4])
    np.testing.assert_array_equal(hist.forecasters, [1, 1, 2])
    assert hist.probability[-1] == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("times", "who", "probs", "track_record_weight", "message"),
    [
        ([1.0, 0.0], [1, 2], [0.5, 0.5], None, "sorted"),
        ([0.0, 1.0], [1, 2], [0.5, 1.5], None, r"\[0, 1\]"),
        ([0.0, 1.0], [1, 2], [0.5], None, "same length"),
        ([0.0, 1.0], [1, 2], [0.5, 0.5], [1.0, 0.0], "track_record_weight"),
        ([0.0, math.inf], [1, 2], [0.5, 0.5], None, "finite"),
        ([0.0, 1.0], [1.5, 2.0], [0.5, 0.5], None, "integer"),
    ],
)
def test_invalid_logs_are_rejected(
    times: list[float],
    who: list[float],
    probs: list[float],
    track_record_weight: list[float] | None,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        pool_history(times, who, probs, track_record_weight=track_record_weight)


def test_non_positive_half_life_is_rejected() -> None:
    with pytest.raises(ValueError, match="half_life"):
        pool_history([0.0], [1], [0.5], half_life=0.0)


def test_track_record_weight_of_a_withdrawal_is_ignored() -> None:
    hist = pool_history([0.0, 1.0], [1, 1], [0.5, math.nan], track_record_weight=[1.0, 0.0])
    assert hist.forecasters[-1] == 0


@pytest.mark.parametrize("half_life", [None, DAY])
def test_blocks_of_prefix_sums_carry_their_totals_exactly(
    monkeypatch: pytest.MonkeyPatch, half_life: float | None
) -> None:
    rng = np.random.default_rng(3)
    times, who, probs = random_log(rng, 300, 20, span=20 * DAY)
    monkeypatch.setattr(history, "_CHUNK", 7)
    blocked = pool_history(times, who, probs, half_life=half_life)
    assert_same_history(blocked, naive_history(times, who, probs, half_life=half_life))


@pytest.mark.parametrize(
    "codes",
    [
        [5, 70_000, 5, 3, 70_000, 5],  # needs both 16-bit radix passes
        [2**40, -3, 2**40, 7, -3],  # beyond 32 bits and negative: the general stable sort
        [1, 1, 1],
        [],
    ],
)
def test_each_event_is_linked_to_its_forecasters_previous_and_next_event(codes: list[int]) -> None:
    prev, nxt = link_events(np.array(codes, dtype=np.int64))
    last: dict[int, int] = {}
    expected_prev, expected_next = [], [len(codes)] * len(codes)
    for k, code in enumerate(codes):
        expected_prev.append(last.get(code, -1))
        if code in last:
            expected_next[last[code]] = k
        last[code] = k
    np.testing.assert_array_equal(prev, expected_prev)
    np.testing.assert_array_equal(nxt, expected_next)


def test_compensated_cumsum_keeps_what_a_huge_term_would_swamp() -> None:
    x = np.array([1e16, 1.0, -1e16, 0.5])
    hi, lo = compensated_cumsum(x)
    assert np.cumsum(x)[2] != 1.0  # plain float64 loses the 1
    np.testing.assert_array_equal(hi + lo, [1e16, 1e16 + 1, 1.0, 1.5])


def test_large_history_matches_repooling() -> None:
    rng = np.random.default_rng(11)
    times, who, probs = random_log(rng, 5000, 400, span=30 * DAY, withdraw=0.1)
    fast = pool_history(times, who, probs, half_life=DAY)
    slow = naive_history(times, who, probs, half_life=DAY)
    assert_same_history(fast, slow)
