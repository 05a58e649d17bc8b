"""Logarithmic pooling of binary forecasts: the crowd forecast's math, free of Django.

The crowd forecast of the forecasters active at time t (docs/methods.md §2) is

    x_i = logit p_i = ln p_i - ln(1 - p_i),     p_i clipped to [ε, 1 - ε], ε = 0.001
    logit p* = b + d · ( Σ w_i x_i / Σ w_i - b ),     p* = sigmoid(logit p*)

with extremizing factor d (default 1), base rate b on the logit scale (default 0 = logit 0.5) and
weights w_i = r_i · a_i: recency r_i = 2^(-(t - t_i)/h) for a half-life h (default off, r_i = 1)
and a track-record factor a_i (default 1). With d = 1 and equal weights this is the geometric mean
of odds ("logarithmic opinion pool"; Genest & Zidek 1986, Statistical Science 1(1); extremizing:
Satopää et al. 2014, International Journal of Forecasting 30(2)).

Numerics: logits, never products of odds or probabilities (a product of 100,000 odds underflows or
overflows); ``log1p`` for ln(1 - p); a sigmoid that never evaluates exp of a positive argument.

O(1) maintenance: the service keeps S = Σ w'_i x_i and W = Σ w'_i with w'_i = a_i · 2^((t_i - t0)/h)
for a reference time t0. The factor 2^(-(t - t0)/h) that turns w'_i into w_i is common to every
term, so it cancels in S / W and the pool only changes when a forecast is added, replaced or
withdrawn (one term each). ``pool_from_sums`` turns (S, W) into p*; ``rebase`` moves t0 forward
before 2^((t_i - t0)/h) overflows (see ``REBASE_EXPONENT``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "EPS",
    "REBASE_EXPONENT",
    "clip",
    "log_pool",
    "logit",
    "mean_pool",
    "median_pool",
    "pool_from_sums",
    "rebase",
    "recency_factor",
    "recency_weights",
    "sigmoid",
]

FloatArray = NDArray[np.float64]
# Array inputs of the element-wise functions. Not ``ArrayLike``: that includes ``float``, and the
# float overloads must not overlap the array ones (mypy rejects unsafely overlapping overloads).
ArrayInput = NDArray[Any] | Sequence[float]

EPS = 0.001
"""Clipping bound ε: forecasts are pooled as if in [ε, 1 - ε] (docs/methods.md §1.2: 0.001)."""

REBASE_EXPONENT = 512.0
"""Largest (t - t0)/h the running sums may reach before t0 is moved forward.

Rule: before adding a forecast made at time t, if (t - t0)/h > REBASE_EXPONENT, call
``rebase(S, W, t0, t_new0, h)`` with a new origin t_new0 ≤ t (e.g. t itself, or
t0 + h·⌊(t - t0)/h⌋ so that the scaling factor is an exact power of two). Why 512: weights then
stay below 2^512·a_i, so even 2^400 forecasters cannot overflow a float64 sum (max ≈ 2^1024), and
a forecast only underflows to weight 0 once it is more than ~1,074 half-lives older than the
origin, when it weighs less than 2^-1074 of a forecast made at the origin. That is negligible —
unless every newer forecast is withdrawn: see ``pool_from_sums`` on when to recompute.
"""


@dataclass(frozen=True)
class PoolParams:
    """The aggregation parameters of a tournament's crowd forecast (docs/methods.md §2.2).

    ``extremize``: the extremizing factor d (dimensionless, ≥ 1 in practice; 1 = no
    extremizing). ``base_logit``: the base rate b in logit units (0 = a 50% base rate).
    ``half_life``: the recency half-life h in seconds, or None for no recency weighting.
    """

    extremize: float = 1.0
    base_logit: float = 0.0
    half_life: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The stored form (``CrowdState.params``): a state built with other parameters is stale."""
        return {
            "extremize": self.extremize,
            "base_logit": self.base_logit,
            "half_life": self.half_life,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PoolParams:
        """Inverse of ``as_json``; missing keys take the defaults (no extremizing, b = 0)."""
        return cls(
            extremize=float(data.get("extremize", 1.0)),
            base_logit=float(data.get("base_logit", 0.0)),
            half_life=data.get("half_life"),
        )

    def kwargs(self) -> dict[str, Any]:
        """As the keyword arguments of ``forecasts.history.pool_history``."""
        return self.as_json()


@overload
def clip(p: float, eps: float = EPS) -> float: ...
@overload
def clip(p: ArrayInput, eps: float = EPS) -> FloatArray: ...
def clip(p: float | ArrayInput, eps: float = EPS) -> float | FloatArray:
    """Clip probabilities to [eps, 1 - eps] (default ε = 0.001, docs/methods.md §1.2).

    Clipping keeps every logit finite (|logit| ≤ ln((1 - ε)/ε) ≈ 6.9068 for ε = 0.001), so one
    forecast of exactly 0 or 1 cannot decide the pool alone. NaN passes through unchanged.
    A scalar gives a float, an array gives a float64 array.
    """
    out = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    if out.ndim == 0:
        return float(out)
    return out


@overload
def logit(p: float) -> float: ...
@overload
def logit(p: ArrayInput) -> FloatArray: ...
def logit(p: float | ArrayInput) -> float | FloatArray:
    """Log-odds x = ln p - ln(1 - p), with ln(1 - p) computed as ``log1p(-p)``.

    ``log1p`` keeps full relative precision of ln(1 - p) for small p, where 1 - p would round;
    ln p - ln(1 - p) avoids forming the ratio p / (1 - p). No clipping here: logit(0) = -inf and
    logit(1) = +inf (callers pool clipped values, see ``clip``).
    """
    x = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = np.log(x) - np.log1p(-x)
    if out.ndim == 0:
        return float(out)
    return out


@overload
def sigmoid(x: float) -> float: ...
@overload
def sigmoid(x: ArrayInput) -> FloatArray: ...
def sigmoid(x: float | ArrayInput) -> float | FloatArray:
    """Logistic function sigmoid(x) = 1 / (1 + e^(-x)), evaluated without overflow for any |x|.

    With e = exp(-|x|) ∈ (0, 1]: sigmoid(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0,
    so exp never sees a positive argument (exp(710) overflows) and sigmoid(-x) = 1 - sigmoid(x)
    holds to rounding.
    ±inf map to 1 and 0; NaN stays NaN.
    """
    z = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(z))
    out = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    if out.ndim == 0:
        return float(out)
    return np.asarray(out, dtype=np.float64)


def _probabilities(probs: ArrayLike, name: str = "probs") -> FloatArray:
    """1-D float array of probabilities in [0, 1]; ValueError when empty, NaN or out of range."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1:
        p = p.reshape(-1)
    if p.size == 0:
        raise ValueError(f"{name}: cannot pool an empty set of forecasts")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also rejects NaN
        raise ValueError(f"{name}: probabilities must lie in [0, 1]")
    return p


def _finite(value: float, name: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def log_pool(
    probs: ArrayLike,
    weights: ArrayLike | None = None,
    *,
    extremize: float = 1.0,
    base_logit: float = 0.0,
) -> float:
    """Weighted, optionally extremized logarithmic pool of binary forecasts.

        x_i = logit(clip(p_i, ε)),   logit p* = b + d · (Σ w_i x_i / Σ w_i - b),
        p* = sigmoid(logit p*)

    ``weights`` default to 1 (pure log pool = geometric mean of odds); ``extremize`` is d (d > 1
    pushes p* away from sigmoid(b), d = 1 keeps the weighted mean of logits, d < 1 shrinks towards
    sigmoid(b)); ``base_logit`` is b. Reference values (docs/methods.md §2.8):
    [0.1, 0.5, 0.9] → 0.5; [0.2, 0.6, 0.9] → 0.6, d = 2 → 0.692308, weights [1, 2, 3] →
    0.731593; [0.0, 0.7, 0.8] → 0.173974 (0 clipped to ε).

    Raises ValueError on no forecasts, probabilities outside [0, 1] or NaN, weights that are
    negative, non-finite or of the wrong length, a total weight ≤ 0, or non-finite d or b.
    """
    p = _probabilities(probs)
    if weights is None:
        mean_logit = float(np.mean(logit(clip(p))))
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != p.shape:
            raise ValueError(f"weights: expected {p.size} weights, got {w.size}")
        if not np.all(np.isfinite(w)) or np.any(w < 0.0):
            raise ValueError("weights must be finite and non-negative")
        total = float(np.sum(w))
        if not total > 0.0:
            raise ValueError("weights: the total weight must be positive")
        mean_logit = float(np.dot(w, logit(clip(p)))) / total
    return _pooled(mean_logit, extremize, base_logit)


def _pooled(mean_logit: float, extremize: float, base_logit: float) -> float:
    d = _finite(extremize, "extremize")
    b = _finite(base_logit, "base_logit")
    return sigmoid(b + d * (mean_logit - b))


def pool_from_sums(
    sum_wl: float, sum_w: float, *, extremize: float = 1.0, base_logit: float = 0.0
) -> float:
    """The log pool from running sums: p* = sigmoid(b + d · (S / W - b)) with S = Σ w'x, W = Σ w'.

    The O(1) engine's read-out (module docstring). Any common factor of the weights (the recency
    factor 2^(-(t - t0)/h), a rebase) cancels in S / W. Raises ValueError when W ≤ 0 or either
    sum is not finite: with no active forecaster there is no pool (callers track the count and
    reset the sums to exactly 0 when it reaches 0, instead of trusting W's rounding residue).

    Precision: S and W maintained by adding and subtracting terms carry absolute rounding error of
    order (number of updates) · 2^-53 · (largest W seen). When a withdrawal removes most of W
    (possible with recency or track-record weights spanning many orders of magnitude), recompute
    the sums from the current forecasts instead of trusting the difference.
    """
    s = _finite(sum_wl, "sum_wl")
    w = _finite(sum_w, "sum_w")
    if not w > 0.0:
        raise ValueError("sum_w: the total weight must be positive")
    return _pooled(s / w, extremize, base_logit)


def median_pool(probs: ArrayLike) -> float:
    """Median of the clipped forecasts (mean of the two middle values for an even count).

    A comparator for the log pool (docs/methods.md §2.7).
    Computed on the same clipped values the pool uses, so all three statistics describe the same
    set of numbers. Raises ValueError when empty or out of [0, 1].
    """
    return float(np.median(clip(_probabilities(probs))))


def mean_pool(probs: ArrayLike) -> float:
    """Arithmetic mean of the clipped forecasts (linear opinion pool with equal weights).

    On clipped values, like ``median_pool``: [0.0140, 0.0221, 0.0039, 0.0040] → 0.011000.
    Raises ValueError when empty or out of [0, 1].
    """
    return float(np.mean(clip(_probabilities(probs))))


def recency_factor(t_i: float, t0: float, half_life: float | None) -> float:
    """Unnormalized recency weight w' = 2^((t_i - t0)/h) of a forecast made at t_i (seconds).

    Relative to a reference time t0 rather than the current time t: the true weight
    2^(-(t - t_i)/h) = w' · 2^(-(t - t0)/h) and the second factor is common to all forecasts, so it
    cancels in the pool and the running sums need no update as time passes. ``half_life`` None
    (recency off) gives 1.0. Raises OverflowError when (t_i - t0)/h exceeds ~1024 — keep
    (t_i - t0)/h ≤ ``REBASE_EXPONENT`` by rebasing — and ValueError for a half-life ≤ 0.
    """
    if half_life is None:
        return 1.0
    h = _half_life(half_life)
    return math.exp2((float(t_i) - float(t0)) / h)


def _half_life(half_life: float) -> float:
    h = float(half_life)
    if not (math.isfinite(h) and h > 0.0):
        raise ValueError(f"half_life must be positive and finite, got {half_life!r}")
    return h


def rebase(
    sum_wl: float, sum_w: float, t0_old: float, t0_new: float, half_life: float | None
) -> tuple[float, float]:
    """Move the running sums' reference time: multiply S and W by 2^(-(t0_new - t0_old)/h).

    Every w'_i = a_i · 2^((t_i - t0)/h) changes by the same factor when t0 moves, so scaling both
    sums keeps S / W — the pool — unchanged while bringing new weights back near 1 (rule: see
    ``REBASE_EXPONENT``). When (t0_new - t0_old)/h is an integer the scaling is exact (a power of
    two). Forecasts much older than t0_new underflow to weight 0, which only matters if every newer
    forecast is later withdrawn — then recompute from scratch. With ``half_life`` None the sums
    are returned unchanged.
    """
    if half_life is None:
        return float(sum_wl), float(sum_w)
    factor = math.exp2(-(float(t0_new) - float(t0_old)) / _half_life(half_life))
    return float(sum_wl) * factor, float(sum_w) * factor


def recency_weights(times: ArrayLike, t: float, half_life: float | None) -> FloatArray:
    """Recency weights r_i = 2^(-(t - t_i)/h) of forecasts made at ``times`` (seconds), at time t.

    ``half_life`` None gives all ones. Forecasts newer than t (negative age) get weights above 1;
    very old ones underflow to 0 — pass t = the newest forecast's time to keep the largest
    weight at 1 (the pool does not depend on t).
    """
    ts = np.asarray(times, dtype=np.float64)
    if half_life is None:
        return np.ones_like(ts)
    h = _half_life(half_life)
    with np.errstate(over="ignore"):
        return np.exp2(-(float(t) - ts) / h)
