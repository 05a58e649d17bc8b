"""Calibration bins, Wilson intervals and the Brier score decompositions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.calibration import (
    Z_95,
    brier_decomposition,
    calibration_bins,
    wilson_interval,
)

# deadline=None: Hypothesis's default 200 ms per example turns a busy CI machine into failures;
# timing is not the property under test.


def test_wilson_interval_matches_known_values() -> None:
    # 5 of 10: the textbook 95% Wilson interval (0.2366, 0.7634).
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.236593, abs=1e-6), pytest.approx(0.763407, abs=1e-6))
    # 0 of 10: (0, 0.2775); the bound at the boundary is exactly 0.
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert wilson_interval(10, 10) == (pytest.approx(0.722467, abs=1e-6), 1.0)


def test_wilson_interval_uses_the_given_z() -> None:
    wide = wilson_interval(3, 20, 2.575829)
    narrow = wilson_interval(3, 20, Z_95)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


def test_wilson_interval_of_no_trials_is_uninformative() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
    with pytest.raises(ValueError):
        wilson_interval(-1, 2)


@settings(deadline=None)
@given(st.integers(min_value=0, max_value=500), st.integers(min_value=1, max_value=500))
def test_wilson_interval_contains_the_observed_frequency(k: int, n: int) -> None:
    k = min(k, n)
    low, high = wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_bins_report_counts_means_and_frequencies() -> None:
    probs = [0.05, 0.15, 0.12, 0.3, 0.95, 1.0]
    outcomes = [0, 1, 0, 1, 1, 1]
    bins = calibration_bins(probs, outcomes, n_bins=10)
    assert len(bins) == 10
    assert [b.count for b in bins] == [1, 2, 0, 1, 0, 0, 0, 0, 0, 2]
    assert bins[1].mean_forecast == pytest.approx(0.135)
    assert bins[1].observed_frequency == 0.5
    assert bins[3].lower == pytest.approx(0.3)  # 0.3 opens bin 3, it does not close bin 2
    assert bins[9].upper == 1.0  # 1.0 falls into the last bin
    assert bins[9].observed_frequency == 1.0
    assert (bins[1].wilson_low, bins[1].wilson_high) == pytest.approx(wilson_interval(1, 2))


def test_empty_bins_have_no_mean_and_an_uninformative_interval() -> None:
    empty = calibration_bins([0.05], [1], n_bins=4)[2]
    assert empty.count == 0
    assert math.isnan(empty.mean_forecast)
    assert math.isnan(empty.observed_frequency)
    assert (empty.wilson_low, empty.wilson_high) == (0.0, 1.0)


def test_bins_reject_invalid_input() -> None:
    with pytest.raises(ValueError):
        calibration_bins([0.5, 1.1], [0, 1])
    with pytest.raises(ValueError):
        calibration_bins([0.5], [2])
    with pytest.raises(ValueError):
        calibration_bins([0.5], [1, 0])
    with pytest.raises(ValueError):
        calibration_bins([0.5], [1], n_bins=0)


def random_forecasts(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = rng.beta(0.7, 0.7, n)
    # Overconfident forecasters: outcomes follow a shrunk version of what they said.
    outcomes = (rng.random(n) < 0.5 + 0.7 * (probs - 0.5)).astype(int)
    return probs, outcomes


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("bins", [1, 5, 10, 17, [0.0, 0.05, 0.3, 0.5, 0.51, 0.9, 1.0]])
def test_brier_score_equals_the_five_component_decomposition(
    seed: int, bins: int | list[float]
) -> None:
    probs, outcomes = random_forecasts(seed, 50 + 37 * seed)
    d = brier_decomposition(probs, outcomes, bins)
    assert d.bs == pytest.approx(float(np.mean((probs - outcomes) ** 2)), abs=1e-15)
    assert d.bs == pytest.approx(d.rel - d.res + d.unc + d.wbv - 2 * d.wbc, abs=1e-12)


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=0, max_value=1)),
        min_size=1,
        max_size=200,
    ),
    st.integers(min_value=1, max_value=20),
)
def test_decomposition_identity_holds_for_any_forecasts(
    pairs: list[tuple[float, int]], n_bins: int
) -> None:
    d = brier_decomposition([p for p, _ in pairs], [o for _, o in pairs], n_bins)
    assert d.bs == pytest.approx(d.rel - d.res + d.unc + d.wbv - 2 * d.wbc, abs=1e-12)


@pytest.mark.parametrize("seed", range(25))
def test_murphy_decomposition_is_exact_when_forecasts_in_a_bin_are_identical(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = np.arange(10) / 10 + 0.05  # one forecast value per bin of width 0.1
    probs = rng.choice(levels, 300)
    outcomes = (rng.random(300) < probs).astype(int)
    d = brier_decomposition(probs, outcomes, 10)
    assert abs(d.wbv) < 1e-12
    assert abs(d.wbc) < 1e-12
    assert d.bs == pytest.approx(d.murphy, abs=1e-12)


def test_perfectly_calibrated_forecasts_have_zero_reliability() -> None:
    probs = [0.25] * 4 + [0.75] * 4
    outcomes = [1, 0, 0, 0, 1, 1, 1, 0]
    d = brier_decomposition(probs, outcomes, 2)
    assert d.rel == pytest.approx(0.0, abs=1e-15)
    assert d.unc == 0.25
    assert d.res == pytest.approx(0.0625)


def test_decomposition_rejects_no_forecasts_and_bad_edges() -> None:
    with pytest.raises(ValueError):
        brier_decomposition([], [])
    with pytest.raises(ValueError, match="edges"):
        brier_decomposition([0.5], [1], [0.0, 0.6, 0.4, 1.0])
    with pytest.raises(ValueError, match="edges"):
        brier_decomposition([0.5], [1], [0.1, 1.0])
