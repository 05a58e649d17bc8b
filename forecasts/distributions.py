"""Multiple-choice and continuous forecasts: representation, inputs and standardisation.

Pure math (numpy and the standard library, never Django), docs/methods.md §12.

- **Multiple choice**: a forecast is one probability per option, each in [0.001, 0.999], summing
  to 1 within 1e-6 and then renormalised exactly (§12.2).
- **Continuous** (numeric, date, discrete): a question has a ``Scale`` — range [min, max], each
  bound open or closed, optionally logarithmic through a zero point (§12.1). A forecast is a CDF
  at ``GRID`` = 201 evenly spaced internal locations x_i = i/200: cdf[0] = P(X < min),
  cdf[200] = P(X ≤ max). Its PMF has 202 buckets [cdf[0], diffs…, 1 − cdf[200]]. Every CDF
  that is stored went through ``standardise_cdf`` (§12.3): bound rules, a 1% uniform floor and
  inbound steps in [0.01/200, 0.2]. Inputs: the 201-point CDF itself, percentiles (§12.4) or a
  mixture of logistic components (§12.5).

The layout is Metaculus's public one (their ``continuous_cdf``, ``open_lower_bound``,
``zero_point``, 200 inbound buckets), so their data and bots' payloads carry over.

Every bad input raises ``DistributionError`` with a sentence for the person who sent it and the
name of the offending field (``"cdf[37]"``, ``"percentiles[0.25]"``, ``"probabilities[2]"``).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, overload

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CONTINUOUS_TYPES",
    "GRID",
    "INBOUND_BUCKETS",
    "LOCATIONS",
    "MAX_COMPONENTS",
    "MAX_OPTION_PROBABILITY",
    "MAX_STEP",
    "MIN_OPTION_PROBABILITY",
    "MIN_OUTSIDE",
    "MIN_STEP",
    "PMF_SIZE",
    "REQUIRED_PERCENTILES",
    "STORED_TOLERANCE",
    "SUM_TOLERANCE",
    "UNIFORM_FLOOR",
    "DistributionError",
    "Scale",
    "cdf_from_mixture",
    "cdf_from_percentiles",
    "cdf_from_pmf",
    "discrete_scale",
    "forecast_from_payload",
    "from_bytes",
    "mean",
    "option_probabilities",
    "parse_date_value",
    "pmf",
    "quantiles",
    "resolution_bucket",
    "resolution_value",
    "standardise_cdf",
    "to_bytes",
    "validate_stored_vector",
]

FloatArray = NDArray[np.float64]

GRID: Final = 201
"""Points of a stored CDF (docs/methods.md §12.1)."""
INBOUND_BUCKETS: Final = GRID - 1
"""Buckets inside the range: 200."""
PMF_SIZE: Final = GRID + 1
"""Buckets of the PMF: below the range, 200 inside, above the range."""
LOCATIONS: Final[FloatArray] = np.arange(GRID, dtype=np.float64) / INBOUND_BUCKETS
"""The internal locations x_i = i/200 (exactly i/200, correctly rounded)."""
LOCATIONS.flags.writeable = False

MIN_OPTION_PROBABILITY: Final = 0.001
MAX_OPTION_PROBABILITY: Final = 0.999
SUM_TOLERANCE: Final = 1e-6
"""Option probabilities must sum to 1 within this before they are renormalised."""

UNIFORM_FLOOR: Final = 0.01
"""Weight of the uniform distribution mixed into every CDF (§12.3)."""
MIN_OUTSIDE: Final = 0.001
"""Least probability kept outside an open bound (§12.3)."""
MIN_STEP: Final = UNIFORM_FLOOR / INBOUND_BUCKETS
"""Least inbound PMF bucket of a standardised CDF: 0.01/200 = 5e-5."""
MAX_STEP: Final = 0.2
"""Largest inbound PMF bucket of a standardised CDF."""
STORED_TOLERANCE: Final = 1e-9
"""Slack of ``validate_stored_vector`` for rounding (Metaculus stores CDFs to 10 decimals)."""
MIN_INBOUND_MASS: Final = 1e-6
"""A mixture must put at least this much inside a range with a closed bound (§12.5)."""
MAX_COMPONENTS: Final = 10
"""Most logistic components in one mixture."""

REQUIRED_PERCENTILES: Final = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Percentile levels every percentile input must give (§12.4)."""

CONTINUOUS_TYPES: Final = frozenset({"numeric", "date", "discrete"})
MULTIPLE_CHOICE: Final = "multiple_choice"

_LEVEL_MATCH = 1e-9


class DistributionError(ValueError):
    """An input that is not a valid forecast, scale or value.

    ``str(error)`` is a sentence for the person who sent the input; ``field`` names the input
    it is about, e.g. ``"cdf[37]"``, ``"percentiles[0.25]"``, ``"probabilities[2]"``,
    ``"components[1][2]"``, ``"range_min"``.
    """

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------------------------
# Scale (docs/methods.md §12.1)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """The range of a continuous question and the map between values and internal locations.

    Linear: x = (v − min)/(max − min). Logarithmic when ``zero_point`` z is set
    (docs/methods.md §12.1): with r = (max − z)/(min − z) and k = ln r,

        v(x) = min + (max − min) · (r^x − 1)/(r − 1) = min + (max − min) · expm1(k·x)/expm1(k)
        x(v) = log1p((v − min)/(max − min) · expm1(k)) / k

    Dates use Unix seconds as values. Numbers given as ``int`` or ``Decimal`` (database fields)
    are converted to ``float``; anything that is not a number raises ``DistributionError``.
    Call ``validate()`` before trusting a scale built from user input; every function of this
    module that takes a scale calls it.
    """

    range_min: float
    range_max: float
    open_lower: bool = False
    open_upper: bool = False
    zero_point: float | None = None

    def __post_init__(self) -> None:
        for name in ("range_min", "range_max", "zero_point"):
            raw = getattr(self, name)
            if raw is None and name == "zero_point":
                continue
            if isinstance(raw, bool) or not isinstance(raw, numbers.Real | Decimal):
                raise DistributionError(f"{name} must be a number, not {raw!r}.", field=name)
            object.__setattr__(self, name, _float(raw, name))
        object.__setattr__(self, "open_lower", bool(self.open_lower))
        object.__setattr__(self, "open_upper", bool(self.open_upper))

    @property
    def is_log(self) -> bool:
        return self.zero_point is not None

    def _log_k(self) -> float:
        assert self.zero_point is not None
        ratio = (self.range_max - self.zero_point) / (self.range_min - self.zero_point)
        return math.log(ratio)

    def validate(self) -> None:
        """Raise ``DistributionError`` unless min < max are finite and the zero point is usable.

        The zero point must be finite and lie outside [min, max] (both ends excluded), and not
        so close to the range that r = (max − z)/(min − z) overflows, nor so far that r rounds
        to 1 (then the scale is linear: leave ``zero_point`` empty).
        """
        lo, hi = self.range_min, self.range_max
        if not math.isfinite(lo):
            raise DistributionError(f"range_min must be a finite number, not {lo}.", "range_min")
        if not math.isfinite(hi):
            raise DistributionError(f"range_max must be a finite number, not {hi}.", "range_max")
        if not lo < hi:
            raise DistributionError(
                f"range_min ({lo:g}) must be below range_max ({hi:g}).", field="range_max"
            )
        if not math.isfinite(hi - lo):
            raise DistributionError("The range is too wide to represent.", field="range_max")
        z = self.zero_point
        if z is None:
            return
        if not math.isfinite(z):
            raise DistributionError(f"zero_point must be a finite number, not {z}.", "zero_point")
        if lo <= z <= hi:
            raise DistributionError(
                f"zero_point ({z:g}) must lie outside the range [{lo:g}, {hi:g}].",
                field="zero_point",
            )
        with np.errstate(all="ignore"):
            ratio = (hi - z) / (lo - z)
        if not (math.isfinite(ratio) and ratio > 0):
            raise DistributionError(
                f"zero_point ({z:g}) is too close to the range for a log scale.", "zero_point"
            )
        if math.log(ratio) == 0.0:
            raise DistributionError(
                f"zero_point ({z:g}) is so far from the range that the scale is linear; "
                "leave zero_point empty.",
                field="zero_point",
            )

    @overload
    def location(self, value: float) -> float: ...
    @overload
    def location(self, value: FloatArray) -> FloatArray: ...
    def location(self, value: float | FloatArray) -> float | FloatArray:
        """Value(s) → internal location(s) x; the range maps to [0, 1], outside to < 0 or > 1.

        On a log scale a value at or beyond the zero point has no location: −inf when the zero
        point is below the range, +inf when above. docs/methods.md §12.1.
        """
        v = np.asarray(value, dtype=np.float64)
        lo, hi = self.range_min, self.range_max
        if self.zero_point is None:
            x = (v - lo) / (hi - lo)
        else:
            k = self._log_k()
            arg = (v - lo) / (hi - lo) * math.expm1(k)
            with np.errstate(divide="ignore", invalid="ignore"):
                inside = np.log1p(np.maximum(arg, -1.0)) / k
            x = np.where(arg > -1.0, inside, -math.inf if k > 0 else math.inf)
            x = np.where(np.isnan(v), np.nan, x)
        if np.ndim(value) == 0:
            return float(x)
        return np.asarray(x, dtype=np.float64)

    @overload
    def value(self, location: float) -> float: ...
    @overload
    def value(self, location: FloatArray) -> FloatArray: ...
    def value(self, location: float | FloatArray) -> float | FloatArray:
        """Internal location(s) x → value(s); the inverse of ``location``. docs/methods.md §12.1."""
        x = np.asarray(location, dtype=np.float64)
        lo, hi = self.range_min, self.range_max
        if self.zero_point is None:
            v = lo + (hi - lo) * x
        else:
            k = self._log_k()
            with np.errstate(over="ignore"):
                v = lo + (hi - lo) * np.expm1(k * x) / math.expm1(k)
        if np.ndim(location) == 0:
            return float(v)
        return np.asarray(v, dtype=np.float64)


def discrete_scale(
    lowest: float,
    highest: float,
    step: float = 1.0,
    *,
    open_lower: bool = False,
    open_upper: bool = False,
) -> Scale:
    """The scale of a discrete question with outcomes lowest, lowest + step, …, highest.

    The range is extended by half a step on each side, [lowest − step/2, highest + step/2], so
    every outcome owns an equal share of the 200 buckets and a resolution at an outcome falls in
    the middle of its share (Metaculus's convention for discrete questions, docs/methods.md
    §12.9). Raises ``DistributionError`` unless (highest − lowest)/step is a whole number ≥ 1.
    """
    for name, number in (("lowest", lowest), ("highest", highest), ("step", step)):
        if not math.isfinite(number):
            raise DistributionError(f"{name} must be a finite number, not {number}.", field=name)
    if not step > 0:
        raise DistributionError(f"step must be positive, not {step:g}.", field="step")
    count = (highest - lowest) / step
    if count < 1 or abs(count - round(count)) > 1e-9 * max(1.0, count):
        raise DistributionError(
            f"highest ({highest:g}) must be lowest ({lowest:g}) plus a whole number (≥ 1) "
            f"of steps ({step:g}).",
            field="highest",
        )
    scale = Scale(lowest - step / 2, highest + step / 2, open_lower, open_upper)
    scale.validate()
    return scale


# --------------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------------


def _is_number(x: object) -> bool:
    return isinstance(x, numbers.Real | Decimal) and not isinstance(x, bool)


def _float(x: object, field: str) -> float:
    """``float(x)`` of a number already checked by ``_is_number``; an integer or Decimal too
    large for a float (JSON allows any number of digits) raises ``DistributionError``."""
    try:
        return float(x)  # type: ignore[arg-type]
    except OverflowError:
        raise DistributionError(
            f"{field} must be a finite number; {str(x)[:20]}… is too large.", field=field
        ) from None


def _number(x: object, field: str, what: str = "a number") -> float:
    if not _is_number(x):
        raise DistributionError(f"{field} must be {what}, not {x!r}.", field=field)
    value = _float(x, field)
    if not math.isfinite(value):
        raise DistributionError(f"{field} must be a finite number, not {value}.", field=field)
    return value


def _vector(raw: object, length: int, field: str, what: str) -> FloatArray:
    """A 1-D float64 copy of ``raw`` of exactly ``length`` finite numbers, or DistributionError."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.dtype.kind not in "fiu":
            raise DistributionError(f"{field} must be a list of numbers.", field=field)
        values = raw.astype(np.float64)
    elif isinstance(raw, Sequence) and not isinstance(raw, str | bytes):
        for i, item in enumerate(raw):
            if not _is_number(item):
                raise DistributionError(
                    f"{field}[{i}] must be a number, not {item!r}.", field=f"{field}[{i}]"
                )
        values = np.array(
            [_float(item, f"{field}[{i}]") for i, item in enumerate(raw)], dtype=np.float64
        )
    else:
        raise DistributionError(f"{field} must be a list of numbers.", field=field)
    if values.shape[0] != length:
        raise DistributionError(
            f"{field} must have {length} {what}, not {values.shape[0]}.", field=field
        )
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise DistributionError(
            f"{field}[{i}] must be a finite number, not {values[i]}.", field=f"{field}[{i}]"
        )
    return values


def _checked_scale(scale: object) -> Scale:
    if not isinstance(scale, Scale):
        raise DistributionError("A continuous question needs a scale.", field="scale")
    scale.validate()
    return scale


# --------------------------------------------------------------------------------------------
# Multiple choice (docs/methods.md §12.2)
# --------------------------------------------------------------------------------------------


def option_probabilities(raw: Sequence[float], n_options: int) -> FloatArray:
    """Validate a multiple-choice forecast and renormalise it: float64[n_options].

    Each probability must be a finite number in [0.001, 0.999] and their sum within 1e-6 of 1;
    the result is p_k / Σ p (Σ with ``math.fsum``), so it sums to 1 up to rounding.
    docs/methods.md §12.2. Raises ``DistributionError`` (field ``probabilities`` or
    ``probabilities[k]``).
    """
    if isinstance(n_options, bool) or not isinstance(n_options, int) or n_options < 2:
        raise DistributionError(
            f"A multiple-choice question needs at least 2 options, not {n_options!r}.",
            field="options",
        )
    p = _vector(raw, n_options, "probabilities", "probabilities, one per option")
    for k, value in enumerate(p):
        if not MIN_OPTION_PROBABILITY <= value <= MAX_OPTION_PROBABILITY:
            raise DistributionError(
                f"probabilities[{k}] = {value:g} is outside [0.001, 0.999]: every option "
                "needs between 0.1% and 99.9%.",
                field=f"probabilities[{k}]",
            )
    total = math.fsum(p.tolist())
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise DistributionError(
            f"The probabilities sum to {total:.9g}; they must sum to 1.", field="probabilities"
        )
    return p / total


# --------------------------------------------------------------------------------------------
# Standardisation (docs/methods.md §12.3)
# --------------------------------------------------------------------------------------------


def _cap_steps(steps: FloatArray, total: float) -> FloatArray:
    """Inbound steps with none above MAX_STEP and the same total (§12.3, water-filling).

    Finds the m largest steps to set to MAX_STEP and one factor s ≥ 1 for the others, so that
    m · MAX_STEP + s · Σ others = total and every other step times s stays ≤ MAX_STEP. The
    other steps only grow, so the floor MIN_STEP still holds. Metaculus searches s by
    bisection; this solves for it exactly.
    """
    if steps.max() <= MAX_STEP:
        return steps
    order = np.argsort(-steps, kind="stable")
    ranked = steps[order]
    rest = np.cumsum(ranked[::-1])[::-1]  # rest[m] = Σ ranked[m:]
    for m in range(1, steps.size):
        factor = (total - m * MAX_STEP) / rest[m]
        if factor * ranked[m] <= MAX_STEP:
            capped = ranked * factor
            capped[:m] = MAX_STEP
            out = np.empty_like(steps)
            out[order] = capped
            return out
    raise AssertionError("unreachable: 200 · MAX_STEP > 1 leaves room for every total")


def _standardise(raw: FloatArray, scale: Scale) -> FloatArray:
    """docs/methods.md §12.3 on a non-decreasing ``raw`` with positive mass in the range.

    Closed bounds rescale the in-range part to cover everything: R = (F − L)/(U − L) with
    L = F[0] (closed lower) or 0, U = F[200] (closed upper) or 1. Then F' = a·R + 0.01·x + c
    with (a, c) = (0.99, 0) closed/closed, (0.989, 0.001) open lower only, (0.989, 0) open
    upper only, (0.988, 0.001) both open; then inbound steps above 0.2 are capped.
    """
    lower = 0.0 if scale.open_lower else float(raw[0])
    upper = 1.0 if scale.open_upper else float(raw[-1])
    rescaled = (raw - lower) / (upper - lower)
    a = 0.99 - MIN_OUTSIDE * (scale.open_lower + scale.open_upper)
    c = MIN_OUTSIDE if scale.open_lower else 0.0
    cdf = a * rescaled + UNIFORM_FLOOR * LOCATIONS + c
    if not scale.open_lower:
        cdf[0] = 0.0
    if not scale.open_upper:
        cdf[-1] = 1.0
    steps = np.diff(cdf)
    if steps.max() > MAX_STEP:
        capped = _cap_steps(steps, float(cdf[-1] - cdf[0]))
        cdf[1:] = cdf[0] + np.cumsum(capped)
        if not scale.open_upper:
            cdf[-1] = 1.0
    return np.clip(cdf, 0.0, 1.0)


def standardise_cdf(cdf: Sequence[float] | FloatArray, scale: Scale) -> FloatArray:
    """Validate a 201-point CDF and standardise it: float64[201], ready to store.

    Valid input: 201 finite numbers in [0, 1], never decreasing; a closed lower bound needs
    cdf[0] = 0 and a closed upper bound cdf[200] = 1 (within 1e-9: no mass outside a closed
    bound). The output mixes in a 1% uniform floor, keeps ≥ 0.001 outside each open bound, and
    has every inbound step in [0.01/200, 0.2] (docs/methods.md §12.3). Not idempotent: each
    pass mixes in the floor again (a standardised CDF moves by at most 0.012).

    Raises ``DistributionError`` with field ``cdf`` (length, type) or ``cdf[i]``.
    """
    scale = _checked_scale(scale)
    values = _vector(cdf, GRID, "cdf", "points")
    outside = np.flatnonzero((values < 0.0) | (values > 1.0))
    if outside.size:
        i = int(outside[0])
        raise DistributionError(
            f"cdf[{i}] = {values[i]:g} is not a probability: every point must be in [0, 1].",
            field=f"cdf[{i}]",
        )
    drops = np.flatnonzero(np.diff(values) < 0.0)
    if drops.size:
        i = int(drops[0]) + 1
        raise DistributionError(
            f"cdf[{i}] = {values[i]:g} is below cdf[{i - 1}] = {values[i - 1]:g}: a CDF never "
            "decreases.",
            field=f"cdf[{i}]",
        )
    if not scale.open_lower:
        if values[0] > STORED_TOLERANCE:
            raise DistributionError(
                f"The lower bound is closed, so cdf[0] (the probability below range_min) must "
                f"be 0, not {values[0]:g}.",
                field="cdf[0]",
            )
        values[0] = 0.0
    if not scale.open_upper:
        if values[-1] < 1.0 - STORED_TOLERANCE:
            raise DistributionError(
                f"The upper bound is closed, so cdf[{GRID - 1}] must be 1 (no probability "
                f"above range_max), not {values[-1]:g}.",
                field=f"cdf[{GRID - 1}]",
            )
        values[-1] = 1.0
    return _standardise(values, scale)


# --------------------------------------------------------------------------------------------
# Percentiles (docs/methods.md §12.4)
# --------------------------------------------------------------------------------------------


def _level(key: object) -> float:
    field = f"percentiles[{key}]"
    if isinstance(key, str):
        try:
            level = float(key)
        except ValueError:
            raise DistributionError(
                f"{key!r} is not a percentile level: use a number between 0 and 1 such as 0.25.",
                field=field,
            ) from None
    elif _is_number(key):
        level = _float(key, field)
    else:
        raise DistributionError(f"{key!r} is not a percentile level.", field=field)
    if not (math.isfinite(level) and 0.0 < level < 1.0):
        raise DistributionError(
            f"Percentile level {key} must be strictly between 0 and 1 (0.25 = 25%).", field=field
        )
    return level


def _tail_mass(value: float | None, name: str, is_open: bool) -> float | None:
    if value is None:
        return None
    if not is_open:
        side = "below range_min" if name == "below" else "above range_max"
        raise DistributionError(
            f"The {'lower' if name == 'below' else 'upper'} bound is closed, so no "
            f"probability can lie {side}: leave {name} out.",
            field=name,
        )
    mass = _number(value, name)
    if not 0.0 <= mass < 1.0:
        raise DistributionError(f"{name} must be a probability in [0, 1), not {mass:g}.", name)
    return mass


def _percentile_points(
    percentiles: Mapping[Any, float],
    scale: Scale,
    below: float | None,
    above: float | None,
) -> tuple[FloatArray, FloatArray]:
    """The (location, probability) points of §12.4, sorted by location, anchors included."""
    if not isinstance(percentiles, Mapping) or not percentiles:
        raise DistributionError(
            "percentiles must map levels to values, e.g. {0.05: …, 0.25: …, 0.5: …, 0.75: …, "
            "0.95: …}.",
            field="percentiles",
        )
    levels: list[tuple[float, float, str]] = []
    for key, raw in percentiles.items():
        level = _level(key)
        levels.append((level, _number(raw, f"percentiles[{key}]"), f"percentiles[{key}]"))
    levels.sort()
    for (q0, _, _f0), (q1, _, f1) in itertools.pairwise(levels):
        if q1 - q0 <= _LEVEL_MATCH:
            raise DistributionError(f"Percentile level {q0:g} is given twice.", field=f1)
    for required in REQUIRED_PERCENTILES:
        if not any(abs(q - required) <= _LEVEL_MATCH for q, _, _ in levels):
            raise DistributionError(
                f"The {required:.0%} percentile (key {required:g}) is missing: at least "
                "0.05, 0.25, 0.5, 0.75 and 0.95 are required.",
                field="percentiles",
            )
    qs = np.array([q for q, _, _ in levels])
    values = np.array([v for _, v, _ in levels])
    xs = scale.location(values)
    for i, (q, value, field) in enumerate(levels):
        if not math.isfinite(xs[i]):
            raise DistributionError(
                f"The {q:.4g} percentile ({value:g}) lies beyond the zero point of the log scale.",
                field=field,
            )
        if i and not xs[i] > xs[i - 1]:
            raise DistributionError(
                f"The {q:.4g} percentile ({value:g}) must be above the {levels[i - 1][0]:.4g} "
                f"percentile ({levels[i - 1][1]:g}).",
                field=field,
            )
        if not scale.open_lower and not xs[i] > 0.0:
            raise DistributionError(
                f"The lower bound is closed, so the {q:.4g} percentile ({value:g}) must be "
                f"above range_min ({scale.range_min:g}).",
                field=field,
            )
        if not scale.open_upper and not xs[i] < 1.0:
            raise DistributionError(
                f"The upper bound is closed, so the {q:.4g} percentile ({value:g}) must be "
                f"below range_max ({scale.range_max:g}).",
                field=field,
            )
    below = _tail_mass(below, "below", scale.open_lower)
    above = _tail_mass(above, "above", scale.open_upper)
    anchors: list[tuple[float, float, str]] = []
    if not scale.open_lower:
        anchors.append((0.0, 0.0, "below"))
    elif below is not None:
        anchors.append((0.0, below, "below"))
    if not scale.open_upper:
        anchors.append((1.0, 1.0, "above"))
    elif above is not None:
        anchors.append((1.0, 1.0 - above, "above"))
    for x, q, name in anchors:
        left = qs[xs < x]
        right = qs[xs > x]
        same = qs[xs == x]
        if (
            (left.size and left.max() > q)
            or (right.size and right.min() < q)
            or (same.size and same[0] != q)
        ):
            bound = "range_min" if name == "below" else "range_max"
            raise DistributionError(
                f"{name} = {q if name == 'below' else 1.0 - q:g} contradicts the percentiles: "
                f"the probability up to {bound} must lie between the levels of the percentiles "
                f"either side of {bound}.",
                field=name,
            )
    points = [(float(x), float(q)) for x, q in zip(xs, qs, strict=True)]
    points += [(x, q) for x, q, _ in anchors if not np.any(xs == x)]
    points.sort()
    return (
        np.array([x for x, _ in points], dtype=np.float64),
        np.array([q for _, q in points], dtype=np.float64),
    )


def _percentile_curve(xs: FloatArray, qs: FloatArray, at: FloatArray) -> FloatArray:
    """The §12.4 CDF through the points: linear between them, exponential tails beyond."""
    out = np.interp(at, xs, qs)
    low = at < xs[0]
    if low.any():
        rate = (qs[1] - qs[0]) / (xs[1] - xs[0]) / qs[0]
        out[low] = qs[0] * np.exp(rate * (at[low] - xs[0]))
    high = at > xs[-1]
    if high.any():
        rate = (qs[-1] - qs[-2]) / (xs[-1] - xs[-2]) / (1.0 - qs[-1])
        out[high] = 1.0 - (1.0 - qs[-1]) * np.exp(-rate * (at[high] - xs[-1]))
    return out


def cdf_from_percentiles(
    percentiles: Mapping[float, float],
    scale: Scale,
    *,
    below: float | None = None,
    above: float | None = None,
) -> FloatArray:
    """A standardised CDF float64[201] through the given percentiles (docs/methods.md §12.4).

    ``percentiles`` maps levels in (0, 1) (numbers or numeric strings) to values in value units
    (Unix seconds for dates); 0.05, 0.25, 0.5, 0.75 and 0.95 are required, more are allowed.
    Values must increase with the level and lie inside every closed bound. ``below``/``above``
    are the probabilities beyond an open lower/upper bound (not allowed on a closed one).

    The raw CDF is piecewise linear on the internal scale through the points (x(v_q), q), the
    anchors (0, 0)/(1, 1) of closed bounds and (0, below)/(1, 1 − above) when given. Beyond the
    outermost point of an open bound without ``below``/``above`` it continues with an
    exponential tail whose density matches the neighbouring segment. Then ``standardise_cdf``'s
    floor and caps (§12.3), so the result matches the percentiles to within about 0.012 in
    probability where no step was capped.

    Raises ``DistributionError`` (fields ``percentiles``, ``percentiles[<level>]``, ``below``,
    ``above``).
    """
    scale = _checked_scale(scale)
    xs, qs = _percentile_points(percentiles, scale, below, above)
    return _standardise(_percentile_curve(xs, qs, LOCATIONS.copy()), scale)


# --------------------------------------------------------------------------------------------
# Mixture of logistic components (docs/methods.md §12.5)
# --------------------------------------------------------------------------------------------


def _sigmoid(z: FloatArray) -> FloatArray:
    # exp(−log(1 + e^(−z))) never overflows and keeps tail probabilities accurate.
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


def cdf_from_mixture(components: Sequence[tuple[float, float, float]], scale: Scale) -> FloatArray:
    """A standardised CDF float64[201] from a mixture of logistic components (§12.5).

    Each component is (weight, center, s): weight > 0 (weights are normalised to sum 1), center
    in value units (Unix seconds for dates), s > 0 **on the internal scale** (a fraction of the
    range: s = 0.05 spreads a component over roughly ±5% of the range; on a log scale that is a
    log-ratio, so a component is log-logistic in value units). 1 to 10 components. The raw CDF
    is F(x) = Σ_j w_j σ((x − x(center_j))/s_j), evaluated at the 201 locations; closed bounds
    drop the mass beyond them by the rescaling of §12.3, which needs at least 1e-6 of the
    mixture inside the range. Then standardised (docs/methods.md §12.3).

    Raises ``DistributionError`` (fields ``components``, ``components[j]``,
    ``components[j][i]``).
    """
    scale = _checked_scale(scale)
    if (
        not isinstance(components, Sequence)
        or isinstance(components, str | bytes)
        or not 1 <= len(components) <= MAX_COMPONENTS
    ):
        raise DistributionError(
            f"components must be a list of 1 to {MAX_COMPONENTS} [weight, center, scale] triples.",
            field="components",
        )
    weights, centers, widths = [], [], []
    for j, component in enumerate(components):
        field = f"components[{j}]"
        if (
            not isinstance(component, Sequence)
            or isinstance(component, str | bytes)
            or len(component) != 3
        ):
            raise DistributionError(
                f"{field} must be a [weight, center, scale] triple.", field=field
            )
        weight = _number(component[0], f"{field}[0]")
        center = _number(component[1], f"{field}[1]")
        width = _number(component[2], f"{field}[2]")
        if not weight > 0:
            raise DistributionError(
                f"{field}[0]: a weight must be positive, not {weight:g}.", f"{field}[0]"
            )
        if not width > 0:
            raise DistributionError(
                f"{field}[2]: a component's scale must be positive, not {width:g}.", f"{field}[2]"
            )
        location = scale.location(center)
        if not math.isfinite(location):
            raise DistributionError(
                f"{field}[1]: the center {center:g} lies beyond the zero point of the log scale.",
                field=f"{field}[1]",
            )
        weights.append(weight)
        centers.append(location)
        widths.append(width)
    # Divided by the largest first: the sum of weights near the float maximum would overflow.
    largest = max(weights)
    w = np.array([weight / largest for weight in weights])
    w /= math.fsum(w.tolist())
    z = (LOCATIONS[None, :] - np.array(centers)[:, None]) / np.array(widths)[:, None]
    raw = np.asarray(w @ _sigmoid(z), dtype=np.float64)
    raw = np.maximum.accumulate(np.clip(raw, 0.0, 1.0))
    inside = (1.0 if scale.open_upper else raw[-1]) - (0.0 if scale.open_lower else raw[0])
    if inside < MIN_INBOUND_MASS:
        raise DistributionError(
            "The components put almost no probability inside the range, and probability "
            "beyond a closed bound is not allowed: move them into the range.",
            field="components",
        )
    return _standardise(raw, scale)


# --------------------------------------------------------------------------------------------
# PMF, quantiles, mean, resolution bucket (docs/methods.md §12.1, §12.6, §12.7)
# --------------------------------------------------------------------------------------------


def _cdf_array(cdf: Sequence[float] | FloatArray) -> FloatArray:
    return _vector(cdf, GRID, "cdf", "points")


def pmf(cdf: Sequence[float] | FloatArray) -> FloatArray:
    """The PMF float64[202] of a 201-point CDF: [cdf[0], cdf[1] − cdf[0], …, 1 − cdf[200]].

    Bucket 0 is below the range, 201 above it, bucket b = 1…200 is (x_{b−1}, x_b] (x_0 = 0
    included in bucket 1). docs/methods.md §12.1. Raises ``DistributionError`` (field ``cdf``)
    unless given 201 finite numbers.
    """
    values = _cdf_array(cdf)
    out = np.empty(PMF_SIZE, dtype=np.float64)
    out[0] = values[0]
    out[1:-1] = np.diff(values)
    out[-1] = 1.0 - values[-1]
    return out


def cdf_from_pmf(pmf: Sequence[float] | FloatArray) -> FloatArray:
    """The CDF float64[201] of a 202-bucket PMF: cdf[i] = Σ_{b ≤ i} pmf[b] (inverse of ``pmf``).

    The PMF must be 202 finite, non-negative numbers summing to 1 within 1e-9 (the last bucket
    is implied by the others, so it only enters that check). Round trip with ``pmf`` to within
    a few ulps. docs/methods.md §12.1. Raises ``DistributionError`` (field ``pmf``/``pmf[b]``).
    """
    values = _vector(pmf, PMF_SIZE, "pmf", "buckets")
    negative = np.flatnonzero(values < 0.0)
    if negative.size:
        b = int(negative[0])
        raise DistributionError(f"pmf[{b}] = {values[b]:g} is negative.", field=f"pmf[{b}]")
    total = math.fsum(values.tolist())
    if abs(total - 1.0) > STORED_TOLERANCE:
        raise DistributionError(f"The PMF sums to {total:.12g}, not 1.", field="pmf")
    return np.clip(np.cumsum(values[:-1]), 0.0, 1.0)


def quantiles(
    cdf: Sequence[float] | FloatArray, qs: Sequence[float] | FloatArray, scale: Scale
) -> FloatArray:
    """Values (value units) at probabilities ``qs``: float64[len(qs)] (docs/methods.md §12.6).

    The CDF is taken as linear between grid points on the internal scale (uniform density per
    bucket in x), so x_q = np.interp(q, cdf, x_i) and the value is ``scale.value(x_q)``.
    Quantiles outside the range are **clamped to the bound**: q ≤ cdf[0] gives range_min and
    q ≥ cdf[200] gives range_max (the grid says nothing about where beyond an open bound).
    Raises ``DistributionError`` for a malformed CDF (field ``cdf``) or a level outside [0, 1]
    (field ``qs[i]``).
    """
    scale = _checked_scale(scale)
    values = _cdf_array(cdf)
    levels = _vector(qs, len(qs), "qs", "levels")
    bad = np.flatnonzero((levels < 0.0) | (levels > 1.0))
    if bad.size:
        i = int(bad[0])
        raise DistributionError(f"qs[{i}] = {levels[i]:g} is not in [0, 1].", field=f"qs[{i}]")
    return np.asarray(scale.value(np.interp(levels, values, LOCATIONS)), dtype=np.float64)


def _bucket_means(scale: Scale) -> FloatArray:
    """Mean value of each inbound bucket under a uniform density in x (§12.6): float64[200]."""
    a, b = LOCATIONS[:-1], LOCATIONS[1:]
    lo, hi = scale.range_min, scale.range_max
    if scale.zero_point is None:
        return lo + (hi - lo) * (a + b) / 2.0
    k = scale._log_k()
    # (1/(b − a)) ∫_a^b expm1(k·x) dx = e^(k·a) · expm1(k·(b − a)) / (k·(b − a)) − 1
    width = b - a
    average = np.exp(k * a) * np.expm1(k * width) / (k * width) - 1.0
    return np.asarray(lo + (hi - lo) * average / math.expm1(k), dtype=np.float64)


def mean(cdf: Sequence[float] | FloatArray, scale: Scale) -> float:
    """The mean, in value units, of the forecast clamped to the range (docs/methods.md §12.6).

    Mass below the range counts at range_min and mass above at range_max (the mean of
    min(max(X, min), max)); inside, each bucket's mass sits at the bucket's mean value under
    a uniform density on the internal scale (the bucket midpoint on a linear scale). Raises
    ``DistributionError`` for a malformed CDF (field ``cdf``).
    """
    scale = _checked_scale(scale)
    p = pmf(cdf)
    inside = math.fsum((p[1:-1] * _bucket_means(scale)).tolist())
    return float(inside + p[0] * scale.range_min + p[-1] * scale.range_max)


def resolution_bucket(value: float, scale: Scale) -> int:
    """The PMF bucket 0…201 of a resolved value (docs/methods.md §12.7).

    0 below range_min, 201 above range_max; inside, bucket b covers locations (x_{b−1}, x_b]:
    b = max(1, ⌊x·200 + 1 − 1e-10⌋), with range_max in bucket 200 and range_min in bucket 1.
    A value on a grid line therefore belongs to the bucket below it, as cdf[i] = P(X ≤ v(x_i))
    says; the 1e-10 absorbs rounding in x(v) (Metaculus's rule). ±inf is accepted beyond an open
    bound. Raises ``DistributionError`` (field ``resolution``) for NaN and for a value beyond a
    closed bound: a closed bound promises the outcome cannot lie there.
    """
    scale = _checked_scale(scale)
    v = _resolution_number(value)
    if v < scale.range_min:
        if not scale.open_lower:
            raise DistributionError(
                f"The resolution {v:g} is below range_min ({scale.range_min:g}) but the lower "
                "bound is closed.",
                field="resolution",
            )
        return 0
    if v > scale.range_max:
        if not scale.open_upper:
            raise DistributionError(
                f"The resolution {v:g} is above range_max ({scale.range_max:g}) but the upper "
                "bound is closed.",
                field="resolution",
            )
        return PMF_SIZE - 1
    if v == scale.range_max:
        return INBOUND_BUCKETS
    x = scale.location(v)
    return min(INBOUND_BUCKETS, max(1, int(x * INBOUND_BUCKETS + 1.0 - 1e-10)))


def resolution_value(raw: str | float, *, question_type: str) -> float:
    """The value of a continuous resolution as given in data or by staff (docs/methods.md §12.7).

    ``"below_lower_bound"`` → −inf and ``"above_upper_bound"`` → +inf (Metaculus's words; they
    land in buckets 0 and 201 of an open bound, see ``resolution_bucket``); for ``date``
    questions an ISO 8601 string → Unix seconds (``parse_date_value``); otherwise a number or a
    numeric string. Raises ``DistributionError`` (field ``resolution``).
    """
    if question_type not in CONTINUOUS_TYPES:
        raise DistributionError(
            f"Question type {question_type!r} has no continuous resolution.", "question_type"
        )
    if isinstance(raw, str):
        text = raw.strip()
        if text == "below_lower_bound":
            return -math.inf
        if text == "above_upper_bound":
            return math.inf
        if question_type == "date":
            return parse_date_value(text, field="resolution")
        try:
            number = float(text)
        except ValueError:
            raise DistributionError(
                f"The resolution {raw!r} is not a number, below_lower_bound or above_upper_bound.",
                field="resolution",
            ) from None
    else:
        number = _resolution_number(raw)
    if not math.isfinite(number):
        raise DistributionError(
            f"The resolution {raw!r} must be finite (say below_lower_bound or "
            "above_upper_bound for an outcome beyond the range).",
            field="resolution",
        )
    return number


def _resolution_number(value: object) -> float:
    if not _is_number(value):
        raise DistributionError(f"A resolution must be a number, not {value!r}.", "resolution")
    v = _float(value, "resolution")
    if math.isnan(v):
        raise DistributionError("A resolution must be a number, not NaN.", field="resolution")
    return v


# --------------------------------------------------------------------------------------------
# Dates (docs/methods.md §12.9)
# --------------------------------------------------------------------------------------------


def parse_date_value(text: str, field: str = "value") -> float:
    """Unix seconds (float) of an ISO 8601 date or date-time; a naive one is taken as UTC.

    Accepts ``2026-12-31``, ``2026-12-31T12:00``, ``2026-12-31T12:00:00Z``,
    ``2026-12-31 12:00:00.5+02:00``, ``… +00`` (Metaculus's form). A date alone is midnight
    UTC. docs/methods.md §12.9. Raises ``DistributionError`` (field ``field``).
    """
    if not isinstance(text, str):
        raise DistributionError(f"{field} must be an ISO 8601 date, not {text!r}.", field=field)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise DistributionError(
            f"{text!r} is not an ISO 8601 date or date-time (e.g. 2026-12-31 or "
            "2026-12-31T12:00:00Z).",
            field=field,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --------------------------------------------------------------------------------------------
# Payloads and stored vectors (docs/methods.md §12.8)
# --------------------------------------------------------------------------------------------

_CONTINUOUS_INPUTS = ("cdf", "percentiles", "components")


def _date_or_number(raw: object, field: str, question_type: str) -> object:
    if question_type == "date" and isinstance(raw, str):
        return parse_date_value(raw, field=field)
    return raw


def forecast_from_payload(
    payload: Mapping[str, Any],
    *,
    question_type: str,
    scale: Scale | None,
    n_options: int | None,
) -> FloatArray:
    """The vector to store for a forecast payload (docs/methods.md §12.8).

    - ``multiple_choice``: ``{"probabilities": [p_1, …, p_n]}`` in option order →
      ``option_probabilities`` (float64[n]).
    - ``numeric``, ``date``, ``discrete``: exactly one of ``{"cdf": [201 numbers]}``,
      ``{"percentiles": {"0.05": v, …}, "below": m, "above": m}`` (``below``/``above``
      optional, only with percentiles) or ``{"components": [[weight, center, s], …]}`` →
      the standardised CDF (float64[201]). For dates, percentile values and component centers
      may be ISO 8601 strings as well as Unix seconds.

    Raises ``DistributionError`` for unknown keys (field = the key), none or two inputs at
    once (field ``payload``), a missing scale or option count, a type that does not take a
    distribution (field ``question_type``), and every error of the functions above.
    """
    if not isinstance(payload, Mapping):
        raise DistributionError("The forecast must be a JSON object.", field="payload")
    if question_type == MULTIPLE_CHOICE:
        allowed: tuple[str, ...] = ("probabilities",)
    elif question_type in CONTINUOUS_TYPES:
        allowed = (*_CONTINUOUS_INPUTS, "below", "above")
    else:
        raise DistributionError(
            f"Question type {question_type!r} does not take a distribution forecast.",
            field="question_type",
        )
    for key in payload:
        if key not in allowed:
            raise DistributionError(
                f"Unknown field {key!r} for a {question_type} forecast; expected "
                f"{' or '.join(repr(a) for a in allowed)}.",
                field=str(key),
            )
    if question_type == MULTIPLE_CHOICE:
        if "probabilities" not in payload:
            raise DistributionError(
                "A multiple-choice forecast needs 'probabilities', one per option.",
                field="probabilities",
            )
        if n_options is None:
            raise DistributionError("The question has no options.", field="options")
        return option_probabilities(payload["probabilities"], n_options)

    scale = _checked_scale(scale)
    given = [key for key in _CONTINUOUS_INPUTS if key in payload]
    if len(given) != 1:
        raise DistributionError(
            "Give exactly one of 'cdf', 'percentiles' or 'components'"
            + (f", not {' and '.join(given)} together." if given else "."),
            field="payload",
        )
    kind = given[0]
    if kind != "percentiles":
        for key in ("below", "above"):
            if key in payload:
                raise DistributionError(
                    f"'{key}' goes with 'percentiles' only; a {kind} says it itself.", field=key
                )
    if kind == "cdf":
        return standardise_cdf(payload["cdf"], scale)
    if kind == "percentiles":
        raw = payload["percentiles"]
        if not isinstance(raw, Mapping):
            raise DistributionError(
                "percentiles must be an object mapping levels to values, e.g. "
                '{"0.05": 10, "0.25": 20, "0.5": 30, "0.75": 40, "0.95": 50}.',
                field="percentiles",
            )
        converted = {
            key: _date_or_number(value, f"percentiles[{key}]", question_type)
            for key, value in raw.items()
        }
        return cdf_from_percentiles(
            converted,  # type: ignore[arg-type]  # checked inside
            scale,
            below=payload.get("below"),
            above=payload.get("above"),
        )
    raw_components = payload["components"]
    if isinstance(raw_components, Sequence) and not isinstance(raw_components, str | bytes):
        converted_components = [
            [c[0], _date_or_number(c[1], f"components[{j}][1]", question_type), c[2]]
            if isinstance(c, Sequence) and not isinstance(c, str | bytes) and len(c) == 3
            else c
            for j, c in enumerate(raw_components)
        ]
        return cdf_from_mixture(converted_components, scale)  # type: ignore[arg-type]
    return cdf_from_mixture(raw_components, scale)


def validate_stored_vector(
    v: FloatArray | Sequence[float],
    *,
    question_type: str,
    scale: Scale | None,
    n_options: int | None,
) -> None:
    """Raise ``DistributionError`` unless ``v`` is a valid stored forecast (§12.8).

    Multiple choice: n_options finite probabilities, each in [0.001, 0.999] and summing to 1
    (tolerances 1e-8 per option, since renormalising can move a bound value by up to 1e-9, and
    1e-9 for the sum). Continuous: 201 finite points in [0, 1]; cdf[0] = 0 on a closed lower
    bound, ≥ 0.001 on an open one; cdf[200] = 1 on a closed upper bound, ≤ 0.999 on an open
    one; every inbound step in [0.01/200, 0.2] — all within 1e-9 (Metaculus rounds to 10
    decimals). For imports and ``verify`` commands; the output of ``forecast_from_payload``
    always passes.
    """
    if question_type == MULTIPLE_CHOICE:
        if n_options is None or n_options < 2:
            raise DistributionError("The question has no options.", field="options")
        p = _vector(v, n_options, "probabilities", "probabilities, one per option")
        slack = 1e-8
        for k, value in enumerate(p):
            if not MIN_OPTION_PROBABILITY - slack <= value <= MAX_OPTION_PROBABILITY + slack:
                raise DistributionError(
                    f"probabilities[{k}] = {value:g} is outside [0.001, 0.999].",
                    field=f"probabilities[{k}]",
                )
        total = math.fsum(p.tolist())
        if abs(total - 1.0) > STORED_TOLERANCE:
            raise DistributionError(
                f"The probabilities sum to {total:.12g}, not 1.", field="probabilities"
            )
        return
    if question_type not in CONTINUOUS_TYPES:
        raise DistributionError(
            f"Question type {question_type!r} does not store a distribution.",
            field="question_type",
        )
    scale = _checked_scale(scale)
    cdf = _cdf_array(v)
    tol = STORED_TOLERANCE
    outside = np.flatnonzero((cdf < -tol) | (cdf > 1.0 + tol))
    if outside.size:
        i = int(outside[0])
        raise DistributionError(f"cdf[{i}] = {cdf[i]:g} is not in [0, 1].", field=f"cdf[{i}]")
    last = GRID - 1
    if scale.open_lower and cdf[0] < MIN_OUTSIDE - tol:
        raise DistributionError(
            f"The lower bound is open, so cdf[0] must be at least 0.001, not {cdf[0]:g}.",
            field="cdf[0]",
        )
    if not scale.open_lower and abs(cdf[0]) > tol:
        raise DistributionError(
            f"The lower bound is closed, so cdf[0] must be 0, not {cdf[0]:g}.", field="cdf[0]"
        )
    if scale.open_upper and cdf[last] > 1.0 - MIN_OUTSIDE + tol:
        raise DistributionError(
            f"The upper bound is open, so cdf[{last}] must be at most 0.999, not {cdf[last]:.12g}.",
            field=f"cdf[{last}]",
        )
    if not scale.open_upper and abs(cdf[last] - 1.0) > tol:
        raise DistributionError(
            f"The upper bound is closed, so cdf[{last}] must be 1, not {cdf[last]:.12g}.",
            field=f"cdf[{last}]",
        )
    steps = np.diff(cdf)
    falls = np.flatnonzero(steps < 0)
    if falls.size:
        i = int(falls[0]) + 1
        raise DistributionError(
            f"The CDF decreases at cdf[{i}]: {cdf[i]:.12g} after {cdf[i - 1]:.12g}; a CDF "
            "never decreases.",
            field=f"cdf[{i}]",
        )
    bad = np.flatnonzero((steps < MIN_STEP - tol) | (steps > MAX_STEP + tol))
    if bad.size:
        i = int(bad[0]) + 1
        raise DistributionError(
            f"cdf[{i}] − cdf[{i - 1}] = {steps[i - 1]:.6g} is outside [0.00005, 0.2]: a "
            "stored CDF rises by at least 0.01/200 and at most 0.2 per step.",
            field=f"cdf[{i}]",
        )


def to_bytes(v: FloatArray | Sequence[float]) -> bytes:
    """Little-endian float64 bytes of a 1-D vector (8 bytes per value), e.g. for a BinaryField.

    Exact round trip with ``from_bytes`` (NaN payloads and −0.0 included). §12.8.
    """
    array = np.asarray(v, dtype=np.float64)
    if array.ndim != 1:
        raise DistributionError("Only a 1-D vector can be stored.", field="vector")
    return array.astype("<f8", copy=False).tobytes()


def from_bytes(b: bytes) -> FloatArray:
    """The float64 vector of ``to_bytes`` output (a new, writable, native-order array). §12.8.

    Raises ``DistributionError`` (field ``bytes``) when the length is not a multiple of 8.
    """
    if not isinstance(b, bytes | bytearray | memoryview):
        raise DistributionError("Expected bytes.", field="bytes")
    raw = bytes(b)
    if len(raw) % 8:
        raise DistributionError(
            f"{len(raw)} bytes is not a whole number of float64 values.", field="bytes"
        )
    return np.frombuffer(raw, dtype="<f8").astype(np.float64)
