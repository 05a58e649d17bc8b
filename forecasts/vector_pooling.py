"""Logarithmic pooling of multiple-choice and continuous forecasts: the math, free of Django.

A forecast is a probability vector p_i over k outcomes: the options of a multiple-choice
question, or the 202 PMF buckets of a continuous question's CDF on the 201-point grid
(docs/methods.md §13.2: [cdf[0], cdf[1] − cdf[0], …, cdf[200] − cdf[199], 1 − cdf[200]]).
The crowd is the weighted geometric mean per outcome, renormalised (docs/methods.md §13.3):

    p*_k ∝ exp(d · Σ_i w_i ln p_ik / Σ_i w_i)

with extremizing factor d (1 = none) and weights w_i = a_i · 2^(-(t − t_i)/h) exactly as for
yes/no questions (``forecasts.pooling``): track-record factor a_i, recency half-life h. The
normalisation is a log-sum-exp, so no product of many probabilities is ever formed. With two
options this is the yes/no log pool with base rate 0.5: p*_0 = sigmoid(d · mean(ln p_0 − ln p_1)).

Zero outcomes: a bucket beyond a closed bound is 0 in every forecast. Such an outcome is outside
the *support* and stays 0 in the pool; its running sum holds 0 instead of −inf (``log_terms``).
Within the support every probability is positive (standardised inputs guarantee it).

O(1) maintenance: the service keeps the vector S_k = Σ w'_i ln p_ik, the scalar W = Σ w'_i and,
for the linear pool, L_k = Σ w'_i p_ik, with w'_i = a_i · 2^((t_i − t0)/h) relative to a
reference time t0 — the common factor cancels in S/W and L/W, exactly as in
``forecasts.pooling`` (``rebase`` applies to every sum alike). ``pool_from_sums`` reads the pool
out; ``pool_history_vectors`` recomputes a whole history from the log in vectorised chunks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forecasts.history import ForecastEvents, forecast_events
from forecasts.pooling import REBASE_EXPONENT, _half_life, recency_weights

__all__ = [
    "CDF_POINTS",
    "CONTINUOUS_SUMMARY_QUANTILES",
    "PMF_BUCKETS",
    "VectorHistory",
    "buckets_from_cdf",
    "cdf_from_buckets",
    "continuous_summary",
    "linear_pool",
    "log_pool",
    "log_terms",
    "median_pool",
    "pool_from_sums",
    "pool_history_vectors",
    "quantile_locations",
    "support_of",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

CDF_POINTS = 201
"""Grid locations of a continuous forecast's CDF on the internal [0, 1] scale (j/200)."""
PMF_BUCKETS = CDF_POINTS + 1
"""Buckets of its PMF: below the range, 200 inbound steps, above the range."""
CONTINUOUS_SUMMARY_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
"""Quantiles whose locations a continuous crowd history point keeps (then P(below), P(above))."""

_CHUNK = 2048  # events per block of the prefix sums: bounds the scratch, keeps it near the cache
_LDEXP_FLOOR = -1100
_WEIGHT_FLOOR = 2.0**-900
CANCELLATION_LIMIT = 2.0**-20
"""Re-pool an event from its active forecasts when W < CANCELLATION_LIMIT · Σ|changes of W|
(as ``forecasts.history.CANCELLATION_LIMIT``; stricter, because the vector sums S_k are plain
prefix sums — W alone is compensated)."""


def _matrix(probs: ArrayLike) -> FloatArray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p.reshape(1, -1)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError("probs: expected a non-empty (forecasts × outcomes) array")
    if not np.all((p >= 0.0) & (p <= 1.0)):  # also rejects NaN
        raise ValueError("probs: probabilities must lie in [0, 1]")
    return p


def _weights(weights: ArrayLike | None, n: int) -> FloatArray:
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n:
        raise ValueError(f"weights: expected {n} weights, got {w.shape[0]}")
    if not np.all(np.isfinite(w)) or np.any(w < 0.0):
        raise ValueError("weights must be finite and non-negative")
    if not float(np.sum(w)) > 0.0:
        raise ValueError("weights: the total weight must be positive")
    return w


def _extremize(d: float) -> float:
    value = float(d)
    if not math.isfinite(value):
        raise ValueError(f"extremize must be finite, got {d!r}")
    return value


def log_terms(p: ArrayLike) -> FloatArray:
    """ln p elementwise, with 0 where p = 0 (an outcome outside the support contributes nothing
    to the running sums; ``support`` keeps it at 0 in the pool)."""
    x = np.asarray(p, dtype=np.float64)
    out = np.zeros_like(x)
    np.log(x, out=out, where=x > 0.0)
    return out


def support_of(probs: ArrayLike) -> BoolArray:
    """The outcomes with positive probability in at least one forecast (``probs``: n × k)."""
    return np.asarray(np.any(_matrix(probs) > 0.0, axis=0))


def _normalise(z: FloatArray, support: BoolArray) -> FloatArray:
    """exp(z_k − logsumexp(z over the support)) on the support, 0 elsewhere; rows of a 2-D z.
    Overwrites ``z`` when it is a float64 array (the history passes its scratch)."""
    z = np.asarray(z, dtype=np.float64)
    z[..., ~support] = -np.inf
    z -= np.max(z, axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= np.sum(z, axis=-1, keepdims=True)
    return z


def log_pool(
    probs: ArrayLike, weights: ArrayLike | None = None, *, extremize: float = 1.0
) -> FloatArray:
    """Weighted, extremized log pool of probability vectors (docs/methods.md §13.3).

    ``probs``: n × k (n forecasts over k outcomes, each row a distribution); ``weights``: n
    non-negative weights (default 1); ``extremize``: d. Returns float64[k] summing to 1:
    p*_k ∝ exp(d · Σ_i w_i ln p_ik / Σ_i w_i). An outcome that is 0 in some forecast with
    positive weight is 0 in the pool (the geometric mean of a zero factor). Reference values
    (SPEC): [0.5,0.3,0.2], [0.2,0.3,0.5] → [0.339134, 0.321731, 0.339134]; PMF [0.1,0.2,0.3,0.4],
    [0.4,0.3,0.2,0.1] → [0.224745, 0.275255, 0.275255, 0.224745].

    Raises ValueError on an empty input, probabilities outside [0, 1] or NaN, bad weights, a
    non-finite d, or no outcome that every weighted forecast gives positive probability.
    """
    p = _matrix(probs)
    w = _weights(weights, p.shape[0])
    d = _extremize(extremize)
    counted = w > 0.0
    support = np.all(p[counted] > 0.0, axis=0)
    if not support.any():
        raise ValueError("probs: no outcome has positive probability in every forecast")
    mean = (w @ log_terms(p)) / float(np.sum(w))
    return _normalise(d * mean, support)


def pool_from_sums(
    sums: ArrayLike, sum_w: float, support: ArrayLike, *, extremize: float = 1.0
) -> FloatArray:
    """The log pool from running sums S_k = Σ w'_i ln p_ik and W = Σ w'_i: p*_k ∝ exp(d·S_k/W)
    on ``support`` (bool[k]), 0 elsewhere. float64[k] summing to 1.

    Raises ValueError when W ≤ 0 or a sum is not finite (no active forecaster: no pool), or the
    support is empty or of another length. See ``forecasts.pooling.pool_from_sums`` on
    cancellation when a withdrawal removes most of W.
    """
    s = np.asarray(sums, dtype=np.float64).reshape(-1)
    mask = np.asarray(support, dtype=bool).reshape(-1)
    w = float(sum_w)
    if mask.shape != s.shape or not mask.any():
        raise ValueError("support: expected a non-empty mask of the sums' length")
    if not (math.isfinite(w) and w > 0.0) or not np.all(np.isfinite(s)):
        raise ValueError("sums: the total weight must be positive and the sums finite")
    return _normalise(_extremize(extremize) * s / w, mask)


def linear_pool(probs: ArrayLike, weights: ArrayLike | None = None) -> FloatArray:
    """The linear pool (weighted mean of the vectors, a comparator; docs/methods.md §13.3):
    Σ_i w_i p_ik / Σ_i w_i, float64[k]. Raises ValueError as ``log_pool``."""
    p = _matrix(probs)
    w = _weights(weights, p.shape[0])
    return np.asarray((w @ p) / float(np.sum(w)), dtype=np.float64)


def median_pool(probs: ArrayLike) -> FloatArray:
    """The per-outcome median of the forecasts, renormalised to sum 1 (a comparator;
    docs/methods.md §13.3). float64[k]. Raises ValueError as ``log_pool`` or when every median
    is 0."""
    med = np.median(_matrix(probs), axis=0)
    total = float(np.sum(med))
    if not total > 0.0:
        raise ValueError("probs: every per-outcome median is 0")
    return np.asarray(med / total, dtype=np.float64)


def buckets_from_cdf(cdf: ArrayLike) -> FloatArray:
    """The PMF buckets of CDF(s) on the grid: [cdf[0], diff(cdf), 1 − cdf[-1]] along the last
    axis (201 points → 202 buckets). No validation (see ``forecasts.services``)."""
    c = np.asarray(cdf, dtype=np.float64)
    out = np.empty((*c.shape[:-1], c.shape[-1] + 1), dtype=np.float64)
    out[..., 0] = c[..., 0]
    np.subtract(c[..., 1:], c[..., :-1], out=out[..., 1:-1])
    np.subtract(1.0, c[..., -1], out=out[..., -1])
    return out


def cdf_from_buckets(pmf: ArrayLike) -> FloatArray:
    """Inverse of ``buckets_from_cdf``: the CDF at the grid points, cumsum(pmf)[:-1] along the
    last axis (202 buckets → 201 points)."""
    b = np.asarray(pmf, dtype=np.float64)
    return np.cumsum(b[..., :-1], axis=-1)  # the same prefix sums as cumsum(b)[:-1]


def quantile_locations(cdf: ArrayLike, quantiles: ArrayLike) -> FloatArray:
    """Locations x on the internal [0, 1] scale where the CDF (on the grid x_j = j/(m − 1))
    reaches each quantile q, by linear interpolation between grid points (as ``numpy.interp`` of
    the inverse). A quantile at or below cdf[0] (mass below the range) gives 0, one above
    cdf[-1] gives 1. ``cdf``: m points or rows × m, non-decreasing; returns float64 of shape
    (…, len(quantiles)). Vectorised over rows and quantiles: a binary search for the first grid
    point with cdf ≥ q (⌈log2(m + 1)⌉ gathers of one value per row and quantile).
    """
    c = np.asarray(cdf, dtype=np.float64)
    q = np.asarray(quantiles, dtype=np.float64).reshape(-1)
    m = c.shape[-1]
    columns = np.ascontiguousarray(c.reshape(-1, m).T)
    return _quantiles_of_columns(columns, q).reshape(*c.shape[:-1], q.shape[0])


def _quantiles_of_columns(cdf_t: FloatArray, q: FloatArray) -> FloatArray:
    """``quantile_locations`` of CDFs stored column-wise: ``cdf_t`` (m × rows, C-contiguous,
    each column non-decreasing) → float64[rows, len(q)]."""
    m, n = cdf_t.shape
    values = cdf_t.reshape(-1)
    row = np.arange(n, dtype=np.int64)[:, None]  # value (j, r) sits at j·n + r
    level = q[None, :]
    # first = #{j : cdf_j < q} = the first j with cdf_j ≥ q (m when none), for a monotone column.
    lo = np.zeros((n, q.shape[0]), dtype=np.int64)
    hi = np.full_like(lo, m)
    for _ in range(int(m).bit_length()):
        mid = (lo + hi) >> 1
        searching = lo < hi
        below = np.take(values, np.minimum(mid, m - 1) * n + row) < level
        lo = np.where(searching & below, mid + 1, lo)
        hi = np.where(searching & ~below, mid, hi)
    first = lo
    inner = np.clip(first, 1, m - 1)
    low = np.take(values, (inner - 1) * n + row)
    high = np.take(values, inner * n + row)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (inner - 1 + (level - low) / (high - low)) / (m - 1)
    return np.where(first == 0, 0.0, np.where(first == m, 1.0, x))


def _cdf_columns(pmf: FloatArray) -> FloatArray:
    """The CDFs of PMF rows (rows × k) column-wise: float64[k − 1, rows], column r holding
    cumsum(pmf[r])[:-1]. The prefix sums run along the first axis, one vectorised addition per
    grid point over all rows — the same additions in the same order as ``numpy.cumsum`` along
    a row (so the same bits), without its per-row sequential loop."""
    # Always a copy: for one row the transposed slice is already "contiguous", and
    # ``ascontiguousarray`` would hand back a view, so the sums below overwrote the caller's PMF.
    out = pmf[:, :-1].T.copy(order="C")
    for j in range(1, out.shape[0]):
        np.add(out[j - 1], out[j], out=out[j])
    return out


def continuous_summary(pmf: ArrayLike) -> FloatArray:
    """A continuous crowd history point (docs/architecture.md): the quantile locations at
    ``CONTINUOUS_SUMMARY_QUANTILES`` on the internal scale, then P(below the range) and
    P(above the range). ``pmf``: 202 buckets, or rows × 202 → float64 (…, 7)."""
    b = np.asarray(pmf, dtype=np.float64)
    flat = b.reshape(-1, b.shape[-1])
    q = np.asarray(CONTINUOUS_SUMMARY_QUANTILES, dtype=np.float64)
    out = np.empty((flat.shape[0], q.shape[0] + 2), dtype=np.float64)
    out[:, : q.shape[0]] = _quantiles_of_columns(_cdf_columns(flat), q)
    out[:, -2] = flat[:, 0]
    out[:, -1] = flat[:, -1]
    return out.reshape(*b.shape[:-1], q.shape[0] + 2)


# --- History: the crowd after every event, recomputed from the log ----------------------------


@dataclass(frozen=True, slots=True)
class VectorHistory:
    """The crowd after every event of a log (event order).

    ``forecasters``: active forecasters after each event (int64[n]); ``summary``: the
    ``summarize`` of the pool after each event (float64[n, s]; NaN rows where nobody is
    active); ``last`` and ``last_linear``: the log pool and the linear pool after the last event
    (float64[k]; NaN when nobody is active or the log is empty).
    """

    forecasters: IntArray
    summary: FloatArray
    last: FloatArray
    last_linear: FloatArray

    def __len__(self) -> int:
        return int(self.forecasters.shape[0])


def _cumsum2(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Compensated prefix sums down axis 0 (TwoSum per column, as
    ``forecasts.history.compensated_cumsum``): hi + lo is each prefix sum to ~2^-106 · Σ|x|."""
    hi = np.cumsum(x, axis=0)
    err = np.zeros_like(hi)
    if hi.shape[0] > 1:
        before, after, term = hi[:-1], hi[1:], x[1:]
        virtual = after - before
        err[1:] = (before - (after - virtual)) + (term - virtual)
    return hi, np.cumsum(err, axis=0)


def _chunk(
    removed: FloatArray, added: FloatArray, carry: tuple[FloatArray, FloatArray]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Prefix sums of [carry_hi, carry_lo, −removed_0, added_0, −removed_1, …] after each event
    (rows 3, 5, …) as hi + lo, and the final (hi, lo) to carry into the next chunk."""
    c = removed.shape[0]
    entries = np.empty((2 * c + 2, *removed.shape[1:]), dtype=np.float64)
    entries[0] = carry[0]
    entries[1] = carry[1]
    entries[2::2] = -removed
    entries[3::2] = added
    hi, lo = _cumsum2(entries)
    return hi[3::2] + lo[3::2], hi[-1], lo[-1]


def pool_history_vectors(
    times: ArrayLike,
    forecaster: ArrayLike,
    values: ArrayLike,
    support: ArrayLike,
    *,
    summarize: Callable[[FloatArray], FloatArray],
    track_record_weight: ArrayLike | None = None,
    extremize: float = 1.0,
    half_life: float | None = None,
) -> VectorHistory:
    """The crowd history of a multiple-choice or continuous question, from its log.

    ``times`` (seconds, sorted), ``forecaster`` (integer codes) and ``values`` (n × k outcome
    probabilities: option probabilities or PMF buckets; a row of NaN withdraws the forecaster's
    current forecast) are parallel; ``support`` (bool[k]) the outcomes that can be positive;
    ``track_record_weight`` a_i per event (default 1); ``extremize`` d; ``half_life`` h seconds
    or None. For the forecasts active after event j, the pool is ``log_pool`` of them with
    weights a_i · 2^(-(t_j − t_i)/h) — computed from prefix sums of each event's change to S_k
    (plain) and W (compensated), in chunks of at most ``_CHUNK`` events and 512 half-lives
    (each with its own power-of-two scale, as ``forecasts.history.pool_history``), and re-pooled
    from the active forecasts where a withdrawal cancelled almost all of W. ``summarize`` maps
    pools (rows × k) to the stored summaries (rows × s). O(n·k) time, O(_CHUNK·k) scratch.

    Raises ValueError on unsorted times, values outside [0, 1], mismatched shapes, a
    non-positive track-record weight, a half-life ≤ 0 or a non-finite d.
    """
    v = np.asarray(values, dtype=np.float64)
    mask = np.asarray(support, dtype=bool).reshape(-1)
    if v.ndim != 2 or v.shape[1] != mask.shape[0]:
        raise ValueError("values: expected an events × outcomes array matching the support")
    # Linked through the first outcome's column (NaN marks a withdrawal, as in the yes/no log).
    ev = forecast_events(times, forecaster, v[:, 0], track_record_weight)
    fc = ev.is_forecast
    if not np.all((v[fc] >= 0.0) & (v[fc] <= 1.0)):
        raise ValueError("values: probabilities must lie in [0, 1]")
    d = _extremize(extremize)
    if half_life is not None:
        _half_life(half_life)
    n, k = v.shape
    top = float(np.max(ev.track_record_weight[fc], initial=1.0))
    if half_life is None:
        q = np.zeros(n, dtype=np.int64)
        mant = ev.track_record_weight / top
    else:
        e = (ev.times - (ev.times[0] if n else 0.0)) / half_life
        q = np.floor(e).astype(np.int64)
        mant = ev.track_record_weight / top * np.exp2(e - q)
    old = np.where(ev.removes, ev.prev, 0)
    logs = _log_rows(v)
    zero_k = np.zeros(k, dtype=np.float64)
    carry_s = zero_k
    carry_w = (np.zeros(()), np.zeros(()))
    carry_a = 0.0
    summaries: list[FloatArray] = []
    last = np.full(k, np.nan)
    last_linear = np.full(k, np.nan)
    start = 0
    while start < n:
        origin = int(q[start])
        stop = int(np.searchsorted(q, origin + int(REBASE_EXPONENT), side="right"))
        stop = min(stop, start + _CHUNK)
        sl = slice(start, stop)
        o = old[sl]
        rm = ev.removes[sl]
        w_add = np.where(fc[sl], np.ldexp(mant[sl], q[sl] - origin), 0.0)
        w_rem = np.where(rm, np.ldexp(mant[o], np.maximum(q[o] - origin, _LDEXP_FLOOR)), 0.0)
        w_after, w_hi, w_lo = _chunk(w_rem, w_add, carry_w)
        # S_k: one row of change per event, plain prefix sums (a rounding error of about
        # events · 2^-53 relative to Σ|terms|; where W cancels, the event is re-pooled below).
        s_after = np.multiply(logs[sl], w_add[:, None])
        removal = np.take(logs, o, axis=0)
        removal *= w_rem[:, None]
        s_after -= removal
        del removal
        s_after[0] += carry_s
        np.cumsum(s_after, axis=0, out=s_after)
        s_end = s_after[-1].copy()
        bound = np.cumsum(np.abs(w_rem) + w_add) + carry_a
        active = ev.count[sl] > 0
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            s_after *= d / w_after[:, None]
            pooled = _normalise(s_after, mask)
        trusted = (w_after >= CANCELLATION_LIMIT * bound) & (w_after >= _WEIGHT_FLOOR)
        for j in np.flatnonzero(active & ~trusted).tolist():
            pooled[j] = _pool_at(ev, v, start + j, d, half_life, mask)[0]
        pooled[~active] = np.nan
        out = np.asarray(summarize(pooled), dtype=np.float64)
        out[~active] = np.nan
        summaries.append(out)
        last = pooled[-1]
        if stop < n:
            shift = origin - int(q[stop])
            carry_w = (np.ldexp(w_hi, shift), np.ldexp(w_lo, shift))
            carry_s = np.ldexp(s_end, shift)
            carry_a = math.ldexp(float(bound[-1]), shift)
        start = stop
    if n and ev.count[-1] > 0:
        last_linear = _pool_at(ev, v, n - 1, d, half_life, mask)[1]
    width = summaries[0].shape[1] if summaries else summarize(np.full((1, k), 1.0 / k)).shape[1]
    summary = np.concatenate(summaries) if summaries else np.empty((0, width))
    return VectorHistory(
        forecasters=ev.count,
        summary=summary,
        last=np.asarray(last, dtype=np.float64),
        last_linear=np.asarray(last_linear, dtype=np.float64),
    )


_LOG_BLOCK = 512  # rows per block of ``_log_rows``: its scratch stays in cache


def _log_rows(v: FloatArray) -> FloatArray:
    """``log_terms`` of every row of ``v`` (n × k), with 0 for a withdrawal's row of NaN: ln p
    where p > 0, else 0. One output array, filled block by block (no full-size temporaries)."""
    out = np.empty_like(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        for start in range(0, v.shape[0], _LOG_BLOCK):
            block = out[start : start + _LOG_BLOCK]
            np.log(v[start : start + _LOG_BLOCK], out=block)
            block[~np.isfinite(block)] = 0.0  # ln 0 = −inf (outside the support), NaN rows
    return out


def _pool_at(
    ev: ForecastEvents,
    values: FloatArray,
    j: int,
    d: float,
    half_life: float | None,
    support: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """Re-pool event j from its active forecasts (the cancellation fallback, O(j·k)). Weights
    relative to the newest active forecast, so nothing that matters underflows."""
    live = np.flatnonzero(ev.is_forecast[: j + 1] & (ev.next[: j + 1] > j))
    t = ev.times[live]
    weights = ev.track_record_weight[live] * recency_weights(t, float(t.max()), half_life)
    p = values[live]
    mean = (weights @ log_terms(p)) / float(np.sum(weights))
    return _normalise(d * mean, support), linear_pool(p, weights)
