"""Proper scoring rules for binary questions, and their time averages over a question's window.

For a forecast p of a question that resolved with outcome o ∈ {0, 1}, and p_o the probability
the forecast gave the outcome that happened (p_o = p if o = 1, else 1 - p) — docs/methods.md §4:

    Brier     (p - o)²               in [0, 1], lower is better. Convention: the single-outcome
                                     form; some platforms report twice this (both outcomes).
    log       ln p_o                 ≤ 0, higher is better (natural log)
    baseline  100 · (log2 p_o + 1)   0 at p_o = 1/2; +84.799691 at 0.9, -232.192809 at 0.1
    peer      100 · (ln p_o,i - mean_{j≠i} ln p_o,j)   against the other forecasters at the same
              instant; the scores of one instant sum to 0; a lone forecaster scores 0.

No clipping here: forecasts are stored in [0.001, 0.999] and the crowd forecast comes from
``forecasts.pooling``, so the rules score the probability exactly as given (p_o = 0 → log = -inf,
as the rule says; the time averages refuse such input). Probabilities outside [0, 1] or NaN
raise ValueError.

Time averages (``score_question``, ``score_series``) integrate over the window [open_time,
close_time]. The effective end is min(close_time, resolved_at): after an early resolution the
remaining time counts as uncovered. A forecaster holds their current forecast from the moment it
is made (forecasts made before open_time count from open_time) until they replace or withdraw
it, and nothing before their first forecast or after a withdrawal. Coverage = covered time /
window length. Brier and log are averaged over the covered time (NaN with no coverage); baseline
and peer are averaged over the whole window with uncovered time counting 0. Spot scores score
the forecast held at the effective end (events at exactly that instant included).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forecasts.history import ForecastEvents, compensated_cumsum, forecast_events

__all__ = [
    "EventScores",
    "QuestionScores",
    "ScoringWindow",
    "SeriesScores",
    "StepScores",
    "baseline_score",
    "brier",
    "log_score",
    "peer_from_logs",
    "peer_scores",
    "score_events",
    "score_question",
    "score_series",
    "score_steps",
]

FloatArray = NDArray[np.float64]
ArrayInput = NDArray[Any] | list[float] | tuple[float, ...]

_LN2 = math.log(2.0)


def _probability_array(p: ArrayLike) -> FloatArray:
    a = np.asarray(p, dtype=np.float64)
    if not np.all((a >= 0.0) & (a <= 1.0)):  # also rejects NaN
        raise ValueError("probabilities must lie in [0, 1]")
    return a


def _outcome_array(o: ArrayLike) -> NDArray[np.bool_]:
    a = np.asarray(o)
    if not np.all((a == 0) | (a == 1)):
        raise ValueError("outcomes must be 0 or 1")
    return np.asarray(a == 1)


def _scalar_or_array(x: NDArray[Any]) -> float | FloatArray:
    if x.ndim == 0:
        return float(x)
    return np.asarray(x, dtype=np.float64)


def _log_po(p: FloatArray, yes: NDArray[np.bool_]) -> FloatArray:
    """ln p_o: ln p for o = 1 and log1p(-p) = ln(1 - p) for o = 0 (exact near p = 0)."""
    with np.errstate(divide="ignore"):
        return np.asarray(np.where(yes, np.log(p), np.log1p(-p)), dtype=np.float64)


@overload
def brier(p: float, o: int) -> float: ...
@overload
def brier(p: ArrayInput, o: ArrayLike) -> FloatArray: ...
def brier(p: float | ArrayInput, o: ArrayLike) -> float | FloatArray:
    """Brier score (p - o)² of forecast p for outcome o ∈ {0, 1}; in [0, 1], lower is better.

    Brier (1950), Monthly Weather Review 78(1). Single-outcome convention (see module docstring).
    Broadcasts over arrays; a scalar pair gives a float.
    """
    pa = _probability_array(p)
    yes = _outcome_array(o)
    return _scalar_or_array((pa - yes) ** 2)


@overload
def log_score(p: float, o: int) -> float: ...
@overload
def log_score(p: ArrayInput, o: ArrayLike) -> FloatArray: ...
def log_score(p: float | ArrayInput, o: ArrayLike) -> float | FloatArray:
    """Logarithmic score ln p_o (natural log), ≤ 0, higher is better; -inf when p_o = 0.

    Good (1952), JRSS B 14(1). ln(1 - p) is computed as log1p(-p). Broadcasts over arrays.
    """
    return _scalar_or_array(_log_po(_probability_array(p), _outcome_array(o)))


@overload
def baseline_score(p: float, o: int) -> float: ...
@overload
def baseline_score(p: ArrayInput, o: ArrayLike) -> FloatArray: ...
def baseline_score(p: float | ArrayInput, o: ArrayLike) -> float | FloatArray:
    """Baseline score 100 · (log2 p_o + 1): the log score rescaled so that 1/2 scores 0.

    Metaculus' "baseline score" (a coin flip scores 0, certainty of the truth 100):
    +84.799691 at p_o = 0.9 and -232.192809 at p_o = 0.1 (docs/methods.md §4.9). Broadcasts
    over arrays.
    """
    lp = _log_po(_probability_array(p), _outcome_array(o))
    return _scalar_or_array(100.0 * (lp / _LN2 + 1.0))


def peer_scores(probs: ArrayLike, o: int) -> FloatArray:
    """Peer scores of forecasters at one instant: 100 · (ln p_o,i - mean_{j≠i} ln p_o,j).

    With n forecasters and L = Σ_j ln p_o,j this is 100 · (n · ln p_o,i - L) / (n - 1), so the
    scores sum to 0; a lone forecaster scores 0 and no forecasters give an empty array.
    Metaculus' peer score (log-score differences; cf. Gneiting & Raftery 2007, JASA 102(477)).
    """
    p = _probability_array(probs).reshape(-1)
    yes = _outcome_array(o)
    n = p.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.float64)
    return peer_from_logs(_log_po(p, np.broadcast_to(yes, p.shape)))


def peer_from_logs(log_po: ArrayLike, scale: float = 100.0) -> FloatArray:
    """Peer scores at one instant from the log scores ln p_o,i of the n forecasters holding one.

        peer_i = scale · (n · ln p_o,i - L) / (n - 1),   L = Σ_j ln p_o,j

    i.e. scale · (ln p_o,i - mean_{j≠i} ln p_o,j): the scores sum to 0, a lone forecaster scores 0
    and no forecasters give an empty array. ``scale`` is 100 for binary and multiple-choice
    questions and 50 for continuous ones (Metaculus' continuous scores are halved) —
    docs/methods.md §4.4 and §4.12. ``log_po`` has shape (n,); ValueError if an entry is NaN or
    positive (a log-probability is ≤ 0).
    """
    lp = np.asarray(log_po, dtype=np.float64).reshape(-1)
    if np.any(np.isnan(lp) | (lp > 0.0)):
        raise ValueError("log scores must be ≤ 0 (the log of a probability)")
    n = lp.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.float64)
    return np.asarray(scale * (n * lp - lp.sum()) / (n - 1), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class QuestionScores:
    """Per-forecaster scores of one question (index = forecaster code).

    ``brier``, ``log``: averaged over covered time (NaN when coverage is 0). ``baseline``,
    ``peer``: averaged over the whole window, uncovered time counting 0. ``coverage``: covered
    fraction of [open_time, close_time]. ``spot_*``: the forecast held at the effective end (NaN
    for forecasters holding none); ``spot_peer`` compares the forecasters holding one then.
    """

    brier: FloatArray
    log: FloatArray
    baseline: FloatArray
    peer: FloatArray
    coverage: FloatArray
    spot_brier: FloatArray
    spot_log: FloatArray
    spot_baseline: FloatArray
    spot_peer: FloatArray

    @classmethod
    def of(cls, s: EventScores) -> QuestionScores:
        """The per-forecaster scores of ``score_events``' result with a ``brier`` extra rule."""
        return cls(
            brier=s.extra["brier"],
            log=s.log,
            baseline=s.baseline,
            peer=s.peer,
            coverage=s.coverage,
            spot_brier=s.spot_extra["brier"],
            spot_log=s.spot_log,
            spot_baseline=s.spot_baseline,
            spot_peer=s.spot_peer,
        )


@dataclass(frozen=True, slots=True)
class SeriesScores:
    """Scores of one piecewise-constant forecast series (the crowd, or its median or mean).

    Same conventions as ``QuestionScores``; ``peer`` and ``spot_peer`` compare the series with
    the mean log score of the forecasters active at each instant (NaN when no forecasts given).
    """

    brier: float
    log: float
    baseline: float
    peer: float
    coverage: float
    spot_brier: float
    spot_log: float
    spot_baseline: float
    spot_peer: float

    @classmethod
    def of(cls, s: StepScores) -> SeriesScores:
        """The series' scores of ``score_steps``' result with a ``brier`` extra rule."""
        return cls(
            brier=s.extra["brier"],
            log=s.log,
            baseline=s.baseline,
            peer=s.peer,
            coverage=s.coverage,
            spot_brier=s.spot_extra["brier"],
            spot_log=s.spot_log,
            spot_baseline=s.spot_baseline,
            spot_peer=s.spot_peer,
        )


@dataclass(frozen=True, slots=True)
class EventScores:
    """``score_events``' result, one entry per forecaster code (any question type).

    ``log`` and every ``extra`` rule (Brier, CRPS, ...) are averaged over covered time (NaN when
    coverage is 0); ``baseline`` and ``peer`` over the whole window, uncovered time counting 0;
    ``spot_*`` score the forecast held at the effective end (NaN for forecasters holding none).
    """

    log: FloatArray
    baseline: FloatArray
    peer: FloatArray
    coverage: FloatArray
    spot_log: FloatArray
    spot_baseline: FloatArray
    spot_peer: FloatArray
    extra: dict[str, FloatArray]
    spot_extra: dict[str, FloatArray]


@dataclass(frozen=True, slots=True)
class StepScores:
    """``score_steps``' result for one piecewise-constant series (any question type).

    Conventions of ``EventScores``; ``peer`` and ``spot_peer`` are NaN when no forecast events
    were given to compare with.
    """

    log: float
    baseline: float
    peer: float
    coverage: float
    spot_log: float
    spot_baseline: float
    spot_peer: float
    extra: dict[str, float]
    spot_extra: dict[str, float]


def _window(open_time: float, close_time: float, resolved_at: float | None) -> tuple[float, float]:
    """(effective end, window length); ValueError for an empty or non-finite window."""
    start, close = float(open_time), float(close_time)
    if not (math.isfinite(start) and math.isfinite(close) and close > start):
        raise ValueError("the scoring window needs finite open_time < close_time")
    end = close if resolved_at is None else min(close, float(resolved_at))
    if math.isnan(end):
        raise ValueError("resolved_at must be a time or None")
    # A resolution before open_time leaves nothing covered: the window stays, the coverage is 0.
    return max(end, start), close - start


def _outcome(outcome: int) -> bool:
    if outcome not in (0, 1):
        raise ValueError(f"outcome must be 0 or 1, got {outcome!r}")
    return bool(outcome)


@dataclass(frozen=True)
class ScoringWindow:
    """When and how a question is scored (docs/methods.md §4.5): the window opens at
    ``open_time`` and scoring stops at ``end`` = min(close_time, resolved_at); all times are
    epoch seconds. ``outcome`` is 1 (YES) or 0 (NO)."""

    open_time: float
    close_time: float
    resolved_at: float | None
    outcome: int

    @property
    def end(self) -> float:
        """The scoring cutoff: min(close_time, resolved_at), in epoch seconds."""
        if self.resolved_at is None:
            return self.close_time
        return min(self.close_time, self.resolved_at)

    def kwargs(self) -> dict[str, Any]:
        """The window as the keyword arguments of ``score_question`` and ``score_series``."""
        return {
            "open_time": self.open_time,
            "close_time": self.close_time,
            "resolved_at": self.resolved_at,
            "outcome": self.outcome,
        }


def score_question(
    times: ArrayLike,
    forecaster: ArrayLike,
    probs: ArrayLike,
    *,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    outcome: int,
    n_forecasters: int,
) -> QuestionScores:
    """Time-averaged and spot scores of every forecaster on one resolved question.

    Events as in ``forecasts.history`` (sorted ``times`` in seconds, integer ``forecaster`` codes
    in [0, n_forecasters), NaN probability = withdrawal). With window length T = close - open,
    effective end e = min(close, resolved_at) and event times clipped to [open, e], forecaster
    i's forecast made at event k holds over [t_k, t_next) where t_next is i's next event (or e):

        brier_i = ∫ (p_i(t) - o)² dt / C_i     log_i = ∫ ln p_o,i(t) dt / C_i     (C_i = covered)
        baseline_i = ∫ 100 (log2 p_o,i(t) + 1) dt / T
        peer_i = ∫ 100 (n(t) ln p_o,i(t) - L(t)) / (n(t) - 1) dt / T     (0 where n(t) < 2)

    with n(t) the active forecasters and L(t) = Σ_j ln p_o,j(t). The sweep is ``score_events``
    (docs/methods.md §4.5). O(n log n).
    """
    ev = forecast_events(times, forecaster, probs)
    yes = _outcome(outcome)
    p = np.where(ev.is_forecast, ev.probs, 0.5)  # placeholder on withdrawals, masked out
    lp = _log_po(p, np.full(p.shape, yes))
    s = score_events(
        ev,
        lp,
        lp / _LN2 + 1.0,
        extra={"brier": (p - yes) ** 2},
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        n_forecasters=n_forecasters,
    )
    return QuestionScores.of(s)


def score_events(
    ev: ForecastEvents,
    log_po: FloatArray,
    baseline: FloatArray,
    *,
    extra: Mapping[str, FloatArray] | None = None,
    peer_scale: float = 100.0,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    n_forecasters: int,
) -> EventScores:
    """Time-averaged and spot scores of every forecaster, for any question type.

    ``ev`` is the linked forecast log (``forecasts.history.forecast_events``); per event (shape
    (n,), entries of withdrawals ignored): ``log_po`` = ln p_o, the log-probability the forecast
    gave the outcome; ``baseline`` = the baseline score / 100 (binary log2 p_o + 1, multiple
    choice ln(p_o N)/ln N, continuous ln(p_o/b)/2); ``extra`` = further rules averaged over
    covered time like the log score (Brier, CRPS). With T, e, C_i, n(t), L(t) as in
    ``score_question`` (docs/methods.md §4.5, §4.14):

        log_i = ∫ ln p_o,i dt / C_i        x_i = ∫ x_i(t) dt / C_i   (each extra rule x)
        baseline_i = ∫ 100 · baseline_i(t) dt / T
        peer_i = ∫ s (n(t) ln p_o,i(t) - L(t)) / (n(t) - 1) dt / T      (s = ``peer_scale``)

    Vectorized sweep, no loop over instants: n and L after each event come from prefix sums of
    per-event changes; the peer integral splits into ln p_o,i · ∫ n/(n-1) dt - ∫ L/(n-1) dt, and
    both integrals are prefix sums over the segments between events, read at each holding
    interval's ends. O(n log n). ValueError for an empty window, codes outside [0,
    n_forecasters), arrays of another length, or a forecast with ln p_o = -inf.
    """
    end, length = _window(open_time, close_time, resolved_at)
    n_f = int(n_forecasters)
    f = ev.forecaster
    if f.size and (f.min() < 0 or f.max() >= n_f):
        raise ValueError("forecaster codes must lie in [0, n_forecasters)")
    n = ev.times.shape[0]
    rules = dict(extra or {})
    for values in (log_po, baseline, *rules.values()):
        if np.shape(values) != (n,):
            raise ValueError("per-event rule values need one entry per event")
    fc = ev.is_forecast
    lp = np.where(fc, log_po, 0.0)
    _require_finite_logs(lp)

    # Holding interval of each event, clipped to the window.
    t = np.clip(ev.times, float(open_time), end)
    t_after = np.append(t, end)  # t_after[n] = e: a forecast nobody replaces holds until e
    held = np.where(fc, t_after[ev.next] - t, 0.0)

    covered = np.bincount(f, weights=held, minlength=n_f)
    averages: dict[str, FloatArray] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, values in rules.items():
            weights = held * np.where(fc, values, 0.0)
            averages[name] = np.asarray(
                np.bincount(f, weights=weights, minlength=n_f) / covered, dtype=np.float64
            )
        log_avg = np.bincount(f, weights=held * lp, minlength=n_f) / covered
    base = np.where(fc, baseline, 0.0)
    baseline_avg = np.bincount(f, weights=held * 100.0 * base, minlength=n_f) / length

    # Segment k = [t_k, t_{k+1}) carries the state after event k.
    count, total_lp = _active_log_scores(ev, lp)
    seg = np.diff(t_after)
    pair = count >= 2
    with np.errstate(invalid="ignore", divide="ignore"):
        per_a = np.where(pair, seg * count / (count - 1), 0.0)
        per_b = np.where(pair, seg * total_lp / (count - 1), 0.0)
    a_hi, a_lo = _exclusive(per_a)
    b_hi, b_lo = _exclusive(per_b)
    k, nxt = np.arange(n), ev.next
    int_a = (a_hi[nxt] - a_hi[k]) + (a_lo[nxt] - a_lo[k])
    int_b = (b_hi[nxt] - b_hi[k]) + (b_lo[nxt] - b_lo[k])
    peer_part = np.where(fc, peer_scale * (lp * int_a - int_b), 0.0)
    peer_avg = np.bincount(f, weights=peer_part, minlength=n_f) / length

    # The forecasts held at instant e (events at exactly e included).
    m = int(np.searchsorted(ev.times, end, side="right"))
    holding = np.flatnonzero(fc[:m] & (ev.next[:m] >= m))
    who = ev.forecaster[holding]
    lp_held = np.asarray(log_po, dtype=np.float64)[holding]

    def spot(values: ArrayLike) -> FloatArray:
        out = np.full(n_f, np.nan)
        out[who] = values
        return out

    return EventScores(
        log=np.asarray(log_avg, dtype=np.float64),
        baseline=np.asarray(baseline_avg, dtype=np.float64),
        peer=np.asarray(peer_avg, dtype=np.float64),
        coverage=np.asarray(covered / length, dtype=np.float64),
        spot_log=spot(lp_held),
        spot_baseline=spot(100.0 * np.asarray(baseline)[holding]),
        spot_peer=spot(peer_from_logs(lp_held, peer_scale)),
        extra=averages,
        spot_extra={name: spot(np.asarray(v)[holding]) for name, v in rules.items()},
    )


def _require_finite_logs(lp: FloatArray) -> None:
    # The time integrals subtract prefix sums: one -inf would turn every later difference into
    # NaN. Stored forecasts are in [0.001, 0.999], so this only stops malformed input.
    if np.any(np.isneginf(lp)):
        raise ValueError(
            "a forecast gave the outcome probability 0 (log score -inf): "
            "time-averaged scores need probabilities in (0, 1)"
        )


def _exclusive(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Compensated prefix sums with a leading 0: entry k is Σ_{j<k} x_j as (hi, lo)."""
    hi, lo = compensated_cumsum(np.concatenate(([0.0], x)))
    return hi, lo


def _active_log_scores(ev: ForecastEvents, lp: FloatArray) -> tuple[NDArray[np.int64], FloatArray]:
    """After each event: number of active forecasters n and L = Σ ln p_o over them."""
    old = np.where(ev.removes, ev.prev, 0)
    entries = np.empty(2 * lp.shape[0], dtype=np.float64)
    entries[0::2] = -np.where(ev.removes, lp[old], 0.0)
    entries[1::2] = lp
    hi, lo = compensated_cumsum(entries)
    return ev.count, np.asarray(hi[1::2] + lo[1::2], dtype=np.float64)


def score_series(
    times: ArrayLike,
    probs: ArrayLike,
    *,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    outcome: int,
    forecast_times: ArrayLike | None = None,
    forecaster: ArrayLike | None = None,
    forecast_probs: ArrayLike | None = None,
) -> SeriesScores:
    """Time-averaged and spot scores of a piecewise-constant series, e.g. the crowd forecast.

    ``probs[k]`` holds from ``times[k]`` (sorted) until the next point, the last one until the
    effective end; NaN means no forecast (a crowd history point with no active forecaster).
    Brier, log and baseline as in ``score_question``. With the question's forecast events
    (``forecast_times``, ``forecaster``, ``forecast_probs``), the crowd peer score

        peer = ∫ 100 (ln p_o(t) - L(t) / n(t)) dt / T      (0 where n(t) = 0 or no series value)

    compares the series with the mean log score of the n(t) active forecasters; without them
    ``peer`` and ``spot_peer`` are NaN. The sweep is ``score_steps`` (docs/methods.md §4.7).
    """
    yes = _outcome(outcome)
    _window(open_time, close_time, resolved_at)
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    ps = np.asarray(probs, dtype=np.float64).reshape(-1)
    if ts.shape != ps.shape:
        raise ValueError("times and probs must have the same length")
    _check_step_times(ts)
    defined = ~np.isnan(ps)
    if not np.all((ps[defined] >= 0.0) & (ps[defined] <= 1.0)):
        raise ValueError("probabilities must lie in [0, 1] (NaN = no forecast)")
    given = [x is not None for x in (forecast_times, forecaster, forecast_probs)]
    if any(given) and not all(given):
        raise ValueError("give forecast_times, forecaster and forecast_probs together")
    ev = flp = None
    if forecast_times is not None and forecaster is not None and forecast_probs is not None:
        ev = forecast_events(forecast_times, forecaster, forecast_probs)
        fp = np.where(ev.is_forecast, ev.probs, 0.5)
        flp = _log_po(fp, np.full(fp.shape, yes))
    lp = _log_po(ps, np.full(ps.shape, yes))  # NaN where ps is NaN
    s = score_steps(
        ts,
        lp,
        lp / _LN2 + 1.0,
        extra={"brier": (ps - yes) ** 2},
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        events=ev,
        event_log_po=flp,
    )
    return SeriesScores.of(s)


def score_series_many(
    times: ArrayLike,
    series: Sequence[ArrayLike],
    *,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    outcome: int,
    forecast_times: ArrayLike | None = None,
    forecaster: ArrayLike | None = None,
    forecast_probs: ArrayLike | None = None,
) -> list[SeriesScores]:
    """``score_series`` of several series on the same ``times`` (the crowd's log pool, median
    and mean: one history), in order, each exactly as ``score_series`` scores it alone.

    Each series has the shape of ``times``. The breakpoints, the point holding over each
    segment and the active forecasters' log scores n(t), L(t) depend only on ``times``, the
    window and the forecast events: they are computed once (``_step_frame``) and every series
    is scored on them with the same operations as ``score_steps`` (docs/methods.md §4.7), so
    each result is bit-identical to ``score_series`` alone. Raises ValueError as
    ``score_series`` does (any bad series: nothing is returned)."""
    yes = _outcome(outcome)
    _window(open_time, close_time, resolved_at)
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    arrays = [np.asarray(probs, dtype=np.float64).reshape(-1) for probs in series]
    for ps in arrays:
        if ts.shape != ps.shape:
            raise ValueError("times and probs must have the same length")
    _check_step_times(ts)
    for ps in arrays:
        defined = ~np.isnan(ps)
        if not np.all((ps[defined] >= 0.0) & (ps[defined] <= 1.0)):
            raise ValueError("probabilities must lie in [0, 1] (NaN = no forecast)")
    given = [x is not None for x in (forecast_times, forecaster, forecast_probs)]
    if any(given) and not all(given):
        raise ValueError("give forecast_times, forecaster and forecast_probs together")
    ev = flp = None
    if forecast_times is not None and forecaster is not None and forecast_probs is not None:
        ev = forecast_events(forecast_times, forecaster, forecast_probs)
        fp = np.where(ev.is_forecast, ev.probs, 0.5)
        flp = _log_po(fp, np.full(fp.shape, yes))
    frame = _step_frame(
        ts,
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        events=ev,
        event_log_po=flp,
    )
    scored = []
    for ps in arrays:
        lp = _log_po(ps, np.full(ps.shape, yes))  # NaN where ps is NaN
        s = _score_on_frame(
            frame, lp, lp / _LN2 + 1.0, extra={"brier": (ps - yes) ** 2}, peer_scale=100.0
        )
        scored.append(SeriesScores.of(s))
    return scored


def _check_step_times(ts: FloatArray) -> None:
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) < 0):
        raise ValueError("times must be finite and sorted")


def score_steps(
    times: FloatArray,
    log_po: FloatArray,
    baseline: FloatArray,
    *,
    extra: Mapping[str, FloatArray] | None = None,
    peer_scale: float = 100.0,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    events: ForecastEvents | None = None,
    event_log_po: FloatArray | None = None,
) -> StepScores:
    """Time-averaged and spot scores of a piecewise-constant series, for any question type.

    Point k holds from ``times[k]`` (sorted, shape (m,)) until the next point, the last one
    until the effective end. Per point: ``log_po`` = ln p_o (NaN = no value: uncovered),
    ``baseline`` = the baseline score / 100 and ``extra`` rules (Brier, CRPS) as in
    ``score_events``. With ``events`` and their per-event ``event_log_po`` (withdrawals
    ignored), the series' peer score against the mean log score of the n(t) active forecasters

        peer = ∫ s (ln p_o(t) - L(t) / n(t)) dt / T     (0 where n(t) = 0 or no series value)

    with s = ``peer_scale`` (docs/methods.md §4.7); without events ``peer`` and ``spot_peer``
    are NaN. Breakpoints are the union of both event sets, each segment evaluated by binary
    search: O((n + m) log(n + m)). ValueError for an empty window, unsorted times, arrays of
    another length, or ln p_o = -inf.
    """
    frame = _step_frame(
        times,
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        events=events,
        event_log_po=event_log_po,
    )
    return _score_on_frame(frame, log_po, baseline, extra=extra, peer_scale=peer_scale)


@dataclass(frozen=True, slots=True)
class _StepFrame:
    """What ``score_steps`` derives from the times, the window and the forecast events alone,
    whatever the series' values: the segments between breakpoints, the point holding over
    each, the active forecasters' count and summed log score over each (None without
    events), and the point and event state at the effective end."""

    ts: FloatArray
    length: float
    seg: FloatArray
    at_seg: NDArray[np.intp]
    k_end: int
    n_seg: NDArray[np.int64] | None
    l_seg: FloatArray | None
    n_end: int
    l_end: float


def _step_frame(
    times: ArrayLike,
    *,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    events: ForecastEvents | None,
    event_log_po: FloatArray | None,
) -> _StepFrame:
    """``score_steps``' series-independent part; ValueError as ``score_steps``."""
    end, length = _window(open_time, close_time, resolved_at)
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    _check_step_times(ts)
    if (events is None) != (event_log_po is None):
        raise ValueError("give events and event_log_po together")
    start = float(open_time)
    cuts = [np.array([start, end]), np.clip(ts, start, end)]
    if events is not None:
        cuts.append(np.clip(events.times, start, end))
    points = np.unique(np.concatenate(cuts))
    seg_start, seg = points[:-1], np.diff(points)
    at_seg = _step_index(ts, seg_start)  # the point holding over each segment, -1 for none
    k_end = int(np.searchsorted(ts, end, side="right")) - 1
    n_seg = l_seg = None
    n_end, l_end = 0, 0.0
    if events is not None and event_log_po is not None:
        if np.shape(event_log_po) != events.times.shape:
            raise ValueError("event_log_po needs one entry per event")
        flp = np.where(events.is_forecast, event_log_po, 0.0)
        _require_finite_logs(flp)
        count, total = _active_log_scores(events, flp)
        # State after the last event at or before each segment start (none: nobody active).
        at = np.searchsorted(events.times, seg_start, side="right") - 1
        count, total = np.append(count, 0), np.append(total, 0.0)  # index -1 → the empty state
        n_seg, l_seg = count[at], total[at]
        k = int(np.searchsorted(events.times, end, side="right")) - 1
        n_end, l_end = int(count[k]), float(total[k])
    return _StepFrame(ts, length, seg, at_seg, k_end, n_seg, l_seg, n_end, l_end)


def _score_on_frame(
    frame: _StepFrame,
    log_po: FloatArray,
    baseline: FloatArray,
    *,
    extra: Mapping[str, FloatArray] | None,
    peer_scale: float,
) -> StepScores:
    """``score_steps``' per-series part on a ``_step_frame``; ValueError as ``score_steps``."""
    rules = dict(extra or {})
    for values in (log_po, baseline, *rules.values()):
        if np.shape(values) != frame.ts.shape:
            raise ValueError("per-point rule values need one entry per point")
    seg, at_seg, length, k_end = frame.seg, frame.at_seg, frame.length, frame.k_end
    lp_seg = _gather(log_po, at_seg)
    cov = ~np.isnan(lp_seg)
    lp = np.where(cov, lp_seg, 0.0)
    _require_finite_logs(lp)
    covered = float(np.sum(seg[cov]))
    averages = dict.fromkeys(rules, math.nan)
    log_avg = math.nan
    if covered > 0.0:
        for name, values in rules.items():
            x = np.where(cov, _gather(values, at_seg), 0.0)
            averages[name] = float(np.sum(seg * x)) / covered
        log_avg = float(np.sum(seg * lp)) / covered
    base = np.where(cov, 100.0 * _gather(baseline, at_seg), 0.0)
    baseline_avg = float(np.sum(seg * base)) / length

    lp_end = float(log_po[k_end]) if k_end >= 0 else math.nan
    lp_end = math.nan if math.isnan(lp_end) else lp_end  # one NaN for "no value", whatever its sign
    spot_extra = dict.fromkeys(rules, math.nan)
    spot_baseline = math.nan
    if not math.isnan(lp_end):
        spot_extra = {name: float(values[k_end]) for name, values in rules.items()}
        spot_baseline = 100.0 * float(baseline[k_end])

    peer_avg = spot_peer = math.nan
    if frame.n_seg is not None and frame.l_seg is not None:
        n_seg, l_seg = frame.n_seg, frame.l_seg
        live = cov & (n_seg > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            peer_seg = np.where(live, peer_scale * (lp - l_seg / n_seg), 0.0)
        peer_avg = float(np.sum(seg * peer_seg)) / length
        if frame.n_end > 0 and not math.isnan(lp_end):
            spot_peer = peer_scale * (lp_end - frame.l_end / frame.n_end)
    return StepScores(
        log=log_avg,
        baseline=baseline_avg,
        peer=peer_avg,
        coverage=covered / length,
        spot_log=lp_end,
        spot_baseline=spot_baseline,
        spot_peer=spot_peer,
        extra=averages,
        spot_extra=spot_extra,
    )


def _step_index(times: FloatArray, at: FloatArray) -> NDArray[np.intp]:
    """Index of the step function's point holding at each instant of ``at``; -1 before it."""
    return np.asarray(np.searchsorted(times, at, side="right") - 1)


def _gather(values: ArrayLike, index: NDArray[np.intp]) -> FloatArray:
    """values[index], NaN where index is -1 (no point holds yet)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return np.full(index.shape, np.nan)
    return np.asarray(np.where(index >= 0, v[np.maximum(index, 0)], np.nan), dtype=np.float64)
