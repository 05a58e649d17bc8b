"""Calibration of multiple-choice and continuous forecasts (docs/methods.md §5.6).

Multiple choice: one-vs-rest reliability bins. A forecast p ∈ [0, 1]^k with outcome option o
contributes k pairs (p_j, 1{j = o}), binned exactly as binary forecasts
(``scoring.calibration.calibration_bins``: equal-width bins, observed frequency, 95% Wilson
interval).

Continuous: the probability integral transform PIT = F(y), the forecast's CDF at the resolved
value y. A calibrated forecaster's PIT values are uniform on [0, 1] (Dawid 1984; Gneiting,
Balabdaoui & Raftery 2007), so we report

- a PIT histogram: K equal-width bins (default 10) with counts, the fraction of PIT values in
  each (1/K when calibrated) and its Wilson interval;
- the coverage of the central 50% and 90% intervals: the fraction of outcomes inside
  [F⁻¹((1 - α)/2), F⁻¹((1 + α)/2)], i.e. with (1 - α)/2 ≤ PIT ≤ (1 + α)/2, with its Wilson
  interval (α when calibrated).

F is the CDF linear in value between its grid points, as for the CRPS (§4.13). An outcome
outside the range only says PIT ∈ [0, cdf[0]] (below) or [cdf[m-1], 1] (above): the PIT is then
the middle of that interval by default, or a uniform draw from it (the randomised PIT of Czado,
Gneiting & Held 2009) with a caller-seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forecasts.distributions import Scale
from scoring.calibration import Z_95, CalibrationBin, bin_edges, calibration_bins, wilson_interval
from scoring.rules_types import (
    CDF_POINTS,
    as_cdf_rows,
    as_option_index,
    as_option_probs,
    grid_values,
)

__all__ = [
    "IntervalCoverage",
    "PitHistogram",
    "interval_coverage",
    "mc_calibration_bins",
    "mc_calibration_pairs",
    "pit_histogram",
    "pit_values",
]

FloatArray = NDArray[np.float64]


def mc_calibration_pairs(probs: ArrayLike, outcomes: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The one-vs-rest binary pairs of multiple-choice forecasts: (p, o), each of shape (n·k,).

    ``probs``: shape (n, k), each row summing to 1 (±1e-6); ``outcomes``: shape (n,) or one
    integer, the 0-based index of the option that happened. Every option of every forecast is
    one pair (p_j, 1{j = o}) (docs/methods.md §5.6). Questions with different numbers of options
    are combined by concatenating their pairs before ``scoring.calibration.calibration_bins``.
    ValueError as ``scoring.rules_types.mc_brier``.
    """
    p = as_option_probs(probs)
    o = as_option_index(outcomes, p.shape[0], p.shape[1])
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), o] = 1.0
    return p.reshape(-1), onehot.reshape(-1)


def mc_calibration_bins(
    probs: ArrayLike, outcomes: ArrayLike, n_bins: int = 10, *, z: float = Z_95
) -> list[CalibrationBin]:
    """One-vs-rest reliability table of multiple-choice forecasts of one number of options:
    ``calibration_bins`` over ``mc_calibration_pairs`` (docs/methods.md §5.2, §5.6).
    ValueError as ``mc_calibration_pairs`` and ``calibration_bins``."""
    p, o = mc_calibration_pairs(probs, outcomes)
    return calibration_bins(p, o, n_bins, z=z)


def pit_values(
    cdf: ArrayLike,
    value: ArrayLike,
    scale: Scale,
    *,
    out_of_range: Literal["mid", "random"] = "mid",
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """PIT = F(y) of each CDF at the resolved value, shape (n,).

    ``cdf``: (m,) or (n, m) on ``scale``'s grid (m = 201); ``value``: one resolved value
    or one per CDF, in value units; -inf/+inf (or any value beyond a bound) mean below/above the
    range. In range, F is linear in value between grid points. Beyond the range the PIT lies in
    [0, cdf[0]] or [cdf[m-1], 1]: ``out_of_range="mid"`` takes the middle, ``"random"`` a
    uniform draw from ``rng`` (required then, for reproducibility). docs/methods.md §5.6.
    ValueError for invalid CDFs, NaN values, mismatched shapes or a missing generator.
    """
    c = as_cdf_rows(cdf, nan_rows=False)
    n, m = c.shape
    if m != CDF_POINTS:
        raise ValueError(f"the CDF needs {CDF_POINTS} points for this scale")
    y = np.asarray(value, dtype=np.float64)
    if np.any(np.isnan(y)):
        raise ValueError("a resolved value must not be NaN")
    y = np.broadcast_to(y, (n,)) if y.ndim == 0 else y.reshape(-1)
    if y.shape != (n,):
        raise ValueError("give one value, or one per CDF")
    low, high = c[:, 0], c[:, -1]
    if out_of_range == "mid":
        below, above = low / 2.0, (1.0 + high) / 2.0
    elif out_of_range == "random":
        if rng is None:
            raise ValueError("the randomised PIT needs a seeded numpy Generator (rng)")
        u = rng.random(n)
        below, above = u * low, high + u * (1.0 - high)
    else:
        raise ValueError('out_of_range must be "mid" or "random"')
    g = grid_values(scale)
    rows = np.arange(n)
    inside = np.clip(y, g[0], g[-1])
    j = np.clip(np.searchsorted(g, inside, side="right") - 1, 0, m - 2)
    w = (inside - g[j]) / (g[j + 1] - g[j])
    f = c[rows, j] + w * (c[rows, j + 1] - c[rows, j])
    pit = np.where(y < scale.range_min, below, np.where(y > scale.range_max, above, f))
    return np.asarray(np.clip(pit, 0.0, 1.0), dtype=np.float64)


def _pit_array(pit: ArrayLike) -> FloatArray:
    u = np.asarray(pit, dtype=np.float64).reshape(-1)
    if not np.all((u >= 0.0) & (u <= 1.0)):
        raise ValueError("PIT values must lie in [0, 1]")
    return u


@dataclass(frozen=True, slots=True)
class PitHistogram:
    """PIT histogram: bin k is [edges[k], edges[k+1]) (the last one includes 1); ``frequency``
    = counts / n (NaN with no values) with its Wilson interval; 1/K per bin when calibrated."""

    edges: FloatArray
    counts: NDArray[np.int64]
    frequency: FloatArray
    wilson_low: FloatArray
    wilson_high: FloatArray
    n: int


def pit_histogram(pit: ArrayLike, n_bins: int = 10, *, z: float = Z_95) -> PitHistogram:
    """Histogram of PIT values in ``n_bins`` equal-width bins (edges k/K as in
    ``scoring.calibration.bin_edges``), with each bin's fraction and Wilson interval
    (docs/methods.md §5.3, §5.6). ValueError for values outside [0, 1] (NaN included) or
    n_bins < 1."""
    u = _pit_array(pit)
    edges = bin_edges(n_bins)
    idx = np.minimum(np.searchsorted(edges, u, side="right") - 1, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins).astype(np.int64)
    n = int(u.shape[0])
    bounds = [wilson_interval(int(k), n, z) for k in counts]
    return PitHistogram(
        edges=edges,
        counts=counts,
        frequency=counts / n if n else np.full(n_bins, np.nan),
        wilson_low=np.array([b[0] for b in bounds], dtype=np.float64),
        wilson_high=np.array([b[1] for b in bounds], dtype=np.float64),
        n=n,
    )


@dataclass(frozen=True, slots=True)
class IntervalCoverage:
    """How often the outcome fell inside the forecasts' central ``level`` interval:
    ``hits`` of ``n`` (``frequency`` NaN when n = 0), with the Wilson interval."""

    level: float
    hits: int
    n: int
    frequency: float
    wilson_low: float
    wilson_high: float


def interval_coverage(
    pit: ArrayLike, levels: tuple[float, ...] = (0.5, 0.9), *, z: float = Z_95
) -> list[IntervalCoverage]:
    """Coverage of the central intervals: for level α an outcome is inside iff
    (1 - α)/2 ≤ PIT ≤ (1 + α)/2, the same as y ∈ [F⁻¹((1-α)/2), F⁻¹((1+α)/2)] for a CDF that
    increases strictly (standardised CDFs do in range). Calibrated forecasts cover α of the time
    (docs/methods.md §5.6). ValueError for PIT values outside [0, 1] or levels outside (0, 1).
    """
    u = _pit_array(pit)
    n = int(u.shape[0])
    out = []
    for level in levels:
        a = float(level)
        if not 0.0 < a < 1.0:
            raise ValueError("interval levels must lie in (0, 1)")
        hits = int(np.count_nonzero((u >= (1.0 - a) / 2.0) & (u <= (1.0 + a) / 2.0)))
        low, high = wilson_interval(hits, n, z)
        out.append(IntervalCoverage(a, hits, n, hits / n if n else float("nan"), low, high))
    return out
