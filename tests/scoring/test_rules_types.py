"""Scoring rules of multiple-choice and continuous questions (docs/methods.md §4.10–§4.15): SPEC's
reference values, parity with the binary rules and with ``scoringrules``' CRPS, properness, and
the time averages against an instant-by-instant reference."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pytest
import scoringrules as sr
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasts.distributions import Scale, resolution_bucket
from forecasts.history import forecast_events, pool_history
from scoring.rules import (
    baseline_score,
    brier,
    log_score,
    peer_scores,
    score_events,
    score_question,
    score_series,
)
from scoring.rules_types import (
    CDF_POINTS,
    bucket_probability,
    continuous_base_probability,
    continuous_baseline,
    continuous_crps,
    continuous_log,
    continuous_peer_scores,
    crps_cdf,
    grid_values,
    mc_baseline,
    mc_brier,
    mc_log,
    mc_peer_scores,
    pmf_from_cdf,
    score_question_continuous,
    score_question_mc,
    score_series_continuous,
    score_series_mc,
)
from tests.reference.scoring import naive_score_events

WINDOW = {"open_time": 0.0, "close_time": 100.0}
inner_probability = st.floats(min_value=0.001, max_value=0.999, allow_nan=False)


def cdf_from_inbound(pmf_in: np.ndarray, below: float = 0.0) -> np.ndarray:
    """The 201-point CDF of ``below`` mass under the range and the 200 in-range buckets."""
    return np.minimum(np.concatenate(([below], below + np.cumsum(pmf_in))), 1.0)


def random_simplex(rng: np.random.Generator, k: int, size: int | None = None) -> np.ndarray:
    p = rng.dirichlet(np.ones(k), size=size) * (1 - 0.001 * k) + 0.001
    return np.asarray(p / p.sum(axis=-1, keepdims=True))


def random_cdfs(rng: np.random.Generator, n: int, m: int = CDF_POINTS) -> np.ndarray:
    """n standardised-looking CDFs: random PMFs over m + 1 buckets with a floor."""
    pmf = rng.dirichlet(np.full(m + 1, 0.3), size=n) * 0.99 + 0.01 / (m + 1)
    return np.asarray(np.cumsum(pmf, axis=1)[:, :m])


# --- multiple choice: SPEC's reference values --------------------------------------------------


def test_multiple_choice_scores_match_spec_reference_values() -> None:
    # SPEC: p = [0.6, 0.3, 0.1], "outcome option 1": Brier 0.26, log -0.510826, baseline
    # 53.502648. Only the first option (0-based index 0) gives Brier 0.26 = 0.4² + 0.3² + 0.1²:
    # SPEC counts options from 1, the code from 0.
    p = [0.6, 0.3, 0.1]
    assert mc_brier(p, 0) == pytest.approx(0.26, abs=1e-12)
    assert mc_log(p, 0) == pytest.approx(-0.510826, abs=1e-6)
    assert mc_baseline(p, 0) == pytest.approx(53.502648, abs=1e-6)
    assert mc_brier(p, 1) == pytest.approx(0.86, abs=1e-12)  # index 1 is the second option


def test_multiple_choice_rules_vectorise_over_forecasts() -> None:
    rng = np.random.default_rng(1)
    p = random_simplex(rng, 4, size=50)
    o = rng.integers(0, 4, 50)
    rows = [(mc_brier(list(p[i]), int(o[i])), mc_log(list(p[i]), int(o[i]))) for i in range(50)]
    np.testing.assert_allclose(mc_brier(p, o), [r[0] for r in rows], rtol=0, atol=0)
    np.testing.assert_allclose(mc_log(p, o), [r[1] for r in rows], rtol=0, atol=0)
    np.testing.assert_allclose(mc_baseline(p, 2), 100 * np.log(p[:, 2] * 4) / np.log(4))


def test_multiple_choice_baseline_is_zero_for_the_uniform_forecast_and_100_for_certainty() -> None:
    assert mc_baseline([0.25] * 4, 3) == pytest.approx(0.0, abs=1e-12)
    assert mc_baseline([0.0, 1.0, 0.0], 1) == pytest.approx(100.0)
    assert mc_log([0.0, 1.0, 0.0], 0) == -math.inf


def test_multiple_choice_brier_ranges_from_0_to_2() -> None:
    assert mc_brier([0.0, 1.0, 0.0], 1) == 0.0
    assert mc_brier([1.0, 0.0, 0.0], 1) == 2.0


@pytest.mark.parametrize(
    ("probs", "outcome", "match"),
    [
        ([0.6, 0.3], 0, "sum to 1"),
        ([0.6, 0.5, -0.1], 0, r"\[0, 1\]"),
        ([0.6, math.nan, 0.4], 0, "NaN"),
        ([1.0], 0, "k ≥ 2"),
        ([0.6, 0.3, 0.1], 3, "option index"),
        ([0.6, 0.3, 0.1], -1, "option index"),
        ([0.6, 0.3, 0.1], 0.0, "integer"),
        ([[0.5, 0.5], [0.5, 0.5]], [0, 1, 1], "one per forecast"),
    ],
)
def test_multiple_choice_rules_reject_invalid_input(
    probs: object, outcome: object, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        mc_brier(probs, outcome)  # type: ignore[arg-type]


def test_multiple_choice_sums_within_one_millionth_are_accepted() -> None:
    assert mc_log([0.6, 0.3, 0.1 + 5e-7], 0) == pytest.approx(math.log(0.6))


# --- multiple choice: two options are binary --------------------------------------------------


@settings(deadline=None)
@given(inner_probability, st.integers(min_value=0, max_value=1))
def test_two_option_rules_equal_the_binary_rules(q: float, o: int) -> None:
    # Option 1 is YES with probability q; the outcome index is the binary outcome. The
    # multiple-choice Brier sums over both options: exactly twice the binary (p - o)².
    p = [1.0 - q, q]
    assert mc_brier(p, o) == pytest.approx(2.0 * brier(q, o), rel=1e-12, abs=1e-15)
    assert mc_log(p, o) == pytest.approx(log_score(q, o), rel=1e-9, abs=1e-15)
    assert mc_baseline(p, o) == pytest.approx(baseline_score(q, o), rel=1e-9, abs=1e-9)


@settings(deadline=None)
@given(st.lists(inner_probability, min_size=1, max_size=30), st.integers(0, 1))
def test_two_option_peer_scores_equal_the_binary_peer_scores(qs: list[float], o: int) -> None:
    p = np.column_stack((1.0 - np.array(qs), qs))
    np.testing.assert_allclose(mc_peer_scores(p, o), peer_scores(qs, o), rtol=1e-9, atol=1e-7)


@settings(deadline=None)
@given(st.integers(min_value=2, max_value=6), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_multiple_choice_peer_scores_of_one_instant_sum_to_zero(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = mc_peer_scores(random_simplex(rng, k, size=n), int(rng.integers(0, k)))
    assert scores.shape == (n,)
    assert float(np.sum(scores)) == pytest.approx(0.0, abs=1e-8)


def test_lone_multiple_choice_forecaster_has_peer_score_zero() -> None:
    np.testing.assert_array_equal(mc_peer_scores([[0.2, 0.3, 0.5]], 2), [0.0])


# --- properness ---------------------------------------------------------------------------------


@settings(deadline=None)
@given(st.integers(min_value=2, max_value=6), st.integers(0, 2**32 - 1))
def test_expected_multiple_choice_scores_are_best_at_the_truth(k: int, seed: int) -> None:
    # Under the true distribution q, no forecast p beats q in expectation (strict propriety of
    # the log and Brier scores; the baseline is an affine function of the log score).
    rng = np.random.default_rng(seed)
    q = random_simplex(rng, k)
    p = random_simplex(rng, k, size=20)
    options = np.arange(k)
    truth = np.broadcast_to(q, (k, k))
    exp_log_q = float(q @ mc_log(truth, options))
    exp_brier_q = float(q @ mc_brier(truth, options))
    exp_base_q = float(q @ mc_baseline(truth, options))
    for row in p:
        rows = np.broadcast_to(row, (k, k))
        assert float(q @ mc_log(rows, options)) <= exp_log_q + 1e-12
        assert float(q @ mc_brier(rows, options)) >= exp_brier_q - 1e-12
        assert float(q @ mc_baseline(rows, options)) <= exp_base_q + 1e-9


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**32 - 1))
def test_expected_continuous_log_and_baseline_scores_are_best_at_the_truth(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cdfs = random_cdfs(rng, 6)  # row 0 is the truth
    q = pmf_from_cdf(cdfs[0])  # the outcome falls in bucket b with probability q_b
    opened = {"open_lower": True, "open_upper": True}
    logs = np.array([continuous_log(cdfs, b) for b in range(CDF_POINTS + 1)])  # (202, 6)
    base = np.array([continuous_baseline(cdfs, b, **opened) for b in range(CDF_POINTS + 1)])
    expected_log, expected_base = q @ logs, q @ base
    assert np.all(expected_log[1:] <= expected_log[0] + 1e-12)
    assert np.all(expected_base[1:] <= expected_base[0] + 1e-9)


@settings(deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_expected_crps_is_best_at_the_truth(seed: int) -> None:
    # A discrete truth G (weights w on points y) is a step CDF, exact on a grid with repeated
    # values; any other CDF F on the same grid scores at least as badly in expectation.
    rng = np.random.default_rng(seed)
    y = np.sort(rng.uniform(0.0, 10.0, 5))
    w = rng.dirichlet(np.ones(5))
    grid, steps = step_cdf(y, w, 0.0, 10.0)
    expected_truth = float(w @ crps_cdf(np.broadcast_to(steps, (5, grid.size)), grid, y))
    for cdf in random_cdfs(rng, 10, grid.size):
        expected_other = float(w @ crps_cdf(np.broadcast_to(cdf, (5, grid.size)), grid, y))
        assert expected_other >= expected_truth - 1e-12


# --- continuous: the grid, buckets and PMF ----------------------------------------------------


def test_pmf_has_202_buckets_below_inside_and_above_the_range() -> None:
    rng = np.random.default_rng(3)
    cdf = random_cdfs(rng, 1)[0]
    pmf = pmf_from_cdf(cdf)
    assert pmf.shape == (202,)
    assert pmf[0] == cdf[0]
    assert pmf[201] == pytest.approx(1.0 - cdf[200])
    np.testing.assert_allclose(pmf[1:201], np.diff(cdf))
    assert pmf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(bucket_probability(cdf, 201), [pmf[201]])
    np.testing.assert_allclose(bucket_probability(cdf, 0), [pmf[0]])
    np.testing.assert_allclose(bucket_probability(cdf, 57), [pmf[57]])


@pytest.mark.parametrize(
    ("cdf", "match"),
    [
        (np.r_[np.linspace(0, 1, 200), [0.9]], "non-decreasing"),
        (np.r_[np.linspace(0, 1, 200), [math.nan]], "NaN"),
        (np.linspace(-0.1, 1, 201), r"\[0, 1\]"),
        (np.array([0.5]), "m ≥ 2"),
    ],
)
def test_invalid_cdfs_are_rejected(cdf: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pmf_from_cdf(cdf)
    with pytest.raises(ValueError, match=match):
        continuous_log(cdf, 1)


def test_a_cdf_of_the_wrong_length_is_rejected_for_a_201_point_scale() -> None:
    with pytest.raises(ValueError, match="201 points"):
        continuous_crps(np.linspace(0, 1, 200), 0.5, Scale(0.0, 1.0))


def buckets(scale: Scale, values: Iterable[float]) -> list[int]:
    return [resolution_bucket(float(v), scale) for v in values]


def test_bucket_of_a_value_follows_the_grid() -> None:
    scale = Scale(10.0, 30.0, open_lower=True, open_upper=True)
    values = grid_values(scale)
    assert values[0] == 10.0 and values[-1] == 30.0
    assert buckets(scale, [9.99, -math.inf, 10.0]) == [0, 0, 1]
    assert buckets(scale, [30.0, 30.01, math.inf]) == [200, 201, 201]
    # Bucket k ≥ 1 holds locations ((k-1)/200, k/200]: a grid value closes its bucket.
    assert buckets(scale, values[1:]) == list(range(1, 201))
    assert buckets(scale, values[1:-1] + 1e-6) == list(range(2, 201))
    with pytest.raises(ValueError, match="not NaN"):
        resolution_bucket(math.nan, scale)


def test_log_scale_grid_and_its_inverse_agree() -> None:
    # METR-like range in minutes with a log scale: zero point 0.
    scale = Scale(1.0, 10_000.0, zero_point=0.0, open_lower=True, open_upper=True)
    values = grid_values(scale)
    assert values[100] == pytest.approx(100.0)  # the geometric middle of [1, 10000]
    np.testing.assert_allclose(scale.location(values), np.arange(201) / 200, atol=1e-12)
    assert buckets(scale, values[1:]) == list(range(1, 201))
    assert buckets(scale, [0.5, 20_000.0]) == [0, 201]
    assert scale.location(-5.0) == -math.inf  # beyond the zero point: below the range


@pytest.mark.parametrize(
    "kwargs",
    [
        {"range_min": 1.0, "range_max": 1.0},
        {"range_min": 0.0, "range_max": math.inf},
        {"range_min": 0.0, "range_max": 10.0, "zero_point": 5.0},
    ],
)
def test_invalid_scales_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        grid_values(Scale(**kwargs))


# --- continuous: log, baseline, peer ------------------------------------------------------------


def test_continuous_baseline_matches_spec_reference_values() -> None:
    # 200 buckets, closed bounds: β = 1/200. SPEC: 0.2 in the resolved bucket scores +184.4440,
    # the floor 0.01/200 scores -230.2585.
    high = np.full(200, 0.8 / 199)
    high[100] = 0.2
    low = np.full(200, (1 - 0.01 / 200) / 199)
    low[100] = 0.01 / 200
    closed = {"open_lower": False, "open_upper": False}
    assert continuous_baseline(cdf_from_inbound(high), 101, **closed)[0] == pytest.approx(
        184.4440, abs=1e-4
    )
    assert continuous_baseline(cdf_from_inbound(low), 101, **closed)[0] == pytest.approx(
        -230.2585, abs=1e-4
    )
    assert continuous_log(cdf_from_inbound(high), 101)[0] == pytest.approx(math.log(0.2))


def test_continuous_baseline_is_zero_for_the_uniform_forecast_with_open_bounds() -> None:
    # Open bounds: the uniform forecast puts 0.05 outside each bound and 0.9/200 in each bucket.
    cdf = cdf_from_inbound(np.full(200, 0.9 / 200), below=0.05)
    opened = {"open_lower": True, "open_upper": True}
    for bucket in (0, 1, 100, 200, 201):
        assert continuous_baseline(cdf, bucket, **opened)[0] == pytest.approx(0.0, abs=1e-9)
    assert continuous_base_probability(5, open_lower=True, open_upper=False) == 0.95 / 200
    assert continuous_base_probability(201, open_lower=False, open_upper=True) == 0.05


def test_an_outcome_beyond_a_closed_bound_is_rejected() -> None:
    cdf = cdf_from_inbound(np.full(200, 1 / 200))
    with pytest.raises(ValueError, match="closed bound"):
        continuous_baseline(cdf, 0, open_lower=False, open_upper=True)
    with pytest.raises(ValueError, match="closed bound"):
        continuous_base_probability(201, open_lower=True, open_upper=False)
    with pytest.raises(ValueError, match="bucket index"):
        continuous_base_probability(202, open_lower=True, open_upper=True)


@settings(deadline=None)
@given(st.integers(1, 30), st.integers(0, 201), st.integers(0, 2**32 - 1))
def test_continuous_peer_scores_sum_to_zero_and_are_halved(n: int, b: int, seed: int) -> None:
    cdfs = random_cdfs(np.random.default_rng(seed), n)
    scores = continuous_peer_scores(cdfs, b)
    assert float(np.sum(scores)) == pytest.approx(0.0, abs=1e-8)
    lp = np.log(bucket_probability(cdfs, b))
    if n > 1:
        others = (lp.sum() - lp[0]) / (n - 1)
        assert scores[0] == pytest.approx(100 * (lp[0] - others) / 2, rel=1e-9, abs=1e-9)


# --- CRPS ---------------------------------------------------------------------------------------


def test_crps_reference_values_of_spec_from_scoringrules() -> None:
    assert float(sr.crps_normal(0.0, 0.0, 1.0)) == pytest.approx(0.233695, abs=1e-6)
    assert float(sr.crps_normal(1.0, 0.0, 1.0)) == pytest.approx(0.602441, abs=1e-6)
    assert float(sr.crps_ensemble(0.0, np.array([0.0, 1.0]))) == pytest.approx(0.25)
    assert float(sr.crps_ensemble(2.0, np.array([0.0, 1.0]))) == pytest.approx(1.25)
    assert float(sr.crps_ensemble(0.0, np.array([0.0, 0.0, 1.0]))) == pytest.approx(1 / 9)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    return np.asarray(0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0))))


def test_crps_of_a_fine_normal_cdf_matches_the_closed_form() -> None:
    grid = np.linspace(-10.0, 10.0, 20_001)
    cdf = normal_cdf(grid)
    got = crps_cdf(np.vstack([cdf, cdf]), grid, [0.0, 1.0])
    np.testing.assert_allclose(got, [0.233695, 0.602441], atol=1e-6)
    np.testing.assert_allclose(got, sr.crps_normal(np.array([0.0, 1.0]), 0.0, 1.0), atol=1e-7)


def test_crps_of_a_normal_on_the_201_point_grid_is_within_its_discretisation_error() -> None:
    # Linear interpolation between 201 points over [-8, 8] (spacing 0.08) costs ~1e-4.
    scale = Scale(-8.0, 8.0)
    cdf = normal_cdf(grid_values(scale))
    got = continuous_crps(cdf, np.array([0.0]), scale)
    assert got[0] == pytest.approx(0.233695, abs=2e-4)
    assert continuous_crps(cdf, 1.0, scale)[0] == pytest.approx(0.602441, abs=2e-4)


def step_cdf(
    members: np.ndarray, weights: np.ndarray, lo: float, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ensemble's step CDF on [lo, hi] as a grid with every member repeated (a jump)."""
    order = np.argsort(members)
    y, w = members[order], weights[order]
    cum = np.cumsum(w)
    grid = np.concatenate(([lo], np.repeat(y, 2), [hi]))
    before = np.concatenate(([0.0], cum[:-1]))  # not cum - w: that can round below cum[i-1]
    cdf = np.concatenate(([0.0], np.ravel(np.column_stack((before, cum))), [1.0]))
    return grid, np.minimum(cdf, 1.0)


@pytest.mark.parametrize(
    ("members", "obs", "expected"),
    [([0.0, 1.0], 0.0, 0.25), ([0.0, 1.0], 2.0, 1.25), ([0.0, 0.0, 1.0], 0.0, 1 / 9)],
)
def test_crps_of_an_ensemble_step_cdf_matches_spec_exactly(
    members: list[float], obs: float, expected: float
) -> None:
    m = np.array(members)
    grid, cdf = step_cdf(m, np.full(m.size, 1 / m.size), -5.0, 5.0)
    assert crps_cdf(cdf, grid, obs)[0] == pytest.approx(expected, abs=1e-12)


@settings(deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_crps_of_weighted_ensembles_equals_scoringrules(n_members: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    members = rng.normal(0.0, 2.0, n_members)
    weights = rng.dirichlet(np.ones(n_members))
    obs = float(rng.normal(0.0, 2.0))
    # Inside the range the censoring changes nothing: the full CRPS.
    grid, cdf = step_cdf(members, weights, -20.0, 20.0)
    ours = crps_cdf(cdf, grid, obs)[0]
    theirs = float(sr.crps_ensemble(obs, members, ens_w=weights, estimator="qd"))
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)
    # A narrow range censors forecast and observation: the threshold-weighted CRPS with weight
    # 1 on [a, b] (Gneiting & Ranjan 2011), whatever side the observation falls on.
    a, b = -1.0, 1.5
    clipped = np.clip(members, a, b)
    grid, cdf = step_cdf(clipped, weights, a, b)
    ours = crps_cdf(cdf, grid, obs)[0]
    theirs = float(sr.twcrps_ensemble(obs, members, a, b, ens_w=weights, estimator="qd"))
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@settings(deadline=None)
@given(
    st.floats(-3.0, 4.0),
    st.floats(0.0, 0.4),
    st.floats(0.0, 0.4),
)
def test_crps_of_a_uniform_with_bound_masses_equals_scoringrules(
    obs: float, lmass: float, umass: float
) -> None:
    # The out-of-range treatment: mass beyond a bound sits on it, an observation beyond the
    # range is scored at the bound. scoringrules' uniform with point masses on its bounds is
    # exactly that two-point CDF.
    got = crps_cdf([lmass, 1.0 - umass], [0.0, 1.0], obs)[0]
    want = float(sr.crps_uniform(min(max(obs, 0.0), 1.0), 0.0, 1.0, lmass, umass))
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", range(20))
def test_crps_of_random_cdfs_equals_fine_quadrature(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 30))
    grid = np.sort(rng.uniform(-5.0, 5.0, m))
    cdf = random_cdfs(rng, 1, m)[0]
    obs = float(rng.uniform(-6.0, 6.0))
    # Trapezoid rule on each side of the observation, through every grid point: the integrand
    # is then smooth between nodes, so the rule's error is O(h²), far below the tolerance.
    o = min(max(obs, grid[0]), grid[-1])

    def side(lo: float, hi: float, target: float) -> float:
        y = np.union1d(np.linspace(lo, hi, 200_001), grid[(grid > lo) & (grid < hi)])
        return float(np.trapezoid((np.interp(y, grid, cdf) - target) ** 2, y))

    want = side(grid[0], o, 0.0) + side(o, grid[-1], 1.0)
    assert crps_cdf(cdf, grid, obs)[0] == pytest.approx(want, abs=1e-8)


@pytest.mark.parametrize("m", [2, 3, 10, 201])
def test_crps_with_one_shared_observation_equals_one_observation_per_row(m: int) -> None:
    # A scalar observation takes the matrix-vector path; an array the per-row split path.
    rng = np.random.default_rng(m)
    for trial in range(100):
        grid = np.sort(rng.uniform(-5.0, 5.0, m))
        if trial % 5 == 0:  # repeated values (jumps)
            grid = np.sort(np.round(grid))
        cdfs = np.minimum(np.cumsum(rng.dirichlet(np.ones(m + 1), size=7), axis=1)[:, :m], 1.0)
        cdfs[3] = np.nan
        y = [float(rng.uniform(-6, 6)), grid[0], grid[-1], grid[m // 2], -math.inf, math.inf]
        obs = y[trial % 6]
        assert_close(crps_cdf(cdfs, grid, obs), crps_cdf(cdfs, grid, np.full(7, obs)), 1e-12)


def test_crps_is_in_value_units_and_marks_withdrawals() -> None:
    cdf = cdf_from_inbound(np.full(200, 1 / 200))
    small = continuous_crps(cdf, 0.25, Scale(0.0, 1.0))[0]
    big = continuous_crps(cdf, 250.0, Scale(0.0, 1000.0))[0]
    assert small == pytest.approx(7 / 48)  # ∫ x² on [0, .25] + ∫ (1 - x)² on [.25, 1]
    assert big == pytest.approx(1000 * small)
    np.testing.assert_array_equal(
        np.isnan(crps_cdf(np.vstack([cdf, np.full(201, np.nan)]), np.arange(201.0), 3.0)),
        [False, True],
    )


def test_crps_rejects_bad_grids_and_observations() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        crps_cdf([0.1, 0.9], [1.0, 0.0], 0.5)
    with pytest.raises(ValueError, match="one value per CDF point"):
        crps_cdf([0.1, 0.9], [0.0, 1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        crps_cdf([0.1, 0.9], [0.0, 1.0], math.nan)
    with pytest.raises(ValueError, match="one per CDF"):
        crps_cdf([0.1, 0.9], [0.0, 1.0], [0.5, 0.5])


# --- time averages ------------------------------------------------------------------------------


def random_log(
    seed: int, n_max: int = 45
) -> tuple[np.ndarray, np.ndarray, int, np.random.Generator, dict[str, float | None]]:
    rng = np.random.default_rng(seed)
    n_f = int(rng.integers(1, 7))
    n = int(rng.integers(0, n_max))
    times = np.sort(rng.uniform(-20.0, 130.0, n))
    if seed % 3 == 0:
        times = np.sort(np.round(times / 10.0) * 10.0)
    who = rng.integers(0, n_f, n)
    resolved_at = [None, 100.0, float(rng.uniform(-10.0, 110.0)), 40.0][seed % 4]
    window: dict[str, float | None] = {"open_time": 0.0, "close_time": 100.0}
    window["resolved_at"] = resolved_at
    return times, who, n_f, rng, window


def assert_close(a: object, b: object, tol: float = 1e-9) -> None:
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    np.testing.assert_array_equal(np.isnan(x), np.isnan(y))
    np.testing.assert_allclose(x, y, rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(40))
def test_two_option_question_scores_equal_binary_question_scores(seed: int) -> None:
    times, who, n_f, rng, window = random_log(seed)
    q = rng.uniform(0.001, 0.999, times.size)
    q[rng.random(times.size) < 0.25] = np.nan  # withdrawals
    o = int(rng.integers(0, 2))
    binary = score_question(times, who, q, outcome=o, n_forecasters=n_f, **window)  # type: ignore[arg-type]
    two = score_question_mc(
        times,
        who,
        np.column_stack((1 - q, q)),
        outcome=o,
        n_forecasters=n_f,
        **window,  # type: ignore[arg-type]
    )
    assert_close(two.brier, 2 * binary.brier)
    assert_close(two.spot_brier, 2 * binary.spot_brier)
    for field in ("log", "baseline", "peer", "coverage", "spot_log", "spot_baseline", "spot_peer"):
        assert_close(getattr(two, field), getattr(binary, field))

    crowd = pool_history(times, who, q).probability
    b_series = score_series(
        times,
        crowd,
        outcome=o,
        forecast_times=times,
        forecaster=who,
        forecast_probs=q,
        **window,  # type: ignore[arg-type]
    )
    mc_series = score_series_mc(
        times,
        np.column_stack((1 - crowd, crowd)),
        outcome=o,
        forecast_times=times,
        forecaster=who,
        forecast_probs=np.column_stack((1 - q, q)),
        **window,  # type: ignore[arg-type]
    )
    assert_close(mc_series.brier, 2 * b_series.brier)
    for field in ("log", "baseline", "peer", "coverage", "spot_log", "spot_baseline", "spot_peer"):
        assert_close(getattr(mc_series, field), getattr(b_series, field))


@pytest.mark.parametrize("seed", range(40))
def test_multiple_choice_question_scores_equal_the_instant_by_instant_reference(seed: int) -> None:
    times, who, n_f, rng, window = random_log(seed)
    k = int(rng.integers(3, 6))
    p = random_simplex(rng, k, size=times.size).reshape(times.size, k)
    p[rng.random(times.size) < 0.25] = np.nan
    o = int(rng.integers(0, k))
    fast = score_question_mc(times, who, p, outcome=o, n_forecasters=n_f, **window)  # type: ignore[arg-type]
    held = ~np.isnan(p[:, 0])
    lp = np.full(times.size, np.nan)
    lp[held] = np.log(p[held, o])
    slow = naive_score_events(
        times,
        who,
        lp,
        (lp + math.log(k)) / math.log(k),
        np.where(held, np.sum((p - np.eye(k)[o]) ** 2, axis=1), np.nan),
        peer_scale=100.0,
        n_forecasters=n_f,
        **window,  # type: ignore[arg-type]
    )
    for field in ("log", "baseline", "peer", "coverage"):
        assert_close(getattr(fast, field), slow[field])
    for field in ("log", "baseline", "peer"):
        assert_close(getattr(fast, f"spot_{field}"), slow[f"spot_{field}"])
    assert_close(fast.brier, slow["extra"])
    assert_close(fast.spot_brier, slow["spot_extra"])
    assert float(np.sum(fast.peer)) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", range(40))
def test_continuous_question_scores_equal_the_instant_by_instant_reference(seed: int) -> None:
    times, who, n_f, rng, window = random_log(seed)
    scale = Scale(0.0, 50.0, open_lower=True, open_upper=bool(seed % 2))
    cdfs = random_cdfs(rng, times.size)
    if not scale.open_upper:
        cdfs[:, -1] = 1.0
    cdfs[rng.random(times.size) < 0.25] = np.nan
    value = float(rng.uniform(-5.0, 50.0))
    bucket = resolution_bucket(value, scale)
    lp = continuous_log(cdfs, bucket) if times.size else np.empty(0)
    crps = continuous_crps(cdfs, value, scale) if times.size else np.empty(0)
    fast = score_question_continuous(
        times,
        who,
        lp,
        bucket=bucket,
        open_lower=scale.open_lower,
        open_upper=scale.open_upper,
        crps=crps,
        n_forecasters=n_f,
        **window,  # type: ignore[arg-type]
    )
    beta = continuous_base_probability(
        bucket, open_lower=scale.open_lower, open_upper=scale.open_upper
    )
    slow = naive_score_events(
        times,
        who,
        lp,
        (lp - math.log(beta)) / 2,
        crps,
        peer_scale=50.0,
        n_forecasters=n_f,
        **window,  # type: ignore[arg-type]
    )
    for field in ("log", "baseline", "peer", "coverage"):
        assert_close(getattr(fast, field), slow[field])
    for field in ("log", "baseline", "peer"):
        assert_close(getattr(fast, f"spot_{field}"), slow[f"spot_{field}"])
    assert fast.crps is not None and fast.spot_crps is not None
    assert_close(fast.crps, slow["extra"])
    assert_close(fast.spot_crps, slow["spot_extra"])
    assert float(np.sum(fast.peer)) == pytest.approx(0.0, abs=1e-9)


def test_lone_continuous_forecaster_holding_all_window_scores_the_rules() -> None:
    cdf = cdf_from_inbound(np.full(200, 0.9 / 200), below=0.05)
    scale = Scale(0.0, 10.0, open_lower=True, open_upper=True)
    lp = continuous_log(cdf, 120)
    crps = continuous_crps(cdf, 6.0, scale)
    s = score_question_continuous(
        [0.0],
        [0],
        lp,
        bucket=120,
        open_lower=True,
        open_upper=True,
        crps=crps,
        resolved_at=None,
        n_forecasters=1,
        **WINDOW,
    )
    assert s.coverage[0] == 1.0
    assert s.log[0] == pytest.approx(math.log(0.9 / 200))
    assert s.baseline[0] == pytest.approx(0.0, abs=1e-9)  # the uniform forecast
    assert s.peer[0] == 0.0
    assert s.crps is not None and s.crps[0] == pytest.approx(crps[0])
    assert s.spot_crps is not None and s.spot_crps[0] == pytest.approx(crps[0])


def test_discrete_question_without_crps_has_no_crps_scores() -> None:
    s = score_question_continuous(
        [0.0, 50.0],
        [0, 1],
        np.log([0.01, 0.02]),
        bucket=7,
        open_lower=False,
        open_upper=False,
        resolved_at=None,
        n_forecasters=2,
        **WINDOW,
    )
    assert s.crps is None and s.spot_crps is None
    diff = 100 * (math.log(0.01) - math.log(0.02)) / 2
    assert s.peer[0] == pytest.approx(0.5 * diff)  # joined at 50: half the window, halved rule
    np.testing.assert_allclose(s.spot_peer, [diff, -diff])


def test_continuous_crowd_series_is_scored_against_the_active_forecasters() -> None:
    times, who = [0.0, 0.0, 60.0], [0, 1, 1]
    flp = np.log([0.02, 0.005, math.nan])  # forecaster 1 withdraws at 60
    crowd_lp = np.log([0.02, 0.01, 0.02])
    s = score_series_continuous(
        times,
        crowd_lp,
        bucket=3,
        open_lower=False,
        open_upper=False,
        crps=[1.0, 2.0, 3.0],
        resolved_at=None,
        forecast_times=times,
        forecaster=who,
        forecast_log_po=flp,
        **WINDOW,
    )
    # Points at the same instant: the later one holds. [0, 60): crowd 0.01 vs mean of both;
    # [60, 100): crowd 0.02 vs forecaster 0 alone.
    mean_both = (math.log(0.02) + math.log(0.005)) / 2
    peer = (0.6 * 100 * (math.log(0.01) - mean_both) / 2) + 0.4 * 100 * (0.0) / 2
    assert s.peer == pytest.approx(peer)
    assert s.crps == pytest.approx(0.6 * 2.0 + 0.4 * 3.0)
    assert s.spot_crps == 3.0
    assert s.spot_peer == pytest.approx(0.0)
    assert s.baseline == pytest.approx(
        100 * (0.6 * math.log(0.01 * 200) + 0.4 * math.log(0.02 * 200)) / 2
    )


@pytest.mark.parametrize("seed", range(20))
def test_multiple_choice_crowd_series_equals_the_reference(seed: int) -> None:
    # The crowd compared with the mean log score of the active forecasters, as for binary.
    times, who, _, rng, window = random_log(seed)
    k = 3
    p = random_simplex(rng, k, size=times.size).reshape(times.size, k)
    p[rng.random(times.size) < 0.2] = np.nan
    crowd = random_simplex(rng, k, size=times.size).reshape(times.size, k)
    crowd[rng.random(times.size) < 0.1] = np.nan
    o = int(rng.integers(0, k))
    s = score_series_mc(
        times,
        crowd,
        outcome=o,
        forecast_times=times,
        forecaster=who,
        forecast_probs=p,
        **window,  # type: ignore[arg-type]
    )
    # Binary on the "outcome vs rest" collapse has the same log score, hence the same peer.
    b = score_series(
        times,
        crowd[:, o],
        outcome=1,
        forecast_times=times,
        forecaster=who,
        forecast_probs=p[:, o],
        **window,  # type: ignore[arg-type]
    )
    for field in ("log", "peer", "coverage", "spot_log", "spot_peer"):
        assert_close(getattr(s, field), getattr(b, field))


def test_typed_time_averages_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="≤ 0"):
        score_question_continuous(
            [0.0],
            [0],
            [0.5],
            bucket=3,
            open_lower=False,
            open_upper=False,
            resolved_at=None,
            n_forecasters=1,
            **WINDOW,
        )
    with pytest.raises(ValueError, match="closed bound"):
        score_question_continuous(
            [0.0],
            [0],
            [-1.0],
            bucket=0,
            open_lower=False,
            open_upper=False,
            resolved_at=None,
            n_forecasters=1,
            **WINDOW,
        )
    with pytest.raises(ValueError, match="CRPS"):
        score_question_continuous(
            [0.0],
            [0],
            [-1.0],
            bucket=3,
            open_lower=False,
            open_upper=False,
            crps=[-1.0],
            resolved_at=None,
            n_forecasters=1,
            **WINDOW,
        )
    with pytest.raises(ValueError, match="probability 0"):
        score_question_mc(
            [0.0], [0], [[1.0, 0.0]], outcome=1, resolved_at=None, n_forecasters=1, **WINDOW
        )
    with pytest.raises(ValueError, match="same length"):
        score_question_mc(
            [0.0, 1.0],
            [0, 0],
            [[0.5, 0.5]],
            outcome=1,
            resolved_at=None,
            n_forecasters=1,
            **WINDOW,
        )
    with pytest.raises(ValueError, match="together"):
        score_series_mc([0.0], [[0.5, 0.5]], outcome=0, resolved_at=None, forecaster=[0], **WINDOW)


def test_score_events_checks_the_per_event_arrays() -> None:
    ev = forecast_events([0.0, 1.0], [0, 0], [0.5, 0.5])
    with pytest.raises(ValueError, match="one entry per event"):
        score_events(ev, np.zeros(1), np.zeros(2), resolved_at=None, n_forecasters=1, **WINDOW)


def test_multiple_choice_time_averaged_example_of_methods_doc() -> None:
    # docs/methods.md §4.15: window [0, 100], first option happens; A from 0, B from 50.
    s = score_question_mc(
        [0.0, 50.0],
        [0, 1],
        [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]],
        outcome=0,
        resolved_at=None,
        n_forecasters=2,
        **WINDOW,
    )
    np.testing.assert_allclose(s.coverage, [1.0, 0.5])
    np.testing.assert_allclose(s.brier, [0.26, 0.98], atol=1e-12)
    np.testing.assert_allclose(s.log, [-0.510826, -1.609438], atol=1e-6)
    np.testing.assert_allclose(s.baseline, [53.502648, -23.248676], atol=1e-6)
    np.testing.assert_allclose(s.peer, [54.930614, -54.930614], atol=1e-6)
    np.testing.assert_allclose(s.spot_peer, [109.861229, -109.861229], atol=1e-6)
