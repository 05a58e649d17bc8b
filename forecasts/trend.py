"""Benchmark trend extrapolation for the trend baseline bot (docs/methods.md §16.4), free of Django.

From a benchmark's results (time, value), the *frontier* — the results that beat every earlier
one, i.e. the best result so far each time it moved — is fitted by ordinary least squares on a
transformed scale:

    log-linear   y = ln v                  time horizons (METR): v doubles every ln 2 / b years
    logistic     y = logit(v / 100)        percentage benchmarks, v in %; clipped to [0.1, 99.9] %

    y = a + b · (t − t̄),   t in decimal years (epoch seconds / 31,557,600 + 1970), t̄ = mean t

Uncertainty: a nonparametric bootstrap over the frontier results (Efron & Tibshirani 1993,
*An Introduction to the Bootstrap*, ch. 6 and §9.4 "bootstrapping pairs"): ``draws`` resamples of
the n frontier points with replacement, each refitted; a resample whose times are all equal has
no slope and is dropped. The value at a time t* predicted by draw k is

    ŷ_k = a_k + b_k · (t* − t̄_k) + e_k

with e_k one residual of draw k's own fit, picked at random: the scatter of results around the
trend, so that the interval covers a result rather than only the trend line. The probability of
a milestone is the share of draws whose predicted value (transformed back) meets it. Random
numbers: ``numpy.random.default_rng(seed)``; first the (draws × n) resample indices, then the
``draws`` residual picks — a test repeats the computation by hand from the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

YEAR_SECONDS = 365.25 * 86_400.0
LOG_LINEAR = "log-linear"
LOGISTIC = "logistic"
PCT_CLIP = 0.001  # logistic fits clip v/100 to [0.001, 0.999]
DRAWS = 2_000
SEED = 20_260_101


def years(epoch_seconds: ArrayLike) -> FloatArray:
    """Decimal years (1970 + seconds / 365.25 days) of epoch seconds."""
    return np.asarray(epoch_seconds, dtype=np.float64) / YEAR_SECONDS + 1970.0


def frontier(
    times: ArrayLike, values: ArrayLike, higher_is_better: bool = True
) -> NDArray[np.intp]:
    """Indices (in time order) of the results that beat every earlier one: the best result so
    far each time it improved. Results at the same time are taken best first, so only the best
    of them can set a record. Raises ValueError on mismatched lengths or non-finite input."""
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if t.shape != v.shape:
        raise ValueError("times and values must have the same length")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        raise ValueError("times and values must be finite")
    sign = 1.0 if higher_is_better else -1.0
    order = np.lexsort((-sign * v, t))  # by time, the best first at equal times
    keep: list[int] = []
    best = -math.inf
    for i in order.tolist():
        if sign * v[i] > best:
            best = sign * v[i]
            keep.append(i)
    return np.asarray(keep, dtype=np.intp)


def transform(values: ArrayLike, kind: str) -> FloatArray:
    """The fitting scale: ln v (log-linear; v > 0) or logit(clip(v / 100)) (logistic)."""
    v = np.asarray(values, dtype=np.float64)
    if kind == LOG_LINEAR:
        if not (v > 0).all():
            raise ValueError("a log-linear trend needs positive values")
        return np.log(v)
    if kind == LOGISTIC:
        p = np.clip(v / 100.0, PCT_CLIP, 1.0 - PCT_CLIP)
        return np.log(p) - np.log1p(-p)
    raise ValueError(f"unknown trend kind {kind!r}")


def inverse(y: ArrayLike, kind: str) -> FloatArray:
    """The value on the benchmark's scale of a fitted y (inverse of ``transform``)."""
    y = np.asarray(y, dtype=np.float64)
    if kind == LOG_LINEAR:
        return np.exp(y)
    return 100.0 / (1.0 + np.exp(-y))


@dataclass(frozen=True)
class TrendFit:
    """An OLS fit y = intercept + slope · (t − t_mean) on the transformed scale (t in decimal
    years), on ``n`` frontier points; ``residual_sd`` with n − 2 degrees of freedom (NaN for
    n = 2)."""

    kind: str
    n: int
    t_mean: float
    intercept: float
    slope: float
    residual_sd: float

    def predict(self, t_years: ArrayLike) -> FloatArray:
        """The trend's value (benchmark scale) at ``t_years``."""
        y = self.intercept + self.slope * (np.asarray(t_years, dtype=np.float64) - self.t_mean)
        return inverse(y, self.kind)

    @property
    def doubling_months(self) -> float:
        """Log-linear: ln 2 / slope in months (inf for a flat or falling trend)."""
        return 12.0 * math.log(2.0) / self.slope if self.slope > 0 else math.inf


def fit_trend(t_years: ArrayLike, values: ArrayLike, kind: str) -> TrendFit:
    """OLS of ``transform(values)`` on ``t_years``. Raises ValueError with fewer than two
    distinct times."""
    t = np.asarray(t_years, dtype=np.float64).reshape(-1)
    y = transform(values, kind).reshape(-1)
    if t.size != y.size:
        raise ValueError("times and values must have the same length")
    if np.unique(t).size < 2:
        raise ValueError("a trend needs results at two different times at least")
    tm = float(t.mean())
    dt_ = t - tm
    slope = float(np.dot(dt_, y - y.mean()) / np.dot(dt_, dt_))
    intercept = float(y.mean())
    resid = y - (intercept + slope * dt_)
    sd = float(np.sqrt(np.dot(resid, resid) / (t.size - 2))) if t.size > 2 else math.nan
    return TrendFit(kind, int(t.size), tm, intercept, slope, sd)


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap draws (module doc): ``slopes`` of the kept draws, ``predicted`` values at the
    target time on the benchmark's scale (residual included), ``dropped`` resamples without a
    slope."""

    slopes: FloatArray
    predicted: FloatArray
    dropped: int

    def doubling_interval(self, level: float = 0.9) -> tuple[float, float]:
        """Log-linear: the central ``level`` interval of the doubling time in months, from the
        bootstrap slopes' percentiles (a slope ≤ 0 maps to inf)."""
        lo, hi = np.percentile(self.slopes, [50 * (1 - level), 50 * (1 + level)])
        months: Callable[[float], float] = lambda b: (  # noqa: E731
            12.0 * math.log(2.0) / b if b > 0 else math.inf
        )
        return months(float(hi)), months(float(lo))


@dataclass(frozen=True)
class Draws:
    """The bootstrap refits (module doc), one row per kept resample: ``t_mean`` t̄_k, ``level``
    ȳ_k (the fit's value at t̄_k), ``slope`` b_k, ``residual`` e_k (transformed scale), and
    ``dropped`` resamples without a slope."""

    t_mean: FloatArray
    level: FloatArray
    slope: FloatArray
    residual: FloatArray
    dropped: int

    def predict(self, at_years: float) -> FloatArray:
        """ŷ_k = ȳ_k + b_k (t* − t̄_k) + e_k at ``at_years`` (transformed scale)."""
        return np.asarray(
            self.level + self.slope * (at_years - self.t_mean) + self.residual, dtype=np.float64
        )


def draws_of(
    t_years: ArrayLike, values: ArrayLike, kind: str, *, draws: int = DRAWS, seed: int = SEED
) -> Draws:
    """``draws`` bootstrap refits of the trend with one residual each (module doc); the same
    random numbers whatever is asked of them afterwards. Vectorised: O(draws · n). Raises
    ValueError with fewer than two results."""
    t = np.asarray(t_years, dtype=np.float64).reshape(-1)
    y = transform(values, kind).reshape(-1)
    n = t.size
    if n < 2:
        raise ValueError("a bootstrap needs two results at least")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(draws, n))
    pick = rng.integers(0, n, size=draws)
    T, Y = t[idx], y[idx]
    tm = T.mean(axis=1, keepdims=True)
    ym = Y.mean(axis=1, keepdims=True)
    sxx = ((T - tm) ** 2).sum(axis=1)
    # All times equal: no slope. Tested on the times themselves, since the rounded mean of
    # equal times may differ from them and leave sxx a tiny positive number.
    ok = T.max(axis=1) > T.min(axis=1)
    slope = np.zeros(draws)
    slope[ok] = ((T - tm) * (Y - ym)).sum(axis=1)[ok] / sxx[ok]
    resid = Y - (ym + slope[:, None] * (T - tm))
    e = resid[np.arange(draws), pick]
    return Draws(tm[ok, 0], ym[ok, 0], slope[ok], e[ok], int((~ok).sum()))


def bootstrap(
    t_years: ArrayLike,
    values: ArrayLike,
    kind: str,
    at_years: float,
    *,
    draws: int = DRAWS,
    seed: int = SEED,
) -> Bootstrap:
    """``draws`` bootstrap refits of the trend and each one's predicted value at ``at_years``
    with one of its residuals added (module doc). Vectorised: O(draws · n)."""
    d = draws_of(t_years, values, kind, draws=draws, seed=seed)
    return Bootstrap(d.slope, inverse(d.predict(at_years), kind), d.dropped)


def crossing_years(
    t_years: ArrayLike,
    values: ArrayLike,
    kind: str,
    threshold: float,
    *,
    rising: bool,
    draws: int = DRAWS,
    seed: int = SEED,
) -> FloatArray:
    """Per kept bootstrap draw (the draws of ``bootstrap``), the decimal year at which its
    prediction ŷ_k(t) = ȳ_k + b_k (t − t̄_k) + e_k reaches y* = transform(threshold):

        t_k = t̄_k + (y* − ȳ_k − e_k) / b_k

    when the draw heads towards the threshold (b_k > 0 for a milestone ``rising`` to it, ≥ or >;
    b_k < 0 for one falling to it, ≤ or <), +inf otherwise (never reached). So for every t,
    the share of draws with t_k ≤ t is the share whose ŷ_k(t) meets the milestone — the yes/no
    forecast of the same milestone with deadline t (docs/methods.md §16.4). May lie in the past
    (the caller decides what that means)."""
    d = draws_of(t_years, values, kind, draws=draws, seed=seed)
    target = float(transform(np.array([threshold]), kind)[0])
    heading = d.slope > 0 if rising else d.slope < 0
    out = np.full(d.slope.shape, math.inf)
    out[heading] = (
        d.t_mean[heading] + (target - d.level[heading] - d.residual[heading]) / (d.slope[heading])
    )
    return out


def empirical_cdf(samples: ArrayLike, at: ArrayLike) -> FloatArray:
    """The share of ``samples`` at or below each point of ``at`` (P(X ≤ x), the stored CDF's
    convention, docs/methods.md §12.1): float64[len(at)]. ±inf samples count as such. Raises
    ValueError on no samples or NaN."""
    s = np.sort(np.asarray(samples, dtype=np.float64).reshape(-1))
    if not s.size:
        raise ValueError("no samples")
    if np.isnan(s).any():
        raise ValueError("samples must not be NaN")
    x = np.asarray(at, dtype=np.float64)
    return np.searchsorted(s, x, side="right").astype(np.float64) / s.size


def share_meeting(predicted: ArrayLike, met: Callable[[float], bool]) -> float:
    """The share of ``predicted`` values for which ``met`` holds."""
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if not p.size:
        raise ValueError("no draws")
    return sum(1 for v in p.tolist() if met(v)) / p.size
