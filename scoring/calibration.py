"""Calibration of binary forecasts: reliability bins with Wilson intervals, Brier decomposition.

Bins: K equal-width bins of forecast probability, [k/K, (k+1)/K) with the last one closed at 1.
For each: the number of forecasts, their mean, the observed frequency of YES and its 95% Wilson
score interval (Wilson 1927, JASA 22(158)), which stays inside [0, 1] and behaves at 0 and n
successes, unlike the normal approximation.

Brier decomposition with N forecasts f_i, outcomes o_i ∈ {0, 1}, bins k of n_k forecasts with
mean forecast f̄_k and observed frequency ō_k, and overall frequency ō:

    BS  = 1/N Σ_i (f_i - o_i)²
    REL = 1/N Σ_k n_k (f̄_k - ō_k)²            reliability (lower is better)
    RES = 1/N Σ_k n_k (ō_k - ō)²               resolution (higher is better)
    UNC = ō (1 - ō)                             uncertainty (of the outcomes alone)
    WBV = 1/N Σ_k Σ_{i∈k} (f_i - f̄_k)²          within-bin variance of the forecasts
    WBC = 1/N Σ_k Σ_{i∈k} (o_i - ō_k)(f_i - f̄_k)  within-bin covariance

    BS = REL - RES + UNC + WBV - 2·WBC          exactly (Stephenson, Coelho & Jolliffe 2008,
                                                "Two extra components in the Brier score
                                                decomposition", Weather and Forecasting 23(4))

Murphy's (1973) BS = REL - RES + UNC is the special case WBV = WBC = 0: exact when the forecasts
within each bin are identical, an approximation otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Z_95",
    "BrierDecomposition",
    "CalibrationBin",
    "bin_edges",
    "brier_decomposition",
    "calibration_bins",
    "wilson_interval",
]

Z_95 = 1.959963984540054
"""Two-sided 95% standard normal quantile, Φ⁻¹(0.975)."""


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One reliability bin: [lower, upper) (the last bin includes 1).

    ``mean_forecast`` and ``observed_frequency`` are NaN for an empty bin, whose Wilson interval
    is the uninformative [0, 1].
    """

    lower: float
    upper: float
    count: int
    mean_forecast: float
    observed_frequency: float
    wilson_low: float
    wilson_high: float


@dataclass(frozen=True, slots=True)
class BrierDecomposition:
    """BS = REL - RES + UNC + WBV - 2·WBC (Stephenson, Coelho & Jolliffe 2008)."""

    bs: float
    rel: float
    res: float
    unc: float
    wbv: float
    wbc: float

    @property
    def murphy(self) -> float:
        """REL - RES + UNC: Murphy's three-component approximation of BS."""
        return self.rel - self.res + self.unc


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials.

        p̂ = k/n,   centre = (p̂ + z²/(2n)) / (1 + z²/n),
        half-width = z / (1 + z²/n) · sqrt(p̂(1 - p̂)/n + z²/(4n²))

    Wilson (1927), "Probable inference, the law of succession, and statistical inference", JASA
    22(158). n = 0 gives (0, 1): no data, no information. Raises ValueError unless 0 ≤ k ≤ n.
    """
    if not (0 <= k <= n):
        raise ValueError(f"need 0 ≤ k ≤ n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p_hat = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p_hat + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p_hat * (1.0 - p_hat) / n + z2 / (4 * n * n))
    # At k = 0 (k = n) the lower (upper) bound is exactly 0 (1); say so instead of leaving the
    # rounding residue (1 - 1e-16 would read as "not certain").
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def bin_edges(n_bins: int) -> NDArray[np.float64]:
    """The K + 1 edges 0, 1/K, ..., 1 of ``n_bins`` equal-width bins."""
    if n_bins < 1:
        raise ValueError("n_bins must be at least 1")
    # k / K is the double nearest to the true edge, so a forecast written 0.3 opens bin 3 of 10;
    # linspace's k · (1/K) gives 0.30000000000000004 and would put 0.3 into bin 2.
    return np.arange(n_bins + 1, dtype=np.float64) / n_bins


def _inputs(
    probs: ArrayLike, outcomes: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    f = np.asarray(probs, dtype=np.float64).reshape(-1)
    o_raw = np.asarray(outcomes).reshape(-1)
    if f.shape != o_raw.shape:
        raise ValueError("probs and outcomes must have the same length")
    if not np.all((f >= 0.0) & (f <= 1.0)):
        raise ValueError("probabilities must lie in [0, 1]")
    if not np.all((o_raw == 0) | (o_raw == 1)):
        raise ValueError("outcomes must be 0 or 1")
    return f, (o_raw == 1).astype(np.float64)


def _bin_index(f: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    # Search the same float edges that are reported as lower/upper, so every member satisfies
    # lower ≤ p < upper as floats (floor(p·K) can land one bin off next to an edge); p = 1 goes
    # into the last bin.
    idx = np.searchsorted(edges, f, side="right") - 1
    return np.asarray(np.minimum(idx, edges.shape[0] - 2), dtype=np.int64)


def calibration_bins(
    probs: ArrayLike, outcomes: ArrayLike, n_bins: int = 10, *, z: float = Z_95
) -> list[CalibrationBin]:
    """Reliability table: ``n_bins`` equal-width bins, all of them (empty ones included).

    Each bin reports its edges, count, mean forecast, observed frequency of YES and the Wilson
    interval of that frequency (95% by default). Raises ValueError for probabilities outside
    [0, 1], outcomes other than 0/1, mismatched lengths or n_bins < 1.
    """
    f, o = _inputs(probs, outcomes)
    edges = bin_edges(n_bins)
    idx = _bin_index(f, edges)
    count = np.bincount(idx, minlength=n_bins)
    sum_f = np.bincount(idx, weights=f, minlength=n_bins)
    yes = np.bincount(idx, weights=o, minlength=n_bins)
    bins = []
    for k in range(n_bins):
        n_k, k_yes = int(count[k]), round(float(yes[k]))
        low, high = wilson_interval(k_yes, n_k, z)
        bins.append(
            CalibrationBin(
                lower=float(edges[k]),
                upper=float(edges[k + 1]),
                count=n_k,
                mean_forecast=float(sum_f[k]) / n_k if n_k else math.nan,
                observed_frequency=k_yes / n_k if n_k else math.nan,
                wilson_low=low,
                wilson_high=high,
            )
        )
    return bins


def brier_decomposition(
    probs: ArrayLike, outcomes: ArrayLike, bins: int | ArrayLike = 10
) -> BrierDecomposition:
    """REL, RES, UNC, WBV, WBC and BS of binary forecasts (formulas in the module docstring).

    ``bins`` is a number of equal-width bins or an increasing array of edges from 0 to 1. Each
    component is computed directly from its definition with bin means taken first (two passes),
    so BS = REL - RES + UNC + WBV - 2·WBC holds to rounding (~1e-16), not just approximately.
    Raises ValueError for no forecasts, invalid probabilities or outcomes, or invalid edges.
    """
    f, o = _inputs(probs, outcomes)
    n = f.shape[0]
    if n == 0:
        raise ValueError("cannot decompose the Brier score of no forecasts")
    if isinstance(bins, int | np.integer):
        edges = bin_edges(int(bins))
    else:
        edges = np.asarray(bins, dtype=np.float64).reshape(-1)
        if edges.shape[0] < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or np.any(np.diff(edges) <= 0):
            raise ValueError("bin edges must increase from 0 to 1")
    idx = _bin_index(f, edges)
    n_bins = edges.shape[0] - 1
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    safe = np.maximum(count, 1.0)  # empty bins contribute 0 to every sum below
    f_bar = np.bincount(idx, weights=f, minlength=n_bins) / safe
    o_bar = np.bincount(idx, weights=o, minlength=n_bins) / safe
    o_all = float(np.mean(o))
    df = f - f_bar[idx]
    do = o - o_bar[idx]
    return BrierDecomposition(
        bs=float(np.mean((f - o) ** 2)),
        rel=float(np.sum(count * (f_bar - o_bar) ** 2)) / n,
        res=float(np.sum(count * (o_bar - o_all) ** 2)) / n,
        unc=o_all * (1.0 - o_all),
        wbv=float(np.sum(df * df)) / n,
        wbc=float(np.sum(do * df)) / n,
    )
