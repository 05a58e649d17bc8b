"""Reference scoring (docs/methods.md §4): instant by instant over the exact breakpoints, plain
Python loops. ``scoring.rules.score_question`` and ``score_series`` are tested against these."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
from numpy.typing import ArrayLike

from scoring.rules import (
    QuestionScores,
    SeriesScores,
    _outcome,
    _window,
    baseline_score,
    brier,
    log_score,
)


def _held_at(
    times: list[float], who: list[int], probs: list[float], instant: float
) -> dict[int, float]:
    """Each forecaster's current forecast after every event at or before ``instant``."""
    state: dict[int, float] = {}
    for t, i, p in zip(times, who, probs, strict=True):
        if t > instant:
            break
        if math.isnan(p):
            state.pop(i, None)
        else:
            state[i] = p
    return state


def _breakpoints(times: list[float], start: float, end: float) -> list[float]:
    return sorted({start, end} | {min(max(t, start), end) for t in times})


def naive_score_question(
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
    """``score_question`` computed the slow, obvious way (the reference its tests compare with).

    Walks the exact breakpoints (event times within the window, open and the effective end); on
    each segment rebuilds who holds what by replaying the events, and scores every holder with the
    scalar rules, peer as ln p_o,i minus the plain mean over the others. O(events · segments).
    """
    yes = int(_outcome(outcome))
    end, length = _window(open_time, close_time, resolved_at)
    t = [float(x) for x in np.asarray(times, dtype=np.float64).reshape(-1)]
    who = [int(x) for x in np.asarray(forecaster).reshape(-1)]
    ps = [float(x) for x in np.asarray(probs, dtype=np.float64).reshape(-1)]
    n_f = int(n_forecasters)
    covered = [0.0] * n_f
    sums = {rule: [0.0] * n_f for rule in ("brier", "log", "baseline", "peer")}
    points = _breakpoints(t, float(open_time), end)
    for a, b in pairwise(points):
        state = _held_at(t, who, ps, a)
        logs = {i: log_score(p, yes) for i, p in state.items()}
        for i, p in state.items():
            others = [x for j, x in logs.items() if j != i]
            peer = 100.0 * (logs[i] - sum(others) / len(others)) if others else 0.0
            covered[i] += b - a
            sums["brier"][i] += (b - a) * brier(p, yes)
            sums["log"][i] += (b - a) * logs[i]
            sums["baseline"][i] += (b - a) * baseline_score(p, yes)
            sums["peer"][i] += (b - a) * peer
    at_end = _held_at(t, who, ps, end)
    logs = {i: log_score(p, yes) for i, p in at_end.items()}
    spot = {rule: [math.nan] * n_f for rule in ("brier", "log", "baseline", "peer")}
    for i, p in at_end.items():
        others = [x for j, x in logs.items() if j != i]
        spot["brier"][i] = brier(p, yes)
        spot["log"][i] = logs[i]
        spot["baseline"][i] = baseline_score(p, yes)
        spot["peer"][i] = 100.0 * (logs[i] - sum(others) / len(others)) if others else 0.0
    return QuestionScores(
        brier=np.array(
            [s / c if c else math.nan for s, c in zip(sums["brier"], covered, strict=True)]
        ),
        log=np.array([s / c if c else math.nan for s, c in zip(sums["log"], covered, strict=True)]),
        baseline=np.array(sums["baseline"]) / length,
        peer=np.array(sums["peer"]) / length,
        coverage=np.array(covered) / length,
        spot_brier=np.array(spot["brier"]),
        spot_log=np.array(spot["log"]),
        spot_baseline=np.array(spot["baseline"]),
        spot_peer=np.array(spot["peer"]),
    )


def naive_score_series(
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
    """``score_series`` the slow, obvious way: segment by segment over the exact breakpoints."""
    yes = int(_outcome(outcome))
    end, length = _window(open_time, close_time, resolved_at)
    ts = [float(x) for x in np.asarray(times, dtype=np.float64).reshape(-1)]
    ps = [float(x) for x in np.asarray(probs, dtype=np.float64).reshape(-1)]
    have_forecasts = forecast_times is not None
    ft = [float(x) for x in np.asarray(forecast_times if have_forecasts else [], dtype=float)]
    fw = [int(x) for x in np.asarray(forecaster if have_forecasts else [], dtype=np.int64)]
    fp = [float(x) for x in np.asarray(forecast_probs if have_forecasts else [], dtype=float)]

    def series_at(instant: float) -> float:
        value = math.nan
        for t, p in zip(ts, ps, strict=True):
            if t > instant:
                break
            value = p
        return value

    def peer_at(p: float, state: dict[int, float]) -> float:
        mean = sum(log_score(q, yes) for q in state.values()) / len(state)
        return 100.0 * (log_score(p, yes) - mean)

    covered = brier_sum = log_sum = baseline_sum = peer_sum = 0.0
    points = _breakpoints(ts + ft, float(open_time), end)
    for a, b in pairwise(points):
        p = series_at(a)
        if math.isnan(p):
            continue
        covered += b - a
        brier_sum += (b - a) * brier(p, yes)
        log_sum += (b - a) * log_score(p, yes)
        baseline_sum += (b - a) * baseline_score(p, yes)
        state = _held_at(ft, fw, fp, a)
        if state:
            peer_sum += (b - a) * peer_at(p, state)
    p_end = series_at(end)
    state_end = _held_at(ft, fw, fp, end)
    defined = not math.isnan(p_end)
    return SeriesScores(
        brier=brier_sum / covered if covered > 0 else math.nan,
        log=log_sum / covered if covered > 0 else math.nan,
        baseline=baseline_sum / length,
        peer=peer_sum / length if have_forecasts else math.nan,
        coverage=covered / length,
        spot_brier=brier(p_end, yes) if defined else math.nan,
        spot_log=log_score(p_end, yes) if defined else math.nan,
        spot_baseline=baseline_score(p_end, yes) if defined else math.nan,
        spot_peer=peer_at(p_end, state_end) if defined and state_end else math.nan,
    )


def naive_score_events(
    times: ArrayLike,
    forecaster: ArrayLike,
    log_po: ArrayLike,
    baseline: ArrayLike,
    extra: ArrayLike,
    *,
    peer_scale: float,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    n_forecasters: int,
) -> dict[str, np.ndarray]:
    """``scoring.rules.score_events`` the slow way, for any question type: per event the log
    score (NaN = withdrawal), baseline / 100 and one extra rule (Brier or CRPS); segment by
    segment over the exact breakpoints, peer as peer_scale · (own log - plain mean of the others).
    """
    end, length = _window(open_time, close_time, resolved_at)
    t = [float(x) for x in np.asarray(times, dtype=np.float64).reshape(-1)]
    who = [int(x) for x in np.asarray(forecaster).reshape(-1)]
    events = list(
        zip(
            np.asarray(log_po, dtype=float).tolist(),
            np.asarray(baseline, dtype=float).tolist(),
            np.asarray(extra, dtype=float).tolist(),
            strict=True,
        )
    )
    n_f = int(n_forecasters)

    def held_at(instant: float) -> dict[int, tuple[float, float, float]]:
        state: dict[int, tuple[float, float, float]] = {}
        for ti, i, e in zip(t, who, events, strict=True):
            if ti > instant:
                break
            if math.isnan(e[0]):
                state.pop(i, None)
            else:
                state[i] = e
        return state

    def peer(i: int, state: dict[int, tuple[float, float, float]]) -> float:
        others = [e[0] for j, e in state.items() if j != i]
        return peer_scale * (state[i][0] - sum(others) / len(others)) if others else 0.0

    covered = [0.0] * n_f
    sums = {rule: [0.0] * n_f for rule in ("log", "baseline", "extra", "peer")}
    for a, b in pairwise(_breakpoints(t, float(open_time), end)):
        state = held_at(a)
        for i, (lp, base, x) in state.items():
            covered[i] += b - a
            sums["log"][i] += (b - a) * lp
            sums["baseline"][i] += (b - a) * 100.0 * base
            sums["extra"][i] += (b - a) * x
            sums["peer"][i] += (b - a) * peer(i, state)
    at_end = held_at(end)
    spot = {rule: [math.nan] * n_f for rule in ("log", "baseline", "extra", "peer")}
    for i, (lp, base, x) in at_end.items():
        spot["log"][i], spot["baseline"][i], spot["extra"][i] = lp, 100.0 * base, x
        spot["peer"][i] = peer(i, at_end)

    def per_covered(rule: str) -> np.ndarray:
        pairs = zip(sums[rule], covered, strict=True)
        return np.array([s / c if c else math.nan for s, c in pairs])

    return {
        "log": per_covered("log"),
        "extra": per_covered("extra"),
        "baseline": np.array(sums["baseline"]) / length,
        "peer": np.array(sums["peer"]) / length,
        "coverage": np.array(covered) / length,
        **{f"spot_{rule}": np.array(values) for rule, values in spot.items()},
    }
