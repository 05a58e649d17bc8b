"""Calibration of multiple-choice and continuous forecasts (docs/methods.md §5.6)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasts.distributions import Scale
from scoring.calibration import calibration_bins, wilson_interval
from scoring.calibration_types import (
    interval_coverage,
    mc_calibration_bins,
    mc_calibration_pairs,
    pit_histogram,
    pit_values,
)
from scoring.rules_types import grid_values


def uniform_cdf(below: float = 0.0, above: float = 0.0) -> np.ndarray:
    inner = 1.0 - below - above
    return below + inner * np.arange(201) / 200


def test_multiple_choice_bins_are_one_vs_rest_pairs() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
    bins = mc_calibration_bins(probs, [0, 2], n_bins=10)
    expected = calibration_bins([0.6, 0.3, 0.1, 0.2, 0.3, 0.5], [1, 0, 0, 0, 0, 1], 10)
    assert bins == expected
    assert sum(b.count for b in bins) == 6
    assert bins[3].count == 2 and bins[3].observed_frequency == 0.0  # both 0.3s missed
    assert bins[6].observed_frequency == 1.0


def test_questions_with_different_numbers_of_options_combine_by_their_pairs() -> None:
    p3, o3 = mc_calibration_pairs([[0.6, 0.3, 0.1]], [1])
    p2, o2 = mc_calibration_pairs([[0.75, 0.25], [0.5, 0.5]], [0, 0])
    np.testing.assert_array_equal(p3, [0.6, 0.3, 0.1])
    np.testing.assert_array_equal(o3, [0, 1, 0])
    bins = calibration_bins(np.r_[p3, p2], np.r_[o3, o2], 4)
    # [0, .25): 0.1 | [.25, .5): 0.3, 0.25 | [.5, .75): 0.6, 0.5, 0.5 | [.75, 1]: 0.75
    assert [b.count for b in bins] == [1, 2, 3, 1]
    assert bins[1].observed_frequency == 0.5  # 0.3 happened, 0.25 did not
    assert bins[2].observed_frequency == pytest.approx(1 / 3)  # of 0.6, 0.5, 0.5 only one


def test_multiple_choice_bins_reject_invalid_forecasts() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        mc_calibration_bins([[0.6, 0.3]], [0])
    with pytest.raises(ValueError, match="option index"):
        mc_calibration_bins([[0.6, 0.4]], [2])


def test_pit_interpolates_the_cdf_in_value_units() -> None:
    scale = Scale(0.0, 100.0)
    cdf = uniform_cdf()
    np.testing.assert_allclose(pit_values(cdf, 37.3, scale), [0.373])
    np.testing.assert_allclose(pit_values(cdf, 0.0, scale), [0.0])
    np.testing.assert_allclose(pit_values(cdf, 100.0, scale), [1.0])
    # On a log scale the grid values are not evenly spaced: F is linear in value between them.
    log_scale = Scale(1.0, 10_000.0, zero_point=0.0)
    g = grid_values(log_scale)
    y = 0.25 * g[120] + 0.75 * g[121]
    np.testing.assert_allclose(pit_values(cdf, y, log_scale), [(0.25 * 120 + 0.75 * 121) / 200])


def test_pit_of_an_out_of_range_outcome_is_the_middle_of_the_mass_beyond_the_bound() -> None:
    scale = Scale(0.0, 10.0, open_lower=True, open_upper=True)
    cdf = uniform_cdf(below=0.1, above=0.3)
    np.testing.assert_allclose(pit_values(cdf, -math.inf, scale), [0.05])
    np.testing.assert_allclose(pit_values(cdf, -3.0, scale), [0.05])
    np.testing.assert_allclose(pit_values(cdf, 11.0, scale), [0.85])


def test_randomised_pit_draws_inside_the_mass_beyond_the_bound_reproducibly() -> None:
    scale = Scale(0.0, 10.0, open_lower=True, open_upper=True)
    cdfs = np.tile(uniform_cdf(below=0.1, above=0.3), (500, 1))
    values = np.where(np.arange(500) % 2 == 0, -1.0, 20.0)
    a = pit_values(cdfs, values, scale, out_of_range="random", rng=np.random.default_rng(7))
    b = pit_values(cdfs, values, scale, out_of_range="random", rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.all((a[0::2] >= 0.0) & (a[0::2] <= 0.1))
    assert np.all((a[1::2] >= 0.7) & (a[1::2] <= 1.0))
    with pytest.raises(ValueError, match="Generator"):
        pit_values(cdfs, values, scale, out_of_range="random")


def test_pit_rejects_bad_input() -> None:
    scale = Scale(0.0, 1.0)
    with pytest.raises(ValueError, match="201 points"):
        pit_values(np.linspace(0, 1, 11), 0.5, scale)
    with pytest.raises(ValueError, match="NaN"):
        pit_values(uniform_cdf(), math.nan, scale)
    with pytest.raises(ValueError, match="one per CDF"):
        pit_values(uniform_cdf(), [0.1, 0.2], scale)
    with pytest.raises(ValueError, match="mid"):
        pit_values(uniform_cdf(), 0.1, scale, out_of_range="nearest")  # type: ignore[arg-type]


def sample_from(cdf: np.ndarray, scale: Scale, u: np.ndarray) -> np.ndarray:
    """Inverse-transform samples of the piecewise-linear CDF (values beyond a bound → ±inf)."""
    g = grid_values(scale)
    inside = np.interp(u, cdf, g)
    return np.where(u < cdf[0], -np.inf, np.where(u > cdf[-1], np.inf, inside))


def test_pit_inverts_the_quantile_function_in_range() -> None:
    # PIT(F⁻¹(u)) = u: the PIT is uniform exactly when outcomes follow the forecast.
    rng = np.random.default_rng(10)
    scale = Scale(1.0, 1000.0, zero_point=0.0, open_lower=True, open_upper=True)
    pmf = rng.dirichlet(np.full(202, 0.5), size=300) * 0.99 + 0.01 / 202
    cdfs = np.cumsum(pmf, axis=1)[:, :201]
    u = rng.uniform(cdfs[:, 0], cdfs[:, -1])
    values = np.array(
        [sample_from(c, scale, np.array([x]))[0] for c, x in zip(cdfs, u, strict=True)]
    )
    np.testing.assert_allclose(pit_values(cdfs, values, scale), u, atol=1e-12)


def test_calibrated_forecasts_have_a_flat_pit_histogram_and_nominal_coverage() -> None:
    # Outcomes drawn from the forecasts themselves: PIT uniform, 50% and 90% intervals hit at
    # their nominal rates, each within its 99.9% Wilson interval (z = 3.29: ten bins and two
    # intervals tested at once; fixed seed).
    z = 3.290526731491926
    rng = np.random.default_rng(11)
    scale = Scale(0.0, 50.0, open_lower=True, open_upper=True)
    pmf = rng.dirichlet(np.full(202, 0.5), size=2000) * 0.99 + 0.01 / 202
    cdfs = np.cumsum(pmf, axis=1)[:, :201]
    values = np.array([sample_from(c, scale, rng.random(1))[0] for c in cdfs])
    pit = pit_values(cdfs, values, scale, out_of_range="random", rng=rng)
    hist = pit_histogram(pit, z=z)
    assert hist.n == 2000 and int(hist.counts.sum()) == 2000
    assert np.all((hist.wilson_low <= 0.1) & (hist.wilson_high >= 0.1))
    for cov in interval_coverage(pit, z=z):
        assert cov.wilson_low <= cov.level <= cov.wilson_high


def test_overconfident_forecasts_have_a_u_shaped_pit_and_low_coverage() -> None:
    # Narrow forecasts around 25 while outcomes spread over the whole range.
    rng = np.random.default_rng(12)
    scale = Scale(0.0, 50.0)
    x = grid_values(scale)
    cdf = 1.0 / (1.0 + np.exp(-(x - 25.0) / 1.0))
    cdf = (cdf - cdf[0]) / (cdf[-1] - cdf[0])
    pit = pit_values(np.tile(cdf, (1000, 1)), rng.uniform(0.0, 50.0, 1000), scale)
    hist = pit_histogram(pit)
    assert hist.frequency[0] > 0.3 and hist.frequency[-1] > 0.3
    fifty, ninety = interval_coverage(pit)
    assert fifty.wilson_high < 0.5 and ninety.wilson_high < 0.9


def test_pit_histogram_bins_and_wilson_intervals() -> None:
    hist = pit_histogram([0.0, 0.05, 0.1, 0.55, 1.0], n_bins=10)
    np.testing.assert_array_equal(hist.counts, [2, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_allclose(hist.frequency, hist.counts / 5)
    assert (hist.wilson_low[0], hist.wilson_high[0]) == wilson_interval(2, 5)
    assert hist.edges[3] == 0.3
    empty = pit_histogram([])
    assert empty.n == 0 and np.all(np.isnan(empty.frequency))
    assert np.all(empty.wilson_low == 0.0) and np.all(empty.wilson_high == 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pit_histogram([0.5, math.nan])


def test_interval_coverage_counts_pits_inside_the_central_interval() -> None:
    fifty, ninety = interval_coverage([0.25, 0.5, 0.75, 0.05, 0.95, 0.01])
    assert (fifty.hits, fifty.n) == (3, 6)  # the ends 0.25 and 0.75 are inside
    assert (ninety.hits, ninety.n) == (5, 6)
    assert fifty.frequency == 0.5
    assert (fifty.wilson_low, fifty.wilson_high) == wilson_interval(3, 6)
    (none,) = interval_coverage([], levels=(0.8,))
    assert none.n == 0 and math.isnan(none.frequency)
    with pytest.raises(ValueError, match="levels"):
        interval_coverage([0.5], levels=(1.0,))
