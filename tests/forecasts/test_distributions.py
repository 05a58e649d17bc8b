"""forecasts.distributions: multiple-choice and continuous forecasts (docs/methods.md §12)."""

from __future__ import annotations

import itertools
import math
import struct
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from forecasts.distributions import (
    GRID,
    LOCATIONS,
    MAX_STEP,
    MIN_STEP,
    PMF_SIZE,
    DistributionError,
    Scale,
    cdf_from_mixture,
    cdf_from_percentiles,
    cdf_from_pmf,
    discrete_scale,
    forecast_from_payload,
    from_bytes,
    mean,
    option_probabilities,
    parse_date_value,
    pmf,
    quantiles,
    resolution_bucket,
    resolution_value,
    standardise_cdf,
    to_bytes,
    validate_stored_vector,
)

CLOSED = Scale(0.0, 100.0)
OPEN = Scale(0.0, 100.0, open_lower=True, open_upper=True)
LOG = Scale(60.0, 10_000.0, open_lower=True, open_upper=True, zero_point=0.0)
FIVE = {0.05: 10.0, 0.25: 30.0, 0.5: 50.0, 0.75: 70.0, 0.95: 90.0}
TOL = 1e-9


def assert_valid(cdf: np.ndarray, scale: Scale) -> None:
    """The §12.3 guarantees, checked directly (not through validate_stored_vector)."""
    assert cdf.shape == (GRID,)
    assert cdf.dtype == np.float64
    assert np.all(np.isfinite(cdf))
    assert np.all((cdf >= 0.0) & (cdf <= 1.0))
    steps = np.diff(cdf)
    assert steps.min() >= MIN_STEP - TOL
    assert steps.max() <= MAX_STEP + TOL
    if scale.open_lower:
        assert cdf[0] >= 0.001 - TOL
    else:
        assert cdf[0] == 0.0
    if scale.open_upper:
        assert cdf[-1] <= 0.999 + TOL
    else:
        assert cdf[-1] == 1.0


def error_field(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DistributionError) as caught:
        call(*args, **kwargs)
    assert str(caught.value)  # a sentence for the person who sent it
    return caught.value.field


# ---------------------------------------------------------------------------- strategies


@st.composite
def scales(draw: st.DrawFn) -> Scale:
    lo = draw(st.floats(-1e6, 1e6, allow_nan=False))
    # A range narrower than 1/1000 of its magnitude loses digits in x(v) (floats, not the math).
    width = draw(st.floats(1e-3, 1e6).filter(lambda w: w >= 1e-3 * abs(lo)))
    hi = lo + width
    assume(hi > lo)
    zero_point = None
    if draw(st.booleans()):
        gap = draw(st.floats(1e-3 * width, 1e3 * width))
        zero_point = lo - gap if draw(st.booleans()) else hi + gap
        assume(zero_point < lo or zero_point > hi)
    scale = Scale(lo, hi, draw(st.booleans()), draw(st.booleans()), zero_point)
    try:
        scale.validate()
    except DistributionError:
        assume(False)
    return scale


@st.composite
def raw_cdfs(draw: st.DrawFn, scale: Scale) -> np.ndarray:
    """Non-decreasing 201-point CDFs obeying the closed-bound rules, spiky ones included."""
    kind = draw(st.sampled_from(["random", "spikes", "flat"]))
    if kind == "random":
        values = np.sort(np.array(draw(st.lists(st.floats(0, 1), min_size=GRID, max_size=GRID))))
    elif kind == "spikes":
        positions = draw(st.lists(st.integers(0, GRID - 1), min_size=1, max_size=6))
        masses = np.zeros(GRID)
        for i in positions:
            masses[i] += 1.0
        values = np.cumsum(masses) / masses.sum()
    else:
        values = np.full(GRID, draw(st.floats(0, 1)))
    if not scale.open_lower:
        values[0] = 0.0
    if not scale.open_upper:
        values[-1] = 1.0
    return np.maximum.accumulate(values)


# ---------------------------------------------------------------------------- scale


def test_linear_scale_maps_range_to_unit_interval() -> None:
    assert CLOSED.location(25.0) == 0.25
    assert CLOSED.value(0.25) == 25.0
    assert CLOSED.location(-10.0) == -0.1
    assert CLOSED.location(110.0) == pytest.approx(1.1)
    np.testing.assert_array_equal(CLOSED.value(LOCATIONS), LOCATIONS * 100.0)


def test_log_scale_matches_spec_formula() -> None:
    # SPEC: v(x) = min + (max − min)·(r^x − 1)/(r − 1), r = (max − z)/(min − z)
    r = (10_000.0 - 0.0) / (60.0 - 0.0)
    for x in (0.0, 0.3, 0.5, 1.0, -0.2, 1.4):
        expected = 60.0 + (10_000.0 - 60.0) * (r**x - 1) / (r - 1)
        assert LOG.value(x) == pytest.approx(expected, rel=1e-12)
        assert LOG.location(expected) == pytest.approx(x, abs=1e-12)
    assert LOG.value(0.0) == 60.0
    assert LOG.value(1.0) == pytest.approx(10_000.0, rel=1e-15)


def test_log_scale_beyond_zero_point_has_infinite_location() -> None:
    assert LOG.location(0.0) == -math.inf
    assert LOG.location(-5.0) == -math.inf
    above = Scale(0.0, 10.0, zero_point=20.0)
    assert above.location(20.0) == math.inf
    assert above.location(30.0) == math.inf
    assert LOG.value(-math.inf) == pytest.approx(0.0, abs=1e-9)  # the zero point itself


@settings(max_examples=200)
@given(scales(), st.floats(-0.5, 1.5))
def test_location_value_round_trip(scale: Scale, x: float) -> None:
    v = scale.value(x)
    assume(math.isfinite(v))
    assert scale.location(v) == pytest.approx(x, abs=1e-7)
    back = scale.value(scale.location(v))
    assert back == pytest.approx(v, rel=1e-9, abs=1e-9 * (scale.range_max - scale.range_min))


@settings(max_examples=100)
@given(scales())
def test_location_is_increasing_on_the_grid(scale: Scale) -> None:
    values = scale.value(LOCATIONS)
    assert np.all(np.diff(values) > 0) or (scale.range_max - scale.range_min) < 1e-2


def test_scale_accepts_decimal_and_int() -> None:
    scale = Scale(Decimal("1.5"), 10)  # type: ignore[arg-type]
    assert scale.range_min == 1.5 and isinstance(scale.range_max, float)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"range_min": 5.0, "range_max": 5.0}, "range_max"),
        ({"range_min": 6.0, "range_max": 5.0}, "range_max"),
        ({"range_min": math.nan, "range_max": 5.0}, "range_min"),
        ({"range_min": 0.0, "range_max": math.inf}, "range_max"),
        ({"range_min": 1.0, "range_max": 5.0, "zero_point": 3.0}, "zero_point"),
        ({"range_min": 1.0, "range_max": 5.0, "zero_point": 1.0}, "zero_point"),
        ({"range_min": 1.0, "range_max": 5.0, "zero_point": 5.0}, "zero_point"),
        ({"range_min": 1.0, "range_max": 5.0, "zero_point": math.nan}, "zero_point"),
        ({"range_min": 1.0, "range_max": 5.0, "zero_point": -1e300}, "zero_point"),
    ],
)
def test_invalid_scale_is_rejected(kwargs: dict[str, float], field: str) -> None:
    assert error_field(Scale(**kwargs).validate) == field


def test_scale_of_non_numbers_is_rejected() -> None:
    assert error_field(Scale, "a", 5.0) == "range_min"
    assert error_field(Scale, 0.0, None) == "range_max"
    assert error_field(Scale, True, 5.0) == "range_min"


def test_discrete_scale_extends_range_by_half_a_step() -> None:
    scale = discrete_scale(0, 10)
    assert (scale.range_min, scale.range_max) == (-0.5, 10.5)
    assert discrete_scale(0, 1, 0.25, open_upper=True) == Scale(-0.125, 1.125, False, True)
    # Each outcome's bucket share is centred on it: outcome 5 sits on the middle grid line x =
    # 0.5, which belongs to the bucket below it.
    assert scale.location(5.0) == 0.5
    assert resolution_bucket(5.0, scale) == 100
    assert error_field(discrete_scale, 0, 10, 3) == "highest"
    assert error_field(discrete_scale, 0, 10, 0) == "step"


# ---------------------------------------------------------------------------- multiple choice


def test_option_probabilities_renormalise() -> None:
    p = option_probabilities([0.6, 0.3, 0.1 + 5e-7], 3)
    assert p.dtype == np.float64
    assert math.fsum(p) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(p, np.array([0.6, 0.3, 0.1 + 5e-7]) / (1 + 5e-7), rtol=1e-15)


@pytest.mark.parametrize(
    ("raw", "n", "field"),
    [
        ([0.5, 0.5], 3, "probabilities"),  # wrong length
        ([0.5, 0.3, 0.1], 3, "probabilities"),  # sums to 0.9
        ([0.5, 0.3, 0.2 + 2e-6], 3, "probabilities"),  # off by more than 1e-6
        ([0.5, math.nan, 0.5], 3, "probabilities[1]"),
        ([0.5, math.inf, 0.5], 3, "probabilities[1]"),
        ([0.9995, 0.0005], 2, "probabilities[0]"),  # outside [0.001, 0.999]
        ([0.5, 0.4995, 0.0005], 3, "probabilities[2]"),
        ([0.5, "0.5"], 2, "probabilities[1]"),
        ([0.5, True], 2, "probabilities[1]"),
        ("0.5,0.5", 2, "probabilities"),
        ({"a": 0.5, "b": 0.5}, 2, "probabilities"),
        ([1.0], 1, "options"),
    ],
)
def test_invalid_option_probabilities_are_rejected(raw: Any, n: int, field: str) -> None:
    assert error_field(option_probabilities, raw, n) == field


@given(st.lists(st.floats(0.01, 1.0), min_size=2, max_size=12))
def test_normalised_options_pass_stored_validation(weights: list[float]) -> None:
    p = np.array(weights) / sum(weights)
    assume(p.min() >= 0.001 and p.max() <= 0.999)
    stored = option_probabilities(list(p), len(p))
    validate_stored_vector(stored, question_type="multiple_choice", scale=None, n_options=len(p))


def test_bound_option_after_renormalising_still_validates() -> None:
    stored = option_probabilities([0.001, 0.499, 0.5 + 1e-6], 3)
    assert stored[0] < 0.001
    validate_stored_vector(stored, question_type="multiple_choice", scale=None, n_options=3)


# ---------------------------------------------------------------------------- standardise


def test_uniform_closed_cdf_is_a_fixed_point() -> None:
    np.testing.assert_allclose(standardise_cdf(LOCATIONS.copy(), CLOSED), LOCATIONS, atol=1e-15)


@pytest.mark.parametrize(
    ("open_lower", "open_upper", "first", "last"),
    [
        (False, False, 0.0, 1.0),
        (True, False, 0.001, 1.0),
        (False, True, 0.0, 0.999),
        (True, True, 0.001, 0.999),
    ],
)
def test_floor_formula_per_bound_kind(
    open_lower: bool, open_upper: bool, first: float, last: float
) -> None:
    """F' = a·F + 0.01·x + c with a = 0.99 − 0.001·(open bounds), c = 0.001 on an open lower."""
    scale = Scale(0.0, 1.0, open_lower, open_upper)
    raw = np.clip(LOCATIONS * 1.2 - 0.1, 0.0, 1.0)
    if not open_lower:
        raw[0] = 0.0
    if not open_upper:
        raw[-1] = 1.0
    cdf = standardise_cdf(raw, scale)
    a = 0.99 - 0.001 * (open_lower + open_upper)
    c = 0.001 if open_lower else 0.0
    np.testing.assert_allclose(cdf, a * raw + 0.01 * LOCATIONS + c, atol=1e-15)
    assert cdf[0] == pytest.approx(first, abs=1e-15)
    assert cdf[-1] == pytest.approx(last, abs=1e-15)


def test_spike_is_capped_at_max_step_and_rest_share_the_remainder() -> None:
    raw = np.zeros(GRID)
    raw[100:] = 1.0
    cdf = standardise_cdf(raw, CLOSED)
    buckets = pmf(cdf)[1:-1]
    assert buckets[99] == pytest.approx(0.2, abs=1e-15)
    others = np.delete(buckets, 99)
    np.testing.assert_allclose(others, 0.8 / 199, atol=1e-13)  # cumsum rounding
    # SPEC reference: 0.2 in the resolved bucket scores baseline +184.4440 (b = 1/200, halved).
    assert 100 * math.log(buckets[99] * 200) / 2 == pytest.approx(184.4440, abs=5e-5)
    assert_valid(cdf, CLOSED)


def test_empty_buckets_keep_exactly_the_floor() -> None:
    """Five spikes of 0.2 need no cap: the empty buckets get 0.01/200 = the SPEC's floor."""
    raw = np.zeros(GRID)
    for i in (20, 60, 100, 140, 180):
        raw[i:] += 0.2
    raw[-1] = 1.0
    cdf = standardise_cdf(np.minimum(raw, 1.0), CLOSED)
    buckets = pmf(cdf)[1:-1]
    assert buckets.min() == pytest.approx(0.01 / 200, rel=1e-9)
    assert buckets.max() == pytest.approx(0.99 * 0.2 + 0.01 / 200, rel=1e-12)
    # SPEC reference: the floor 0.01/200 scores baseline −230.2585.
    assert 100 * math.log(buckets.min() * 200) / 2 == pytest.approx(-230.2585, abs=5e-5)


@settings(max_examples=300)
@given(st.data())
def test_standardised_cdf_is_always_valid(data: st.DataObject) -> None:
    scale = data.draw(scales())
    raw = data.draw(raw_cdfs(scale))
    cdf = standardise_cdf(raw, scale)
    assert_valid(cdf, scale)
    validate_stored_vector(cdf, question_type="numeric", scale=scale, n_options=None)


@settings(max_examples=200)
@given(st.data())
def test_standardising_twice_moves_at_most_the_floor(data: st.DataObject) -> None:
    """Not idempotent (the floor is mixed in again) but a stored CDF moves by ≤ 0.012."""
    scale = data.draw(scales())
    once = standardise_cdf(data.draw(raw_cdfs(scale)), scale)
    twice = standardise_cdf(once, scale)
    assert np.abs(twice - once).max() <= 0.012 + 1e-12
    assert_valid(twice, scale)


@st.composite
def broken_cdfs(draw: st.DrawFn) -> tuple[Any, Scale, str]:
    """A valid raw CDF with one defect of each class, and the field the error must name."""
    scale = Scale(0.0, 1.0, draw(st.booleans()), draw(st.booleans()))
    cdf = LOCATIONS.copy()
    defect = draw(st.sampled_from(["decreasing", "short", "long", "nan", "inf", "above1", "neg"]))
    i = draw(st.integers(1, GRID - 2))
    if defect == "decreasing":
        cdf[i] = cdf[i - 1] - draw(st.floats(1e-12, 0.5))
        cdf = np.maximum(cdf, 0.0)
        assume(cdf[i] < cdf[i - 1])
        return cdf, scale, f"cdf[{i}]"
    if defect == "short":
        return list(cdf[:200]), scale, "cdf"
    if defect == "long":
        return [*cdf, 1.0], scale, "cdf"
    if defect == "nan":
        cdf[i] = math.nan
        return cdf, scale, f"cdf[{i}]"
    if defect == "inf":
        cdf[i] = math.inf
        return list(cdf), scale, f"cdf[{i}]"
    if defect == "above1":
        cdf[i:] = 1.5
        return cdf, scale, f"cdf[{i}]"
    cdf[: i + 1] = -0.1
    return cdf, scale, "cdf[0]"


@settings(max_examples=200)
@given(broken_cdfs())
def test_every_broken_cdf_is_rejected_with_its_field(case: tuple[Any, Scale, str]) -> None:
    cdf, scale, field = case
    assert error_field(standardise_cdf, cdf, scale) == field


@pytest.mark.parametrize(
    ("scale", "index", "value", "field"),
    [
        (CLOSED, 0, 0.01, "cdf[0]"),  # mass below a closed lower bound
        (CLOSED, 200, 0.98, "cdf[200]"),  # mass above a closed upper bound
        (Scale(0, 1, open_lower=True), 200, 0.98, "cdf[200]"),
        (Scale(0, 1, open_upper=True), 0, 0.01, "cdf[0]"),
    ],
)
def test_mass_beyond_a_closed_bound_is_rejected(
    scale: Scale, index: int, value: float, field: str
) -> None:
    cdf = LOCATIONS.copy()
    cdf[index] = value
    cdf = np.maximum.accumulate(cdf) if index == 0 else cdf
    assert error_field(standardise_cdf, cdf, scale) == field


def test_cdf_of_strings_and_objects_is_rejected() -> None:
    assert error_field(standardise_cdf, ["0.1"] * GRID, OPEN) == "cdf[0]"
    assert error_field(standardise_cdf, "0,1", OPEN) == "cdf"
    assert error_field(standardise_cdf, np.zeros((201, 1)), OPEN) == "cdf"
    assert error_field(standardise_cdf, LOCATIONS, None) == "scale"


def test_rounding_noise_on_a_closed_bound_is_accepted() -> None:
    cdf = LOCATIONS.copy()
    cdf[0] = 1e-11
    cdf[-1] = 1 - 1e-11
    out = standardise_cdf(cdf, CLOSED)
    assert out[0] == 0.0 and out[-1] == 1.0


# ---------------------------------------------------------------------------- percentiles


def test_percentiles_on_grid_lines_are_reproduced_before_the_floor() -> None:
    cdf = cdf_from_percentiles(FIVE, CLOSED)
    assert_valid(cdf, CLOSED)
    for q, v in FIVE.items():
        i = round(v * 2)
        # F' = 0.99·F + 0.01·x: exact on grid lines up to the floor.
        assert cdf[i] == pytest.approx(0.99 * q + 0.01 * v / 100, abs=1e-12)
    got = quantiles(cdf, list(FIVE), CLOSED)
    np.testing.assert_allclose(got, list(FIVE.values()), atol=1.5)


@st.composite
def percentile_cases(draw: st.DrawFn) -> tuple[dict[float, float], Scale, list[int]]:
    scale = draw(scales())
    extra = draw(st.lists(st.floats(0.01, 0.99), max_size=3, unique=True))
    levels = sorted({0.05, 0.25, 0.5, 0.75, 0.95, *(round(q, 3) for q in extra)})
    assume(all(b - a > 1e-3 for a, b in itertools.pairwise(levels)))
    # Grid indices at least 5 apart keep every raw step ≤ 0.9/5 < 0.2 (no capping).
    start = draw(st.integers(5, 15))
    gaps = draw(st.lists(st.integers(5, 25), min_size=len(levels) - 1, max_size=len(levels) - 1))
    indices = [start + sum(gaps[:k]) for k in range(len(levels))]
    values = scale.value(LOCATIONS[indices])
    return dict(zip(levels, values.tolist(), strict=True)), scale, indices


@settings(max_examples=150)
@given(percentile_cases())
def test_percentiles_are_reproduced_within_the_floor(
    case: tuple[dict[float, float], Scale, list[int]],
) -> None:
    percentiles, scale, indices = case
    cdf = cdf_from_percentiles(percentiles, scale)
    assert_valid(cdf, scale)
    for (q, _), i in zip(percentiles.items(), indices, strict=True):
        # |F' − F| = |(a − 1)F + 0.01x + c| ≤ 0.012 where no step was capped.
        assert abs(cdf[i] - q) <= 0.012 + 1e-9


def test_tail_mass_outside_open_bounds_is_used() -> None:
    cdf = cdf_from_percentiles(FIVE, OPEN, below=0.02, above=0.03)
    assert cdf[0] == pytest.approx(0.988 * 0.02 + 0.001, abs=1e-12)
    assert cdf[-1] == pytest.approx(0.988 * 0.97 + 0.011, abs=1e-12)


def test_open_bound_without_tail_mass_gets_an_exponential_tail() -> None:
    cdf = cdf_from_percentiles(FIVE, OPEN)
    assert_valid(cdf, OPEN)
    # Density continues the first segment's (0.2 per 0.2 of range): F(0) = 0.05·e^(−0.1·10).
    raw0 = 0.05 * math.exp(-(0.2 / 0.2 / 0.05) * 0.1)
    assert cdf[0] == pytest.approx(0.988 * raw0 + 0.001, abs=1e-12)


def test_percentiles_beyond_an_open_bound_are_allowed() -> None:
    percentiles = {0.05: -20.0, 0.25: 10.0, 0.5: 40.0, 0.75: 80.0, 0.95: 130.0}
    cdf = cdf_from_percentiles(percentiles, OPEN, below=0.1)
    assert_valid(cdf, OPEN)
    assert cdf[0] == pytest.approx(0.988 * 0.1 + 0.001, abs=1e-12)


def test_percentiles_on_a_log_scale_use_the_internal_scale() -> None:
    percentiles = {0.05: 100.0, 0.25: 300.0, 0.5: 1000.0, 0.75: 3000.0, 0.95: 8000.0}
    cdf = cdf_from_percentiles(percentiles, LOG)
    i = round(LOG.location(1000.0) * 200)
    x = LOG.location(1000.0)
    assert abs(np.interp(x, LOCATIONS, cdf) - 0.5) < 0.012
    assert quantiles(cdf, [0.5], LOG)[0] == pytest.approx(1000.0, rel=0.02)
    assert 0 < i < 200


@pytest.mark.parametrize(
    ("percentiles", "kwargs", "scale", "field"),
    [
        ({0.05: 1.0, 0.25: 2.0, 0.5: 3.0, 0.75: 4.0}, {}, CLOSED, "percentiles"),
        ({**FIVE, 0.5: 20.0}, {}, CLOSED, "percentiles[0.5]"),  # not increasing
        ({**FIVE, 0.25: 10.0}, {}, CLOSED, "percentiles[0.25]"),  # equal values
        ({**FIVE, 0.05: 0.0}, {}, CLOSED, "percentiles[0.05]"),  # on a closed lower bound
        ({**FIVE, 0.95: 120.0}, {}, CLOSED, "percentiles[0.95]"),  # beyond a closed upper
        ({**FIVE, 0.5: math.nan}, {}, CLOSED, "percentiles[0.5]"),
        ({**FIVE, 1.5: 99.0}, {}, OPEN, "percentiles[1.5]"),
        ({**FIVE, "half": 99.0}, {}, OPEN, "percentiles[half]"),
        ({**FIVE, "0.5": 50.0}, {}, OPEN, "percentiles[0.5]"),  # given twice
        (FIVE, {"below": 0.1}, CLOSED, "below"),  # closed bound
        (FIVE, {"above": 0.1}, CLOSED, "above"),
        (FIVE, {"below": 0.2}, OPEN, "below"),  # more than the 5% level inside the range
        (FIVE, {"above": 0.2}, OPEN, "above"),
        (FIVE, {"below": -0.1}, OPEN, "below"),
        (FIVE, {"below": 1.0}, OPEN, "below"),
        ({**FIVE, 0.05: -5.0}, {}, LOG, "percentiles[0.05]"),  # beyond the zero point
        ([], {}, OPEN, "percentiles"),
        ({}, {}, OPEN, "percentiles"),
    ],
)
def test_invalid_percentiles_are_rejected(
    percentiles: Any, kwargs: dict[str, float], scale: Scale, field: str
) -> None:
    assert error_field(cdf_from_percentiles, percentiles, scale, **kwargs) == field


# ---------------------------------------------------------------------------- mixture


def test_single_logistic_matches_its_closed_form() -> None:
    cdf = cdf_from_mixture([(1.0, 50.0, 0.1)], OPEN)
    raw = 1 / (1 + np.exp(-(LOCATIONS - 0.5) / 0.1))
    np.testing.assert_allclose(cdf, 0.988 * raw + 0.01 * LOCATIONS + 0.001, atol=1e-14)
    assert quantiles(cdf, [0.5], OPEN)[0] == pytest.approx(50.0, abs=1e-9)  # symmetric


def test_mixture_on_closed_bounds_drops_outside_mass() -> None:
    cdf = cdf_from_mixture([(2.0, 10.0, 0.1), (1.0, 80.0, 0.05)], CLOSED)
    assert_valid(cdf, CLOSED)
    # the heavier component lies left: the median is below the middle
    assert quantiles(cdf, [0.5], CLOSED)[0] < 50.0


@settings(max_examples=150)
@given(
    scales(),
    st.lists(
        st.tuples(st.floats(0.01, 10), st.floats(-0.5, 1.5), st.floats(1e-4, 2.0)),
        min_size=1,
        max_size=10,
    ),
)
def test_mixture_cdf_is_always_valid(
    scale: Scale, components: list[tuple[float, float, float]]
) -> None:
    in_values = [(w, scale.value(x), s) for w, x, s in components]
    assume(all(math.isfinite(c) for _, c, _ in in_values))
    try:
        cdf = cdf_from_mixture(in_values, scale)
    except DistributionError as error:
        # Only allowed when a closed bound cuts away (almost) everything.
        assert error.field == "components"
        assert not (scale.open_lower and scale.open_upper)
        return
    assert_valid(cdf, scale)


@pytest.mark.parametrize(
    ("components", "field"),
    [
        ([], "components"),
        ([(1.0, 50.0, 0.1)] * 11, "components"),
        ([(1.0, 50.0)], "components[0]"),
        ([(0.0, 50.0, 0.1)], "components[0][0]"),
        ([(1.0, 50.0, 0.1), (1.0, 50.0, -0.1)], "components[1][2]"),
        ([(1.0, math.nan, 0.1)], "components[0][1]"),
        ([(1.0, "50", 0.1)], "components[0][1]"),
        ([(1.0, -1e4, 1e-3)], "components"),  # all mass below a closed lower bound
        ("abc", "components"),
    ],
)
def test_invalid_mixtures_are_rejected(components: Any, field: str) -> None:
    assert error_field(cdf_from_mixture, components, CLOSED) == field


# ---------------------------------------------------------------------------- pmf, quantiles, mean


@settings(max_examples=100)
@given(st.data())
def test_pmf_round_trip(data: st.DataObject) -> None:
    scale = data.draw(scales())
    cdf = standardise_cdf(data.draw(raw_cdfs(scale)), scale)
    masses = pmf(cdf)
    assert masses.shape == (PMF_SIZE,)
    assert math.fsum(masses) == pytest.approx(1.0, abs=1e-15)
    np.testing.assert_allclose(cdf_from_pmf(masses), cdf, atol=1e-14)


def test_pmf_layout() -> None:
    cdf = LOCATIONS * 0.5 + 0.2
    masses = pmf(cdf)
    assert masses[0] == 0.2
    assert masses[-1] == pytest.approx(0.3)
    np.testing.assert_allclose(masses[1:-1], 0.5 / 200)


def test_invalid_pmf_is_rejected() -> None:
    assert error_field(pmf, LOCATIONS[:-1]) == "cdf"
    assert error_field(cdf_from_pmf, np.full(PMF_SIZE, 1 / 201)) == "pmf"
    bad = np.full(PMF_SIZE, 1 / PMF_SIZE)
    bad[3] = -bad[3]
    assert error_field(cdf_from_pmf, bad) == "pmf[3]"


def test_quantiles_of_uniform_are_linear_and_clamped_outside() -> None:
    np.testing.assert_allclose(
        quantiles(LOCATIONS, [0.0, 0.1, 0.5, 0.999, 1.0], CLOSED), [0, 10, 50, 99.9, 100]
    )
    cdf = 0.1 + 0.8 * LOCATIONS  # 10% below and above
    np.testing.assert_allclose(quantiles(cdf, [0.05, 0.1, 0.5, 0.95], OPEN), [0, 0, 50, 100])
    assert error_field(quantiles, LOCATIONS, [0.5, 1.5], CLOSED) == "qs[1]"


def test_quantiles_on_a_log_scale_interpolate_on_the_internal_grid() -> None:
    cdf = 0.001 + 0.998 * LOCATIONS
    median = quantiles(cdf, [0.5], LOG)[0]
    assert median == pytest.approx(LOG.value(0.5), rel=1e-12)
    assert median == pytest.approx(math.sqrt(60 * 10_000) * 1.0, rel=1e-12)  # z = 0: geometric


def test_mean_of_uniform_and_of_clamped_tails() -> None:
    assert mean(LOCATIONS, CLOSED) == pytest.approx(50.0, abs=1e-12)
    cdf = 0.1 + 0.8 * LOCATIONS  # 10% at each bound, uniform inside
    assert mean(cdf, OPEN) == pytest.approx(0.1 * 0 + 0.8 * 50 + 0.1 * 100, abs=1e-12)


def test_mean_on_a_log_scale_integrates_each_bucket_exactly() -> None:
    cdf = 0.0 + LOCATIONS
    closed_log = Scale(60.0, 10_000.0, zero_point=0.0)
    r = 10_000 / 60
    # X = v(U), U uniform on [0, 1]: E = min + (max − min)/(r − 1)·((r − 1)/ln r − 1)
    expected = 60 + (10_000 - 60) / (r - 1) * ((r - 1) / math.log(r) - 1)
    assert mean(cdf, closed_log) == pytest.approx(expected, rel=1e-12)


# ---------------------------------------------------------------------------- resolution bucket


def test_resolution_bucket_follows_metaculus_rule() -> None:
    assert resolution_bucket(0.0, CLOSED) == 1  # range_min goes in the first inbound bucket
    assert resolution_bucket(100.0, CLOSED) == 200
    assert resolution_bucket(0.25, CLOSED) == 1  # (x_0, x_1] with x_1 = 0.005 → 0.5
    assert resolution_bucket(0.5, CLOSED) == 1  # on the grid line x_1: the bucket below
    assert resolution_bucket(0.5000001, CLOSED) == 2
    assert resolution_bucket(50.0, CLOSED) == 100
    assert resolution_bucket(-1.0, OPEN) == 0
    assert resolution_bucket(-math.inf, OPEN) == 0
    assert resolution_bucket(100.5, OPEN) == 201
    assert resolution_bucket(math.inf, OPEN) == 201


@settings(max_examples=200)
@given(scales(), st.integers(1, 200))
def test_every_grid_line_belongs_to_the_bucket_below(scale: Scale, i: int) -> None:
    value = scale.value(float(LOCATIONS[i]))
    assume(scale.range_min < value <= scale.range_max)
    assert resolution_bucket(value, scale) == i


def test_resolution_bucket_matches_the_pmf_it_scores() -> None:
    """P(bucket of v) = F(x_b) − F(x_{b−1}): the bucket's mass includes v."""
    cdf = cdf_from_percentiles(FIVE, CLOSED)
    masses = pmf(cdf)
    b = resolution_bucket(37.2, CLOSED)
    assert LOCATIONS[b - 1] < CLOSED.location(37.2) <= LOCATIONS[b]
    assert masses[b] == cdf[b] - cdf[b - 1]


@pytest.mark.parametrize("value", [-0.1, 100.1, math.nan, "50", None])
def test_resolution_outside_a_closed_range_or_not_a_number_is_rejected(value: Any) -> None:
    assert error_field(resolution_bucket, value, CLOSED) == "resolution"


@pytest.mark.parametrize(
    ("raw", "question_type", "expected"),
    [
        ("83.5", "numeric", 83.5),
        (7, "discrete", 7.0),
        ("below_lower_bound", "numeric", -math.inf),
        ("above_upper_bound", "date", math.inf),
        ("2026-01-01", "date", 1_767_225_600.0),
    ],
)
def test_resolution_value(raw: Any, question_type: str, expected: float) -> None:
    assert resolution_value(raw, question_type=question_type) == expected


def test_resolution_words_land_beyond_open_bounds_only() -> None:
    below = resolution_value("below_lower_bound", question_type="numeric")
    above = resolution_value("above_upper_bound", question_type="numeric")
    assert resolution_bucket(below, OPEN) == 0
    assert resolution_bucket(above, OPEN) == 201
    assert error_field(resolution_bucket, below, CLOSED) == "resolution"


@pytest.mark.parametrize(
    ("raw", "question_type", "field"),
    [
        ("yes", "numeric", "resolution"),
        ("nan", "numeric", "resolution"),
        ("inf", "numeric", "resolution"),
        ("2026-13-01", "date", "resolution"),
        (None, "numeric", "resolution"),
        ("5", "multiple_choice", "question_type"),
    ],
)
def test_invalid_resolution_values_are_rejected(raw: Any, question_type: str, field: str) -> None:
    assert error_field(resolution_value, raw, question_type=question_type) == field


# ---------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-01-01", 1_767_225_600.0),
        ("2026-01-01T00:00:00Z", 1_767_225_600.0),
        ("2026-01-01T02:00:00+02:00", 1_767_225_600.0),
        ("2026-01-01 00:00:00.5+00", 1_767_225_600.5),  # Metaculus's form
        ("2026-01-01T06:00", 1_767_247_200.0),  # naive = UTC
    ],
)
def test_parse_date_value(text: str, seconds: float) -> None:
    assert parse_date_value(text) == seconds


@pytest.mark.parametrize("text", ["01/02/2026", "tomorrow", "", 1_767_225_600])
def test_unparseable_dates_are_rejected(text: Any) -> None:
    assert error_field(parse_date_value, text, "percentiles[0.5]") == "percentiles[0.5]"


# ---------------------------------------------------------------------------- payloads


def test_payload_multiple_choice() -> None:
    out = forecast_from_payload(
        {"probabilities": [0.2, 0.3, 0.5]},
        question_type="multiple_choice",
        scale=None,
        n_options=3,
    )
    np.testing.assert_allclose(out, [0.2, 0.3, 0.5])


def test_payload_each_continuous_input_gives_a_stored_cdf() -> None:
    payloads: list[dict[str, Any]] = [
        {"cdf": list(LOCATIONS)},
        {"percentiles": {str(k): v for k, v in FIVE.items()}},
        {"percentiles": FIVE, "below": 0.01, "above": 0.02},
        {"components": [[1, 40, 0.1], [0.5, 70.0, 0.05]]},
    ]
    for payload in payloads:
        out = forecast_from_payload(payload, question_type="numeric", scale=OPEN, n_options=None)
        validate_stored_vector(out, question_type="numeric", scale=OPEN, n_options=None)
    by_cdf = forecast_from_payload(
        {"cdf": list(LOCATIONS)}, question_type="discrete", scale=CLOSED, n_options=None
    )
    np.testing.assert_allclose(by_cdf, standardise_cdf(LOCATIONS, CLOSED))


def test_payload_date_accepts_iso_strings_and_seconds() -> None:
    scale = Scale(parse_date_value("2026-01-01"), parse_date_value("2028-01-01"))
    iso = {
        "0.05": "2026-03-01",
        "0.25": "2026-06-01",
        "0.5": "2026-09-01T00:00:00Z",
        "0.75": "2027-01-01",
        "0.95": "2027-06-01",
    }
    seconds = {k: parse_date_value(v) for k, v in iso.items()}
    a = forecast_from_payload(
        {"percentiles": iso}, question_type="date", scale=scale, n_options=None
    )
    b = forecast_from_payload(
        {"percentiles": seconds}, question_type="date", scale=scale, n_options=None
    )
    np.testing.assert_array_equal(a, b)
    median = quantiles(a, [0.5], scale)[0]
    assert abs(median - parse_date_value("2026-09-01")) < 5 * 86_400
    c = forecast_from_payload(
        {"components": [[1, "2027-01-01", 0.1]]}, question_type="date", scale=scale, n_options=None
    )
    assert_valid(c, scale)


@pytest.mark.parametrize(
    ("payload", "question_type", "field"),
    [
        ({"probabilities": [0.5, 0.5], "extra": 1}, "multiple_choice", "extra"),
        ({"probability": 0.5}, "multiple_choice", "probability"),
        ({}, "multiple_choice", "probabilities"),
        ({"probabilities": {"A": 0.5, "B": 0.5}}, "multiple_choice", "probabilities"),
        ({"cdf": list(LOCATIONS), "percentiles": FIVE}, "numeric", "payload"),
        ({}, "numeric", "payload"),
        ({"cdf": list(LOCATIONS), "below": 0.1}, "numeric", "below"),
        ({"components": [[1, 50, 0.1]], "above": 0.1}, "numeric", "above"),
        ({"percentiles": [[0.5, 50]]}, "numeric", "percentiles"),
        ({"percentiles": {**FIVE, 0.5: "2026-01-01"}}, "numeric", "percentiles[0.5]"),
        ({"percentiles": {**FIVE, 0.5: "someday"}}, "date", "percentiles[0.5]"),
        ({"components": 5}, "numeric", "components"),
        ({"cdf": [0.5] * 200}, "numeric", "cdf"),
        ({"probabilities": [1.0]}, "binary", "question_type"),
        (["cdf"], "numeric", "payload"),
    ],
)
def test_invalid_payloads_are_rejected(payload: Any, question_type: str, field: str) -> None:
    scale = Scale(0.0, 2e9, True, True) if question_type == "date" else OPEN
    assert (
        error_field(
            forecast_from_payload, payload, question_type=question_type, scale=scale, n_options=2
        )
        == field
    )


def test_payload_without_scale_or_options_is_rejected() -> None:
    assert (
        error_field(
            forecast_from_payload,
            {"cdf": list(LOCATIONS)},
            question_type="numeric",
            scale=None,
            n_options=None,
        )
        == "scale"
    )
    assert (
        error_field(
            forecast_from_payload,
            {"probabilities": [0.5, 0.5]},
            question_type="multiple_choice",
            scale=None,
            n_options=None,
        )
        == "options"
    )


# ---------------------------------------------------------------------------- stored vectors


def test_stored_vector_checks_catch_each_defect() -> None:
    good = standardise_cdf(LOCATIONS, OPEN)

    def field_of(v: np.ndarray, scale: Scale = OPEN) -> str:
        return error_field(
            validate_stored_vector, v, question_type="numeric", scale=scale, n_options=None
        )

    validate_stored_vector(good, question_type="numeric", scale=OPEN, n_options=None)
    assert field_of(good[:-1]) == "cdf"
    flat = good.copy()
    flat[50] = flat[49]
    assert field_of(flat) == "cdf[50]"  # step below 0.01/200
    i = np.arange(GRID)
    jump = np.where(i < 100, 0.001 + 0.0015 * i, 0.45 + 0.0025 * (i - 100))
    assert field_of(jump) == "cdf[100]"  # step above 0.2
    low = good.copy()
    low[0] = 0.0005
    assert field_of(low) == "cdf[0]"  # open lower needs ≥ 0.001 outside
    assert field_of(LOCATIONS.copy(), OPEN) == "cdf[0]"
    closed = standardise_cdf(LOCATIONS, CLOSED)
    shifted = closed.copy()
    shifted[0] = 0.00001
    assert field_of(shifted, CLOSED) == "cdf[0]"
    below_one = closed.copy()
    below_one[-1] = 0.9999
    assert field_of(below_one, CLOSED) == "cdf[200]"
    nan = good.copy()
    nan[7] = math.nan
    assert field_of(nan) == "cdf[7]"


def test_stored_option_vector_checks() -> None:
    def field_of(v: list[float], n: int = 3) -> str:
        return error_field(
            validate_stored_vector,
            np.array(v),
            question_type="multiple_choice",
            scale=None,
            n_options=n,
        )

    assert field_of([0.5, 0.5]) == "probabilities"
    assert field_of([0.5, 0.3, 0.1]) == "probabilities"
    assert field_of([0.9995, 0.0004, 0.0001]) == "probabilities[0]"
    assert field_of([0.5, 0.5, 0.0]) == "probabilities[2]"


# ---------------------------------------------------------------------------- bytes


@given(st.lists(st.floats(allow_nan=False), max_size=300))
def test_bytes_round_trip_exactly(values: list[float]) -> None:
    v = np.array(values, dtype=np.float64)
    back = from_bytes(to_bytes(v))
    assert back.dtype == np.float64
    assert back.tobytes() == v.tobytes()
    assert back.flags.writeable


def test_bytes_are_little_endian_float64() -> None:
    assert to_bytes(np.array([1.0, -0.0])) == struct.pack("<2d", 1.0, -0.0)
    assert len(to_bytes(standardise_cdf(LOCATIONS, CLOSED))) == 8 * GRID
    nan = from_bytes(struct.pack("<d", math.nan))
    assert math.isnan(nan[0])
    assert error_field(from_bytes, b"\x00" * 7) == "bytes"
    assert error_field(to_bytes, np.zeros((2, 2))) == "vector"


# ---------------------------------------------------------------------------- huge numbers

HUGE = 10**400
"""An integer JSON allows and ``float()`` cannot take (OverflowError, not a DistributionError,
until every conversion went through one checked helper)."""


def test_integers_too_large_for_a_float_are_a_distribution_error() -> None:
    assert error_field(option_probabilities, [HUGE, 0.3, 0.5], 3) == "probabilities[0]"
    cdf = [0.0] * 200 + [HUGE]
    assert error_field(standardise_cdf, cdf, CLOSED) == "cdf[200]"
    assert error_field(cdf_from_percentiles, {**FIVE, 0.95: HUGE}, OPEN) == "percentiles[0.95]"
    assert error_field(cdf_from_percentiles, {**FIVE, HUGE: 99.0}, OPEN) == f"percentiles[{HUGE}]"
    assert error_field(cdf_from_percentiles, FIVE, OPEN, above=HUGE) == "above"
    assert error_field(cdf_from_mixture, [[1, HUGE, 0.1]], OPEN) == "components[0][1]"
    assert error_field(cdf_from_mixture, [[HUGE, 50, 0.1]], OPEN) == "components[0][0]"
    assert error_field(Scale, 0, HUGE) == "range_max"
    assert error_field(resolution_bucket, HUGE, OPEN) == "resolution"
    assert error_field(resolution_value, HUGE, question_type="numeric") == "resolution"


def test_mixture_weights_near_the_float_maximum_are_normalised_without_overflow() -> None:
    huge = cdf_from_mixture([[1e308, 40.0, 0.1], [1e308, 60.0, 0.1]], OPEN)
    unit = cdf_from_mixture([[1.0, 40.0, 0.1], [1.0, 60.0, 0.1]], OPEN)
    np.testing.assert_array_equal(huge, unit)
    assert_valid(huge, OPEN)
