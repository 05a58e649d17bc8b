"""A question's whole crowd history, recomputed from its forecast log in one vectorized pass.

Input: the forecast events of one question sorted by time — ``times`` (float seconds),
``forecaster`` (integer codes), ``probs`` (NaN marks a withdrawal of that forecaster's current
forecast), optional per-event ``track_record_weight`` a_i. Output: one point per event
(docs/methods.md §2.6): the log pool p* after the event (``forecasts.pooling``), the
number of active forecasters, and the mean and median of their clipped probabilities.

Semantics: each forecaster holds at most one current forecast; a new forecast replaces it; a
withdrawal removes it (a withdrawal with nothing to withdraw is a no-op that still gets a point);
with no active forecaster the pool, mean and median are NaN.

How (n events, pure numpy, no Python loop per event):

- Each event changes the sums S = Σ w'x and W = Σ w' by at most two terms: minus the forecaster's
  previous term (found through a stable sort by forecaster), plus the new one. Prefix sums of those
  deltas give S and W after every event. Prefix sums are compensated (``compensated_cumsum``):
  subtracting a term that dominated W (a withdrawn recent forecast under a short half-life) would
  otherwise leave nothing but rounding error.
- Recency: w'_i = a_i · 2^((t_i - t0)/h). The events are cut into chunks over which the
  exponent grows by at most ``REBASE_EXPONENT``; each chunk has its own integer origin K, and the
  sums carried into it are multiplied by 2^(K_prev - K) — exact, a power of two. A 1-hour
  half-life over ten years therefore neither overflows nor loses the weight of recent forecasts.
- Cancellation guard: where W falls below ``CANCELLATION_LIMIT`` times the total |change| fed into
  it (a withdrawal removed almost all the weight) or below 2^-900 (the remaining forecasts are so
  old that their weights underflowed in the chunk's scale), the event is re-pooled from its active
  forecasts instead: O(n) each, and only withdrawals can trigger it.
- Median: exact order statistics for all events at once by an offline "parallel binary search"
  over the coordinate-compressed values (``median_history``): O(n log U) numpy work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forecasts.pooling import (
    REBASE_EXPONENT,
    _half_life,
    clip,
    log_pool,
    logit,
    recency_weights,
    sigmoid,
)

__all__ = [
    "CANCELLATION_LIMIT",
    "CrowdHistory",
    "ForecastEvents",
    "compensated_cumsum",
    "forecast_events",
    "link_events",
    "median_history",
    "pool_history",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

CANCELLATION_LIMIT = 2.0**-30
"""Re-pool an event from scratch when W < CANCELLATION_LIMIT · (Σ |changes| fed into W).

The compensated prefix sums carry an absolute error of roughly (events)² · 2^-106 · Σ|changes| in
the worst case; below this ratio that could exceed ~1e-11 of W, above it the sums are trusted.
"""

_CHUNK = 1 << 16  # events per block of prefix sums: bounds the scratch memory
_LDEXP_FLOOR = -1100  # beyond float64's subnormal range: ldexp gives exactly 0 from here on
# Below this W (in a chunk's scale, where a fresh term of the most accurate forecaster is ≥ 1) the
# live terms may be subnormal or have underflowed to 0: re-pool from the active forecasts.
_WEIGHT_FLOOR = 2.0**-900


@dataclass(frozen=True, slots=True)
class CrowdHistory:
    """The crowd forecast after every event, one array entry per event (event order).

    ``probability`` is the log pool p*, ``forecasters`` the number of active forecasters, ``mean``
    and ``median`` the comparators over the same clipped probabilities. The three float series
    are NaN where ``forecasters`` is 0. ``median`` is all NaN when computed with
    ``with_median=False``.
    """

    time: FloatArray
    probability: FloatArray
    forecasters: IntArray
    mean: FloatArray
    median: FloatArray

    def __len__(self) -> int:
        return int(self.time.shape[0])


@dataclass(frozen=True, slots=True)
class ForecastEvents:
    """A validated forecast log with each event linked to its forecaster's neighbouring events."""

    times: FloatArray
    forecaster: IntArray
    probs: FloatArray  # NaN = withdrawal
    track_record_weight: FloatArray
    is_forecast: BoolArray
    prev: IntArray  # the same forecaster's previous event, -1 if none
    next: IntArray  # the same forecaster's next event, n if none
    removes: BoolArray  # the event ends a current forecast (that of event ``prev``)
    count: IntArray  # active forecasters after the event


def compensated_cumsum(x: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Prefix sums with their rounding errors: ``hi + lo`` is Σ_{j≤k} x_j to about 2^-106 · Σ|x|.

    ``hi`` is numpy's sequential float64 cumsum; TwoSum (Knuth, TAOCP vol. 2 §4.2.2; Ogita, Rump &
    Oishi 2005, "Accurate sum and dot product", SIAM J. Sci. Comput. 26(6)) recovers the exact error
    e_k = (hi_{k-1} + x_k) - hi_k of every addition from the three neighbouring floats, and ``lo``
    is the cumsum of those errors — doubled working precision, vectorized. What it buys: after
    adding and later subtracting a term that dwarfs the rest, hi + lo still holds the rest.
    """
    v = np.asarray(x, dtype=np.float64)
    hi = np.cumsum(v)
    err = np.zeros_like(hi)  # the first addition, 0 + x_0, is exact
    if hi.size > 1:
        before, after, term = hi[:-1], hi[1:], v[1:]
        # TwoSum with two scratch arrays (``out=``): this runs on every chunk of a long history.
        virtual = after - before
        gap = after - virtual
        np.subtract(before, gap, out=gap)
        np.subtract(term, virtual, out=virtual)
        np.add(gap, virtual, out=err[1:])
    return hi, np.cumsum(err, out=err)


def link_events(forecaster: ArrayLike) -> tuple[IntArray, IntArray]:
    """For each event, the index of the same forecaster's previous (-1) and next (n) event.

    One stable argsort by forecaster keeps each forecaster's events in event order, so neighbours
    in the sorted order are consecutive events of the same forecaster. O(n log n).
    """
    f = np.asarray(forecaster).reshape(-1)
    n = f.shape[0]
    order = _stable_order(f)
    fs = f[order]
    same = fs[1:] == fs[:-1]
    earlier, later = order[:-1][same], order[1:][same]
    prev = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, n, dtype=np.int64)
    prev[later] = earlier
    nxt[earlier] = later
    return prev, nxt


def _stable_order(codes: NDArray[Any]) -> IntArray:
    """``argsort(codes, kind="stable")``, by 16-bit radix passes when the codes allow it.

    numpy's stable sort is a radix sort for 16-bit keys and a timsort otherwise; two stable
    passes (low half, then high half) sort 32-bit codes — database ids — about 4x faster.
    """
    if codes.size == 0 or codes.min() < 0 or codes.max() >= 1 << 32:
        return np.argsort(codes, kind="stable").astype(np.int64, copy=False)
    wide = codes.astype(np.uint32)
    order = np.argsort((wide & 0xFFFF).astype(np.uint16), kind="stable")
    high = (wide[order] >> 16).astype(np.uint16)
    if high.any():
        order = order[np.argsort(high, kind="stable")]
    return order.astype(np.int64, copy=False)


def forecast_events(
    times: ArrayLike,
    forecaster: ArrayLike,
    probs: ArrayLike,
    track_record_weight: ArrayLike | None = None,
) -> ForecastEvents:
    """Validate and link a forecast log (see the module docstring for the array conventions).

    Raises ValueError with the reason: lengths differ, non-integer forecaster codes, non-finite or
    unsorted times, probabilities outside [0, 1] (NaN = withdrawal is fine), or a track-record
    weight of a forecast that is not positive and finite.
    """
    t = np.asarray(times, dtype=np.float64).reshape(-1)
    f_raw = np.asarray(forecaster).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    n = t.shape[0]
    if f_raw.shape[0] != n or p.shape[0] != n:
        raise ValueError("times, forecaster and probs must have the same length")
    if f_raw.size and not np.issubdtype(f_raw.dtype, np.integer):
        raise ValueError("forecaster must hold integer codes")
    f = f_raw.astype(np.int64, copy=False)
    if not np.all(np.isfinite(t)):
        raise ValueError("times must be finite")
    if n > 1 and np.any(t[1:] < t[:-1]):
        raise ValueError("events must be sorted by time")
    is_fc = ~np.isnan(p)
    if not np.all((p[is_fc] >= 0.0) & (p[is_fc] <= 1.0)):
        raise ValueError("probabilities must lie in [0, 1] (NaN marks a withdrawal)")
    if track_record_weight is None:
        a = np.ones(n, dtype=np.float64)
    else:
        a = np.asarray(track_record_weight, dtype=np.float64).reshape(-1)
        if a.shape[0] != n:
            raise ValueError("track_record_weight must have one weight per event")
        a_fc = a[is_fc]
        if not np.all(np.isfinite(a_fc) & (a_fc > 0.0)):
            raise ValueError("track_record_weight of forecasts must be positive and finite")
    prev, nxt = link_events(f)
    removes = prev >= 0
    removes[removes] = is_fc[prev[removes]]
    count = np.cumsum(is_fc.astype(np.int64) - removes.astype(np.int64))
    return ForecastEvents(t, f, p, a, is_fc, prev, nxt, removes, count)


def _running_sums(
    ev: ForecastEvents, ell: FloatArray, pc: FloatArray, half_life: float | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """After every event: S = Σ w'x, W = Σ w', the bound A = Σ|changes of W|, and P = Σ p.

    S, W and A of an event are expressed in its chunk's scale 2^-K; only S / W and the comparison
    W < limit · A are used, and both are scale-free. P (for the mean) needs no scaling.
    """
    n = ev.times.shape[0]
    s_out, w_out, a_out, p_out = (np.empty(n, dtype=np.float64) for _ in range(4))
    if n == 0:
        return s_out, w_out, a_out, p_out
    # Accuracy relative to the largest factor: the common factor cancels, and every fresh term is
    # then ≥ 2^0 · a_i / max a in its chunk's scale, which is what ``_WEIGHT_FLOOR`` assumes.
    top = float(np.max(ev.track_record_weight[ev.is_forecast], initial=1.0))
    if half_life is None:
        q = np.zeros(n, dtype=np.int64)
        mant = ev.track_record_weight / top
    else:
        # w' = a · 2^e with e = (t - t_first)/h split into an integer q and a fraction: the
        # integer part becomes an exact ldexp scaling, so a term re-expressed in a later
        # chunk's scale is bit-for-bit the term added earlier, scaled by a power of two.
        e = (ev.times - ev.times[0]) / _half_life(half_life)
        q = np.floor(e).astype(np.int64)
        mant = ev.track_record_weight / top * np.exp2(e - q)
    old = np.where(ev.removes, ev.prev, 0)
    carry_s = carry_w = carry_p = (0.0, 0.0)
    carry_a = 0.0
    start = 0
    while start < n:
        origin = int(q[start])
        # Times are sorted, so q is non-decreasing and a chunk is a contiguous run of events;
        # the size cap keeps the scratch arrays small (and in cache) for long histories.
        stop = int(np.searchsorted(q, origin + int(REBASE_EXPONENT), side="right"))
        stop = min(stop, start + _CHUNK)
        sl = slice(start, stop)
        o = old[sl]
        fc = ev.is_forecast[sl]
        rm = ev.removes[sl]
        w_add = np.where(fc, np.ldexp(mant[sl], q[sl] - origin), 0.0)
        w_rem = np.where(rm, np.ldexp(mant[o], np.maximum(q[o] - origin, _LDEXP_FLOOR)), 0.0)
        w_hi, w_lo = _chunk_sums(w_rem, w_add, carry_w)
        s_hi, s_lo = _chunk_sums(w_rem * ell[o], w_add * ell[sl], carry_s)
        p_hi, p_lo = _chunk_sums(np.where(rm, pc[o], 0.0), pc[sl], carry_p)
        changes = np.abs(w_rem)
        changes += w_add
        bound = np.cumsum(changes)
        bound += carry_a
        w_out[sl] = w_hi[3::2] + w_lo[3::2]
        s_out[sl] = s_hi[3::2] + s_lo[3::2]
        p_out[sl] = p_hi[3::2] + p_lo[3::2]
        a_out[sl] = bound
        if stop < n:
            shift = origin - int(q[stop])  # ≤ 0: the next chunk's origin is not earlier
            carry_w = (math.ldexp(w_hi[-1], shift), math.ldexp(w_lo[-1], shift))
            carry_s = (math.ldexp(s_hi[-1], shift), math.ldexp(s_lo[-1], shift))
            carry_a = math.ldexp(float(bound[-1]), shift)
            carry_p = (float(p_hi[-1]), float(p_lo[-1]))
        start = stop
    return s_out, w_out, a_out, p_out


def _chunk_sums(
    removed: FloatArray, added: FloatArray, carry: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """Compensated prefix sums of [carry_hi, carry_lo, -removed_0, added_0, -removed_1, ...]."""
    entries = np.empty(2 * removed.shape[0] + 2, dtype=np.float64)
    entries[:2] = carry
    np.negative(removed, out=entries[2::2])
    entries[3::2] = added
    return compensated_cumsum(entries)


def pool_history(
    times: ArrayLike,
    forecaster: ArrayLike,
    probs: ArrayLike,
    *,
    track_record_weight: ArrayLike | None = None,
    extremize: float = 1.0,
    base_logit: float = 0.0,
    half_life: float | None = None,
    with_median: bool = True,
) -> CrowdHistory:
    """The crowd history of one question: pool, count, mean and median after every event.

    For the forecasts p_i active after event k (clipped to [ε, 1 - ε]), with w_i = a_i ·
    2^(-(t_k - t_i)/h) (recency off when ``half_life`` is None):

        probability_k = sigmoid(b + d · (Σ w_i x_i / Σ w_i - b)),   x_i = logit p_i
        mean_k = Σ p_i / n_k,   median_k = exact median of the p_i,   forecasters_k = n_k

    Arrays must be sorted by time (ties keep their given order); ``forecaster`` holds integer
    codes; a NaN probability withdraws the forecaster's current forecast;
    ``track_record_weight`` is the track-record weight a_i of each forecast event (default 1;
    ignored on withdrawals; docs/methods.md §6).
    Agrees with the reference re-pool at every event (``tests/reference/history.py``) to ~1e-12
    (tests demand 1e-9).
    O(n log n) time; the median costs O(n log U) for U distinct probabilities (skip it with
    ``with_median=False``). With recency the prefix sums run in chunks of at most 512 half-lives
    and 65,536 events: a 1-hour half-life over 3 years makes ~50 chunks, a 1-minute one ~3,000
    (each costs a few numpy calls).
    Raises ValueError on unsorted times, probabilities outside [0, 1], a non-positive
    track-record weight, mismatched lengths, or a half-life ≤ 0.
    """
    ev = forecast_events(times, forecaster, probs, track_record_weight)
    d = float(extremize)
    b = float(base_logit)
    if not (math.isfinite(d) and math.isfinite(b)):
        raise ValueError("extremize and base_logit must be finite")
    if half_life is not None:
        _half_life(half_life)  # reject a bad setting even when there is nothing to weigh
    n = ev.times.shape[0]
    active = ev.count > 0
    pc = np.where(ev.is_forecast, clip(np.nan_to_num(ev.probs)), 0.0)
    ell = np.where(ev.is_forecast, logit(pc), 0.0)
    s, w, bound, total_p = _running_sums(ev, ell, pc, half_life)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where nobody is active
        mean = np.where(active, total_p / ev.count, np.nan)
        x = s / w
        probability = np.where(active, sigmoid(b + d * (x - b)), np.nan)
    trusted = (w >= CANCELLATION_LIMIT * bound) & (w >= _WEIGHT_FLOOR)
    for k in np.flatnonzero(active & ~trusted).tolist():
        probability[k] = _pool_at(ev, k, d, b, half_life)

    median = _median(ev) if with_median else np.full(n, np.nan)
    return CrowdHistory(
        time=ev.times.copy(),
        probability=np.asarray(probability, dtype=np.float64),
        forecasters=ev.count,
        mean=np.asarray(mean, dtype=np.float64),
        median=median,
    )


def _pool_at(
    ev: ForecastEvents, k: int, extremize: float, base_logit: float, h: float | None
) -> float:
    """Re-pool event k from its active forecasts (the cancellation fallback, O(k))."""
    live = np.flatnonzero(ev.is_forecast[: k + 1] & (ev.next[: k + 1] > k))
    t = ev.times[live]
    # Weights relative to the newest active forecast: the common factor cancels, and the newest
    # weight is a_i · 1, so nothing that matters can underflow.
    weights = ev.track_record_weight[live] * recency_weights(t, float(t.max()), h)
    return log_pool(ev.probs[live], weights, extremize=extremize, base_logit=base_logit)


def median_history(forecaster: ArrayLike, probs: ArrayLike) -> FloatArray:
    """Exact median of the active clipped forecasts after every event (NaN when none is active).

    Offline parallel binary search ("overall binary search") over value codes: the distinct
    clipped probabilities are ranked 0..U-1, each event contributes a removal (-1 at the old
    code), an insertion (+1 at the new code) and one or two rank queries (ranks ⌊(n-1)/2⌋ and, for
    even n, n/2). All queries descend the implicit binary trie of codes together, one bit per
    level: within a trie node, ordered by time, a running count of the active values whose next
    bit is 0 tells each query which child holds its rank. Then nodes are split stably (time order
    is kept), nodes without queries are dropped, and so are updates after a node's last query;
    queries that share node, preceding updates and remaining rank are merged. ⌈log2 U⌉ levels of
    O(entries) numpy work; exact (values, not interpolations). Raises ValueError on mismatched
    lengths or probabilities outside [0, 1].
    """
    f = np.asarray(forecaster).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    times = np.zeros(p.shape[0], dtype=np.float64)  # event order is all the median needs
    return _median(forecast_events(times, f, p))


MAX_REPLAY = 50_000  # median_replay: longer logs take the vectorized pass


@dataclass(frozen=True)
class ActiveSet:
    """The forecasts active after some event of a log: forecaster ids (int64) and their clipped
    probabilities (float64), one entry per forecaster, in no particular order."""

    forecaster: IntArray
    probability: FloatArray

    @classmethod
    def empty(cls) -> ActiveSet:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    @classmethod
    def after(cls, forecaster: ArrayLike, probs: ArrayLike) -> ActiveSet:
        """The active set after the whole log (each forecaster's last event unless it was a
        withdrawal); one O(n) scatter."""
        f = np.asarray(forecaster, dtype=np.int64).reshape(-1)
        p = np.asarray(probs, dtype=np.float64).reshape(-1)
        last = _last_events(f)
        last = last[~np.isnan(p[last])]
        return cls(f[last], np.asarray(clip(p[last]), dtype=np.float64))


def median_replay(
    start: ActiveSet,
    forecaster: ArrayLike,
    probs: ArrayLike,
    positions: ArrayLike,
    *,
    max_replay: int = MAX_REPLAY,
) -> tuple[FloatArray, ActiveSet]:
    """Medians after the events at ``positions`` of a log that continues from ``start``, and the
    active set after the log's last event.

    ``forecaster``/``probs`` are the events after ``start`` (NaN = withdrawal), ``positions``
    int indices into them (any order). Up to ``max_replay`` events are replayed one by one on a
    sorted list (``sortedcontainers.SortedList``: O(log n) per event, the median read by index);
    a longer log takes the vectorized order-statistics pass of ``median_history`` on the start
    set followed by the log. Same values as ``median_history`` over the whole log, bit for bit
    (clipped values; the mean of the two middle ones as 0.5·(a + b); docs/methods.md §2.7).
    Returns float64 medians in the order of ``positions``, NaN where no forecast is active.
    Raises ValueError on mismatched lengths and IndexError for a position outside the log.
    """
    f = np.asarray(forecaster, dtype=np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if f.shape != p.shape:
        raise ValueError("forecaster and probs must have the same length.")
    if pos.size and (pos.min() < 0 or pos.max() >= p.shape[0]):
        raise IndexError("a position is outside the log.")
    if p.shape[0] > max_replay:
        all_f = np.concatenate([start.forecaster, f])
        all_p = np.concatenate([start.probability, p])
        medians = median_history(all_f, all_p)[pos + start.forecaster.size]
        return medians, ActiveSet.after(all_f, all_p)
    from sortedcontainers import SortedList

    current = dict(zip(start.forecaster.tolist(), start.probability.tolist(), strict=True))
    values = SortedList(current.values())
    out = np.full(p.shape[0], np.nan)
    wanted = np.zeros(p.shape[0], dtype=np.bool_)
    wanted[pos] = True
    for k, (who, new, want) in enumerate(
        zip(f.tolist(), clip(p).tolist(), wanted.tolist(), strict=True)
    ):
        old = current.pop(who, None)
        if old is not None:
            values.remove(old)
        if new == new:  # not NaN: a forecast, not a withdrawal
            current[who] = new
            values.add(new)
        n = len(values)
        if want and n:
            mid = n // 2
            out[k] = values[mid] if n % 2 else 0.5 * (values[mid - 1] + values[mid])
    end = ActiveSet(
        np.fromiter(current.keys(), dtype=np.int64, count=len(current)),
        np.fromiter(current.values(), dtype=np.float64, count=len(current)),
    )
    return out[pos], end


def median_after(
    forecaster: ArrayLike, probs: ArrayLike, positions: ArrayLike, *, max_replay: int = MAX_REPLAY
) -> FloatArray:
    """``median_history(forecaster, probs)[positions]``, computed from the first position on.

    The log before the first requested position matters only through its active set
    (``ActiveSet.after``, one O(n) scatter); ``median_replay`` does the rest up to the last
    requested position. Raises IndexError for a position outside the log.
    """
    f = np.asarray(forecaster, dtype=np.int64).reshape(-1)
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if f.shape != p.shape:
        raise ValueError("forecaster and probs must have the same length.")
    if not pos.size:
        return np.zeros(0, dtype=np.float64)
    if pos.min() < 0 or pos.max() >= p.shape[0]:
        raise IndexError("a position is outside the log.")
    first, stop = int(pos.min()), int(pos.max()) + 1
    start = ActiveSet.after(f[:first], p[:first])
    medians, _ = median_replay(
        start, f[first:stop], p[first:stop], pos - first, max_replay=max_replay
    )
    return medians


def _last_events(forecaster: IntArray) -> IntArray:
    """Index of each forecaster's last event in the log, in no particular order (O(n) scatter)."""
    if not forecaster.size:
        return np.zeros(0, dtype=np.int64)
    codes = forecaster
    low, high = int(forecaster.min()), int(forecaster.max())
    if low < 0 or high > 8 * forecaster.size + 1_000_000:
        _, codes = np.unique(forecaster, return_inverse=True)  # sparse ids: compact them
        high = int(codes.max())
    last = np.full(high + 1, -1, dtype=np.int64)
    np.maximum.at(last, codes, np.arange(forecaster.size, dtype=np.int64))
    return last[last >= 0]


def _median(ev: ForecastEvents) -> FloatArray:
    """``median_history`` on an already validated and linked log."""
    n = ev.probs.shape[0]
    if not np.any(ev.is_forecast):
        return np.full(n, np.nan)
    is_fc, removes, count = ev.is_forecast, ev.removes, ev.count
    values, codes = np.unique(clip(ev.probs[is_fc]), return_inverse=True)
    code = np.zeros(n, dtype=np.int32)
    code[is_fc] = codes.reshape(-1)
    # Four slots per event, in the order they happen: removal, insertion, lower and upper query.
    # ``key`` is the value code for updates and the answer built so far for queries; ``aux`` is
    # the update's sign or the query's remaining rank; ``qid`` is -1 for updates. int32 halves
    # the memory traffic of every pass (codes, ranks and ids stay below 2^31).
    slots = (n, 4)
    key = np.zeros(slots, dtype=np.int32)
    aux = np.zeros(slots, dtype=np.int32)
    qid = np.full(slots, -1, dtype=np.int32)
    keep = np.zeros(slots, dtype=np.bool_)
    key[:, 0] = code[np.where(removes, ev.prev, 0)]
    aux[:, 0] = -1
    keep[:, 0] = removes
    key[:, 1] = code
    aux[:, 1] = 1
    keep[:, 1] = is_fc
    aux[:, 2] = (count - 1) // 2
    qid[:, 2] = np.arange(n)
    keep[:, 2] = count > 0
    aux[:, 3] = count // 2
    qid[:, 3] = np.arange(n, 2 * n)
    keep[:, 3] = (count > 0) & (count % 2 == 0)
    flat = keep.reshape(-1)
    answer = _order_statistics(
        key.reshape(-1)[flat],
        aux.reshape(-1)[flat],
        qid.reshape(-1)[flat],
        n_values=values.shape[0],
        n_queries=2 * n,
    )
    del key, aux, qid, keep, flat
    lower = values[answer[:n]]
    upper = values[answer[n:]]
    odd = count % 2 == 1
    out = np.where(count > 0, np.where(odd, lower, 0.5 * (lower + upper)), np.nan)
    return np.asarray(out, dtype=np.float64)


I32 = NDArray[np.int32]


def _order_statistics(key: I32, aux: I32, qid: I32, *, n_values: int, n_queries: int) -> IntArray:
    """Value code answering each rank query (``median_history``); 0 for ids without a query."""
    answer = np.zeros(n_queries, dtype=np.int64)
    redirects: list[tuple[I32, I32]] = []
    for level in range(max(1, (n_values - 1).bit_length()) - 1, -1, -1):
        if key.size == 0:
            break
        is_q = qid >= 0
        starts, sizes = _nodes(key >> (level + 1))
        # Drop updates no later query in their node can see: nodes without queries, and updates
        # after a node's last query. Queries always stay.
        q_int = is_q.astype(np.int32)
        q_total = np.repeat(np.add.reduceat(q_int, starts, dtype=np.int32), sizes)
        needed = is_q | (_before_in_node(q_int, starts, sizes) < q_total)
        del q_int, q_total
        n_queries_left = int(np.count_nonzero(is_q))
        n_updates = int(np.count_nonzero(needed)) - n_queries_left
        if 2 * n_updates < n_queries_left - n_updates:
            # Few updates left: many queries share their node, the updates before them and their
            # remaining rank, so they will find the same value. Keep the first of each such group.
            needed &= _first_of_duplicates(is_q, starts, aux, qid, redirects)
        if not needed.all():
            key, aux, qid, is_q = key[needed], aux[needed], qid[needed], is_q[needed]
            starts, sizes = _nodes(key >> (level + 1))
        del needed
        # Running count, within the node, of active values whose bit at this level is 0; a query
        # whose remaining rank is not below it goes to the 1-child, with that count subtracted.
        zero = ((key >> level) & 1) == 0
        zeros_before = _before_in_node(np.where(~is_q & zero, aux, np.int32(0)), starts, sizes)
        go_one = is_q & (aux >= zeros_before)
        np.subtract(aux, zeros_before, out=aux, where=go_one)
        np.bitwise_or(key, np.int32(1 << level), out=key, where=go_one)
        del zeros_before
        # Stable partition of every node into its 0-child then its 1-child.
        np.copyto(zero, ~go_one, where=is_q)
        del go_one, is_q
        z = zero.astype(np.int32)
        z_before = _before_in_node(z, starts, sizes)
        first = np.repeat(starts.astype(np.int32), sizes)
        target = np.repeat(np.add.reduceat(z, starts, dtype=np.int32), sizes)
        target += np.arange(key.shape[0], dtype=np.int32)
        target -= z_before  # a 1: node start + zeros in node + ones before it in the node
        z_before += first  # a 0: node start + zeros before it in the node
        np.copyto(target, z_before, where=zero)
        del z, z_before, first, zero
        key = _scatter(key, target)
        aux = _scatter(aux, target)
        qid = _scatter(qid, target)
    is_q = qid >= 0
    answer[qid[is_q]] = key[is_q]
    # Later groupings may have merged an earlier group's representative: resolve newest first.
    for duplicate, representative in reversed(redirects):
        answer[duplicate] = answer[representative]
    return answer


def _before_in_node(x: I32, starts: IntArray, sizes: IntArray) -> I32:
    """Σ of x over the earlier entries of the same node (a segmented exclusive prefix sum)."""
    c = np.cumsum(x, dtype=np.int32)
    c -= x
    c -= np.repeat(c[starts], sizes)
    return c


def _first_of_duplicates(
    is_q: BoolArray,
    starts: IntArray,
    aux: I32,
    qid: I32,
    redirects: list[tuple[I32, I32]],
) -> BoolArray:
    """Mask keeping all updates and the first query of each (node, updates seen, rank) group.

    Two queries in the same node with no update of that node between them and the same remaining
    rank take identical paths down the trie. The dropped ones are recorded in ``redirects`` as
    (their ids, their representative's ids).
    """
    boundary = ~is_q
    boundary[starts] = True
    interval = np.cumsum(boundary)
    q_pos = np.flatnonzero(is_q)
    rank = aux[q_pos].astype(np.int64)
    group = interval[q_pos] * (int(rank.max()) + 1) + rank
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    rep_pos = q_pos[first][inverse.reshape(-1)]
    dup = rep_pos != q_pos
    keep = np.ones(is_q.shape[0], dtype=np.bool_)
    keep[q_pos[dup]] = False
    redirects.append((qid[q_pos[dup]], qid[rep_pos[dup]]))
    return keep


def _nodes(prefix: I32) -> tuple[IntArray, IntArray]:
    """Start index and length of each run of equal ``prefix`` values (the trie nodes)."""
    new = np.empty(prefix.shape[0], dtype=np.bool_)
    new[0] = True
    np.not_equal(prefix[1:], prefix[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return starts, np.diff(starts, append=prefix.shape[0])


def _scatter(values: I32, target: I32) -> I32:
    out = np.empty_like(values)
    out[target] = values
    return out
