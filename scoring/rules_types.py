"""Proper scoring rules for multiple-choice and continuous questions, and their time averages.

Multiple choice (docs/methods.md §4.10): a forecast is p ∈ [0, 1]^k summing to 1, the outcome
is the 0-based index o of the option that happened (SPEC's "option 1" is index 0):

    Brier     Σ_k (p_k - o_k)²                  in [0, 2], lower is better. Convention: the sum
                                                over all options (twice the binary Brier for k = 2)
    log       ln p_o                            ≤ 0, higher is better (natural log)
    baseline  100 · ln(p_o · N) / ln N          0 at p_o = 1/N, 100 at p_o = 1 (N = k options)
    peer      100 · (ln p_o,i - mean_{j≠i} ln p_o,j)

Continuous — numeric, date, discrete (§4.11–§4.13): a forecast is a CDF at 201 evenly spaced
internal locations x_j = j/200 of the range, cdf[0] = P(X < min), cdf[200] = P(X ≤ max); its PMF
has 202 buckets [cdf[0], cdf[1] - cdf[0], ..., cdf[200] - cdf[199], 1 - cdf[200]]: bucket 0 is
below the range, 201 above it. With p_b the forecast's probability of the outcome's bucket b:

    log       ln p_b
    baseline  100 · ln(p_b / β) / 2,   β = (1 - 0.05 · open bounds) / 200 in range, 0.05 out
    peer      100 · (ln p_b,i - mean_{j≠i} ln p_b,j) / 2
    CRPS      ∫_min^max (F(y) - 1{y ≥ y_obs})² dy   in value units, lower is better (§4.13)

Metaculus' continuous baseline and peer scores, halved. No clipping: the rules score the
forecast as given; a probability of 0 for what happened scores -inf, which the time averages
refuse (as for binary, ``scoring.rules``).

Time averages reuse the binary sweeps (``scoring.rules.score_events`` / ``score_steps``): the
same window, coverage, spot and crowd conventions (docs/methods.md §4.5–§4.7), driven by each
forecast's ln p_o.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forecasts.distributions import LOCATIONS, Scale
from forecasts.history import forecast_events
from scoring.rules import (
    QuestionScores,
    SeriesScores,
    peer_from_logs,
    score_events,
    score_steps,
)

__all__ = [
    "CDF_POINTS",
    "INBOUND_BUCKETS",
    "PMF_BUCKETS",
    "SUM_TOLERANCE",
    "ContinuousQuestionScores",
    "ContinuousSeriesScores",
    "as_cdf_rows",
    "as_option_index",
    "as_option_probs",
    "bucket_probability",
    "continuous_base_probability",
    "continuous_baseline",
    "continuous_crps",
    "continuous_log",
    "continuous_peer_scores",
    "crps_cdf",
    "grid_values",
    "mc_baseline",
    "mc_brier",
    "mc_log",
    "mc_peer_scores",
    "pmf_from_cdf",
    "score_question_continuous",
    "score_question_mc",
    "score_series_continuous",
    "score_series_mc",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

CDF_POINTS = 201
"""Points of a continuous forecast's CDF: internal locations 0, 1/200, ..., 1."""
INBOUND_BUCKETS = CDF_POINTS - 1
"""PMF buckets inside the range (200); buckets 0 and 201 lie below and above it."""
PMF_BUCKETS = CDF_POINTS + 1
"""Buckets of a continuous forecast's PMF (202)."""

SUM_TOLERANCE = 1e-6
"""Option probabilities must sum to 1 within this (SPEC: ±1e-6)."""
OUT_OF_RANGE_BASE = 0.05
"""Baseline probability β of an out-of-range bucket (and the mass an open bound takes from the
in-range buckets' β)."""
_CONTINUOUS_PEER_SCALE = 50.0  # 100 · (...) / 2: Metaculus' continuous scores are halved
_CHUNK_ROWS = 512  # CDF rows per block of the CRPS and validation passes: scratch stays in cache


# --- multiple choice ------------------------------------------------------------------------


def as_option_probs(probs: ArrayLike, *, nan_rows: bool = False) -> FloatArray:
    """Option probabilities as a validated float64 array of shape (n, k); a 1-d input is one row.

    ValueError unless k ≥ 2, every value lies in [0, 1] and every row sums to 1 (±1e-6); with
    ``nan_rows`` a row of NaN (a withdrawal, or a series point without a value) is allowed.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p.reshape(1, -1)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError("option probabilities need shape (k,) or (n, k) with k ≥ 2 options")
    missing = np.isnan(p)
    withdrawn = missing.all(axis=1)
    if np.any(missing.any(axis=1) & ~withdrawn) or (not nan_rows and withdrawn.any()):
        raise ValueError("option probabilities must not be NaN (a withdrawal is a whole NaN row)")
    q = p[~withdrawn]
    if not np.all((q >= 0.0) & (q <= 1.0)):
        raise ValueError("option probabilities must lie in [0, 1]")
    if np.any(np.abs(q.sum(axis=1) - 1.0) > SUM_TOLERANCE):
        raise ValueError(f"option probabilities must sum to 1 (±{SUM_TOLERANCE:g})")
    return p


def as_option_index(outcome: ArrayLike, n_rows: int, k: int) -> IntArray:
    """The 0-based outcome option index for each of ``n_rows`` forecasts, shape (n_rows,).

    ``outcome``: one integer for all rows or one per row. ValueError for non-integers, another
    length, or an index outside [0, k).
    """
    o = np.asarray(outcome)
    if o.size and not np.issubdtype(o.dtype, np.integer):
        raise ValueError("the outcome must be an integer option index (0-based)")
    o = np.broadcast_to(o.astype(np.int64), (n_rows,)) if o.ndim == 0 else o.astype(np.int64)
    if o.shape != (n_rows,):
        raise ValueError("give one outcome, or one per forecast")
    if np.any((o < 0) | (o >= k)):
        raise ValueError(f"the outcome must be an option index in [0, {k})")
    return np.asarray(o)


def _mc_log_po(p: FloatArray, o: IntArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log(p[np.arange(p.shape[0]), o]), dtype=np.float64)


def _mc_brier(p: FloatArray, o: IntArray) -> FloatArray:
    onehot = np.zeros_like(p)
    onehot[np.arange(p.shape[0]), o] = 1.0
    return np.asarray(np.sum((p - onehot) ** 2, axis=1), dtype=np.float64)


def _mc_baseline_unit(lp: FloatArray, k: int) -> FloatArray:
    ln_n = math.log(k)
    return np.asarray((lp + ln_n) / ln_n, dtype=np.float64)


def _one_or_many(x: FloatArray, single: bool) -> float | FloatArray:
    return float(x[0]) if single else x


@overload
def mc_brier(probs: list[float] | tuple[float, ...], outcome: int) -> float: ...
@overload
def mc_brier(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray: ...
def mc_brier(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray:
    """Multiple-choice Brier score Σ_k (p_k - o_k)², in [0, 2], lower is better.

    ``probs``: shape (k,) for one forecast (returns a float) or (n, k) (returns shape (n,));
    ``outcome``: the 0-based index of the option that happened, one for all rows or shape (n,).
    Convention: summed over all k options (Brier 1950's original form), so a two-option question
    scores twice the single-outcome binary Brier of ``scoring.rules.brier`` (docs/methods.md
    §4.10). ValueError for probabilities outside [0, 1], NaN, rows not summing to 1 (±1e-6),
    fewer than 2 options or an outcome outside [0, k).
    """
    p = as_option_probs(probs)
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    return _one_or_many(_mc_brier(p, o), np.ndim(probs) == 1)


@overload
def mc_log(probs: list[float] | tuple[float, ...], outcome: int) -> float: ...
@overload
def mc_log(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray: ...
def mc_log(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray:
    """Multiple-choice log score ln p_o (natural log), ≤ 0, higher is better; -inf at p_o = 0.

    Shapes and errors as ``mc_brier``; docs/methods.md §4.10 (Good 1952).
    """
    p = as_option_probs(probs)
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    return _one_or_many(_mc_log_po(p, o), np.ndim(probs) == 1)


@overload
def mc_baseline(probs: list[float] | tuple[float, ...], outcome: int) -> float: ...
@overload
def mc_baseline(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray: ...
def mc_baseline(probs: ArrayLike, outcome: ArrayLike) -> float | FloatArray:
    """Multiple-choice baseline score 100 · ln(p_o · N) / ln N (N = number of options), points.

    0 for the uniform forecast p_o = 1/N, 100 for certainty of the truth; for N = 2 it equals
    the binary baseline 100 · (log2 p_o + 1). p = [0.6, 0.3, 0.1] with the first option
    happening scores 53.502648. Shapes and errors as ``mc_brier``; docs/methods.md §4.10
    (Metaculus scoring documentation, "baseline score").
    """
    p = as_option_probs(probs)
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    return _one_or_many(
        100.0 * _mc_baseline_unit(_mc_log_po(p, o), p.shape[1]), np.ndim(probs) == 1
    )


def mc_peer_scores(probs: ArrayLike, outcome: int) -> FloatArray:
    """Peer scores of the forecasters holding a forecast at one instant, shape (n,):
    100 · (ln p_o,i - mean_{j≠i} ln p_o,j), summing to 0; a lone forecaster scores 0.

    ``probs`` has shape (n, k); ``outcome`` is the 0-based option index. docs/methods.md §4.10
    (as binary, §4.4). Errors as ``mc_brier``.
    """
    p = as_option_probs(probs)
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    return peer_from_logs(_mc_log_po(p, o))


def score_question_mc(
    times: ArrayLike,
    forecaster: ArrayLike,
    probs: ArrayLike,
    *,
    outcome: int,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    n_forecasters: int,
) -> QuestionScores:
    """Time-averaged and spot scores of every forecaster on one resolved multiple-choice question.

    Events as for binary (``scoring.rules.score_question``): sorted ``times`` in seconds, integer
    ``forecaster`` codes in [0, n_forecasters); ``probs`` has shape (n, k), a row of NaN marking a
    withdrawal. ``outcome`` is the 0-based index of the option that happened. Returns
    ``QuestionScores`` (index = forecaster code) with ``brier`` the multiple-choice Brier in
    [0, 2]; log, baseline (100 · ln(p_o N)/ln N) and peer as in ``mc_*``, time-averaged by the
    binary rules: Brier and log over covered time, baseline and peer over the window
    (docs/methods.md §4.5, §4.14). ValueError as ``mc_brier`` and ``score_question``.
    """
    p = as_option_probs(probs, nan_rows=True)
    withdrawn = np.isnan(p[:, 0])
    ev = forecast_events(times, forecaster, np.where(withdrawn, np.nan, 0.5))
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    lp = _mc_log_po(p, o)
    s = score_events(
        ev,
        lp,
        _mc_baseline_unit(lp, p.shape[1]),
        extra={"brier": _mc_brier(p, o)},
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        n_forecasters=n_forecasters,
    )
    return QuestionScores.of(s)


def score_series_mc(
    times: ArrayLike,
    probs: ArrayLike,
    *,
    outcome: int,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    forecast_times: ArrayLike | None = None,
    forecaster: ArrayLike | None = None,
    forecast_probs: ArrayLike | None = None,
) -> SeriesScores:
    """Scores of a piecewise-constant multiple-choice series, e.g. the crowd's pooled options.

    ``probs`` has shape (m, k): row j holds from ``times[j]`` (sorted) until the next point; a
    row of NaN means no value (uncovered). With the question's forecast events (``forecast_times``,
    ``forecaster``, ``forecast_probs`` of shape (n, k), NaN rows = withdrawals) the peer score
    compares the series with the mean log score of the active forecasters, 100 · (ln p*_o -
    L/n) (docs/methods.md §4.7); without them ``peer`` and ``spot_peer`` are NaN. Brier in
    [0, 2] as ``mc_brier``. ValueError as ``mc_brier`` and ``scoring.rules.score_series``.
    """
    p = as_option_probs(probs, nan_rows=True)
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    if ts.shape[0] != p.shape[0]:
        raise ValueError("times and probs must have the same length")
    o = as_option_index(outcome, p.shape[0], p.shape[1])
    lp = _mc_log_po(p, o)
    ev, flp = None, None
    given = [x is not None for x in (forecast_times, forecaster, forecast_probs)]
    if any(given) and not all(given):
        raise ValueError("give forecast_times, forecaster and forecast_probs together")
    if forecast_times is not None and forecaster is not None and forecast_probs is not None:
        fp = as_option_probs(forecast_probs, nan_rows=True)
        if fp.shape[1] != p.shape[1]:
            raise ValueError("the forecasts and the series must have the same options")
        ev = forecast_events(forecast_times, forecaster, np.where(np.isnan(fp[:, 0]), np.nan, 0.5))
        flp = _mc_log_po(fp, as_option_index(outcome, fp.shape[0], fp.shape[1]))
    s = score_steps(
        ts,
        lp,
        _mc_baseline_unit(lp, p.shape[1]),
        extra={"brier": _mc_brier(p, o)},
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        events=ev,
        event_log_po=flp,
    )
    return SeriesScores.of(s)


# --- continuous: the scale, the CDF and its buckets -------------------------------------------


def grid_values(scale: Scale) -> FloatArray:
    """The values of the 201 CDF grid points of ``scale`` (``forecasts.distributions.Scale``,
    the one scale of the project), shape (201,), increasing, in value units (Unix seconds for
    dates); the ends are exactly range_min and range_max (the log scale's rounding aside).

    v_i = scale.value(i/200) (docs/methods.md §12.1). ValueError (``DistributionError``) for an
    invalid scale: non-finite or empty range, a zero point inside it.
    """
    scale.validate()
    v = np.array(scale.value(LOCATIONS), dtype=np.float64)
    v[0], v[-1] = scale.range_min, scale.range_max
    return v


def continuous_base_probability(
    bucket: int,
    *,
    open_lower: bool,
    open_upper: bool,
    inbound_buckets: int = INBOUND_BUCKETS,
) -> float:
    """Baseline probability β of a PMF bucket: (1 - 0.05 · open bounds) / B inside the range
    (B = 200 inbound buckets), 0.05 for the bucket below (0) or above (B + 1) an open bound —
    the uniform forecast over the range with 5% beyond each open bound (docs/methods.md §4.12).

    ValueError for a bucket outside [0, B + 1] or beyond a closed bound (a question with a
    closed bound cannot resolve beyond it).
    """
    b = int(inbound_buckets)
    k = int(bucket)
    if not 0 <= k <= b + 1:
        raise ValueError(f"a bucket index lies in [0, {b + 1}], got {bucket!r}")
    if (k == 0 and not open_lower) or (k == b + 1 and not open_upper):
        raise ValueError("the outcome lies beyond a closed bound")
    if k in (0, b + 1):
        return OUT_OF_RANGE_BASE
    return (1.0 - OUT_OF_RANGE_BASE * (int(open_lower) + int(open_upper))) / b


def as_cdf_rows(cdf: ArrayLike, *, nan_rows: bool = True) -> FloatArray:
    """CDFs as a validated float64 array of shape (n, m); a 1-d input is one row.

    ValueError unless m ≥ 2, values lie in [0, 1] and each row is non-decreasing; an all-NaN row
    (a withdrawal, or a series point without a value) is allowed when ``nan_rows``. Checked in
    blocks of rows, so a 100,000 × 201 input needs no large scratch arrays.
    """
    c = np.asarray(cdf, dtype=np.float64)
    if c.ndim == 1:
        c = c.reshape(1, -1)
    if c.ndim != 2 or c.shape[1] < 2:
        raise ValueError("a CDF needs shape (m,) or (n, m) with m ≥ 2 points")
    for start in range(0, c.shape[0], _CHUNK_ROWS):
        block = c[start : start + _CHUNK_ROWS]
        missing = np.isnan(block)
        empty = missing.all(axis=1)
        if np.any(missing.any(axis=1) & ~empty) or (not nan_rows and empty.any()):
            raise ValueError("a CDF must not contain NaN")
        rows = block[~empty]
        if not np.all((rows >= 0.0) & (rows <= 1.0)):
            raise ValueError("CDF values must lie in [0, 1]")
        if np.any(np.diff(rows, axis=1) < 0.0):
            raise ValueError("a CDF must be non-decreasing")
    return c


def pmf_from_cdf(cdf: ArrayLike) -> FloatArray:
    """The PMF [cdf[0], cdf[1] - cdf[0], ..., cdf[m-1] - cdf[m-2], 1 - cdf[m-1]] of each CDF.

    Shape (..., m) → (..., m + 1): 201 points give 202 buckets, bucket 0 below the range and
    201 above it (docs/methods.md §4.11). ValueError for NaN, values outside [0, 1] or a
    decreasing CDF.
    """
    c = np.asarray(cdf, dtype=np.float64)
    as_cdf_rows(c.reshape(-1, c.shape[-1]) if c.ndim else c, nan_rows=False)
    pmf = np.diff(c, axis=-1, prepend=0.0, append=1.0)
    return np.asarray(pmf, dtype=np.float64)


def _bucket_index(bucket: int, m: int) -> int:
    k = int(bucket)
    if k != bucket or not 0 <= k <= m:
        raise ValueError(f"a bucket index lies in [0, {m}], got {bucket!r}")
    return k


def bucket_probability(cdf: ArrayLike, bucket: int) -> FloatArray:
    """p_b = pmf[b]: each CDF's probability of PMF bucket ``bucket``, shape (n,) for (n, m) CDFs
    (a 1-d CDF gives shape (1,)). An all-NaN row (a withdrawal) gives NaN. Reads two columns,
    O(n) after validation. ValueError as ``pmf_from_cdf`` or for a bucket outside [0, m]."""
    return _bucket_p(as_cdf_rows(cdf), bucket)


def _bucket_p(c: FloatArray, bucket: int) -> FloatArray:
    """``bucket_probability`` of validated (n, m) rows."""
    m = c.shape[1]
    k = _bucket_index(bucket, m)
    upper = c[:, k] if k < m else np.ones(c.shape[0])
    lower = c[:, k - 1] if k > 0 else np.zeros(c.shape[0])
    return np.asarray(np.where(np.isnan(c[:, 0]), np.nan, upper - lower), dtype=np.float64)


def _log(p: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(p), dtype=np.float64)


def continuous_log(cdf: ArrayLike, bucket: int) -> FloatArray:
    """Continuous log score ln p_b (natural log) of each CDF for the outcome bucket b, shape (n,).

    -inf when p_b = 0 (e.g. the bucket beyond a closed bound); NaN for an all-NaN row.
    docs/methods.md §4.12. ValueError as ``bucket_probability``.
    """
    return _log(bucket_probability(cdf, bucket))


def continuous_baseline(
    cdf: ArrayLike, bucket: int, *, open_lower: bool, open_upper: bool
) -> FloatArray:
    """Continuous baseline score 100 · ln(p_b / β) / 2 (points), shape (n,).

    β from ``continuous_base_probability``; 0 for the uniform forecast. With 200 buckets and
    closed bounds, p_b = 0.2 scores +184.4440 and the floor 0.01/200 scores -230.2585
    (docs/methods.md §4.12). ValueError as ``bucket_probability`` and
    ``continuous_base_probability``.
    """
    c = as_cdf_rows(cdf)
    beta = continuous_base_probability(
        bucket, open_lower=open_lower, open_upper=open_upper, inbound_buckets=c.shape[1] - 1
    )
    return np.asarray(100.0 * _continuous_baseline_unit(_log(_bucket_p(c, bucket)), beta))


def _continuous_baseline_unit(lp: FloatArray, beta: float) -> FloatArray:
    return np.asarray((lp - math.log(beta)) / 2.0, dtype=np.float64)


def continuous_peer_scores(cdf: ArrayLike, bucket: int) -> FloatArray:
    """Peer scores at one instant, 100 · (ln p_b,i - mean_{j≠i} ln p_b,j) / 2, shape (n,), for
    the (n, m) CDFs of the forecasters holding one: sum 0, a lone forecaster scores 0
    (docs/methods.md §4.12). ValueError as ``bucket_probability`` or for an all-NaN row."""
    lp = _log(_bucket_p(as_cdf_rows(cdf, nan_rows=False), bucket))
    return peer_from_logs(lp, _CONTINUOUS_PEER_SCALE)


# --- CRPS -----------------------------------------------------------------------------------


def crps_cdf(cdf: ArrayLike, grid: ArrayLike, observation: ArrayLike) -> FloatArray:
    """CRPS of piecewise-linear CDFs on a value grid, censored to the grid's range, shape (n,).

        CRPS = ∫_{g_0}^{g_{m-1}} (F(y) - 1{y ≥ y_obs})² dy

    F is linear between the points (g_j, cdf_j); mass below g_0 (cdf_0) and above g_{m-1}
    (1 - cdf_{m-1}) sits on the bounds, and the observation is clipped to [g_0, g_{m-1}]: this
    is the CRPS of the censored forecast at the censored observation, a proper score for the
    quantity clipped to the range — the threshold-weighted CRPS with weight 1 on the range
    (Gneiting & Ranjan 2011). Exact: each segment's integral of a squared linear function is
    h (a² + ab + b²)/3, split at the observation. ``cdf``: (m,) or (n, m), all-NaN rows give NaN;
    ``grid``: (m,) non-decreasing finite values (a repeated value is a jump, so step CDFs such as
    an ensemble's are exact too); ``observation``: a scalar or shape (n,), ±inf allowed (clipped).
    Units: those of the grid. docs/methods.md §4.13. ValueError for invalid CDFs or grids, NaN
    observations or mismatched shapes.
    """
    return _crps_rows(as_cdf_rows(cdf), grid, observation)


def _crps_rows(c: FloatArray, grid: ArrayLike, observation: ArrayLike) -> FloatArray:
    """``crps_cdf`` of validated (n, m) CDF rows."""
    g = np.asarray(grid, dtype=np.float64).reshape(-1)
    n, m = c.shape
    if g.shape != (m,):
        raise ValueError("the grid needs one value per CDF point")
    if not np.all(np.isfinite(g)) or np.any(np.diff(g) < 0.0):
        raise ValueError("the grid must be finite and non-decreasing")
    obs = np.asarray(observation, dtype=np.float64)
    if np.any(np.isnan(obs)):
        raise ValueError("the observation must not be NaN")
    out = np.empty(n, dtype=np.float64)
    if obs.ndim == 0:  # one question's forecasts: one observation, one split segment for all
        y0 = min(max(float(obs), g[0]), g[-1])
        for start in range(0, n, _CHUNK_ROWS):
            sl = slice(start, start + _CHUNK_ROWS)
            out[sl] = _crps_block_shared(c[sl], g, y0)
        return out
    obs = obs.reshape(-1)
    if obs.shape != (n,):
        raise ValueError("give one observation, or one per CDF")
    y = np.clip(obs, g[0], g[-1])
    for start in range(0, n, _CHUNK_ROWS):
        sl = slice(start, start + _CHUNK_ROWS)
        out[sl] = _crps_block(c[sl], g, y[sl])
    return out


def _squares(a: FloatArray, b: FloatArray) -> FloatArray:
    """a² + ab + b², elementwise (3h times the mean of the squared linear function)."""
    t = a * a
    t += a * b
    t += b * b
    return t


def _crps_block_shared(c: FloatArray, g: FloatArray, y: float) -> FloatArray:
    """``_crps_block`` for one observation y ∈ [g_0, g_{m-1}] shared by every row: the segments
    below and above y are the same for all rows, so each side is one matrix-vector product."""
    m = c.shape[1]
    h = np.diff(g)
    k = min(max(int(np.searchsorted(g, y, side="right")) - 1, 0), m - 2)
    left = _squares(c[:, :k], c[:, 1 : k + 1]) @ h[:k] / 3.0
    upper = 1.0 - c[:, k + 1 :]
    right = _squares(upper[:, :-1], upper[:, 1:]) @ h[k + 1 :] / 3.0
    fa, fb = c[:, k], c[:, k + 1]
    left_w, right_w, hk = y - g[k], g[k + 1] - y, h[k]
    f_y = fa + (fb - fa) * (left_w / hk) if hk > 0.0 else fa
    split = left_w * _squares(fa, f_y) / 3.0 + right_w * _squares(1.0 - f_y, 1.0 - fb) / 3.0
    return np.asarray(left + split + right, dtype=np.float64)


def _crps_block(c: FloatArray, g: FloatArray, y: FloatArray) -> FloatArray:
    h = np.diff(g)  # (m - 1,)
    a, b = c[:, :-1], c[:, 1:]
    below = h * (a * a + a * b + b * b) / 3.0  # ∫ F² over each segment
    u, v = 1.0 - a, 1.0 - b
    above = h * (u * u + u * v + v * v) / 3.0  # ∫ (1 - F)² over each segment
    # The observation lies in segment k: g_k ≤ y < g_{k+1} (the last segment when y = g_{m-1}).
    k = np.clip(np.searchsorted(g, y, side="right") - 1, 0, h.shape[0] - 1)
    rows = np.arange(c.shape[0])
    zero = np.zeros((c.shape[0], 1))
    below_cum = np.concatenate((zero, np.cumsum(below, axis=1)), axis=1)
    above_cum = np.concatenate((zero, np.cumsum(above[:, ::-1], axis=1)), axis=1)[:, ::-1]
    left = below_cum[rows, k]  # segments before k
    right = above_cum[rows, k + 1]  # segments after k
    hk = h[k]
    left_w = y - g[k]
    right_w = g[k + 1] - y
    fa, fb = a[rows, k], b[rows, k]
    with np.errstate(invalid="ignore", divide="ignore"):
        f_y = np.where(hk > 0.0, fa + (fb - fa) * (left_w / hk), fa)
    u_y, u_b = 1.0 - f_y, 1.0 - fb
    split = left_w * (fa * fa + fa * f_y + f_y * f_y) / 3.0
    split += right_w * (u_y * u_y + u_y * u_b + u_b * u_b) / 3.0
    return np.asarray(left + split + right, dtype=np.float64)


def continuous_crps(cdf: ArrayLike, value: ArrayLike, scale: Scale) -> FloatArray:
    """CRPS (lower is better) of each CDF on ``scale``'s grid for the resolved ``value``, in the
    question's value units (seconds for date questions), shape (n,).

    ``crps_cdf`` on the grid ``grid_values(scale)``: the CDF is linear in value between grid points
    (on a log scale too), out-of-range mass and out-of-range outcomes sit on the bounds
    (±inf stands for "below/above the range" when the exact value is unknown). Not comparable
    across questions of different ranges. docs/methods.md §4.13.
    """
    c = as_cdf_rows(cdf)
    if c.shape[1] != CDF_POINTS:
        raise ValueError(f"the CDF needs {CDF_POINTS} points for this scale")
    return _crps_rows(c, grid_values(scale), value)


# --- continuous time averages ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContinuousQuestionScores:
    """Per-forecaster scores of a continuous question (index = forecaster code).

    ``log`` and ``crps`` averaged over covered time (NaN when coverage is 0); ``baseline`` and
    ``peer`` over the whole window, uncovered time counting 0; ``spot_*`` at the effective end
    (NaN for forecasters holding nothing). ``crps`` and ``spot_crps`` are None when no CRPS was
    given (discrete questions).
    """

    log: FloatArray
    baseline: FloatArray
    peer: FloatArray
    coverage: FloatArray
    spot_log: FloatArray
    spot_baseline: FloatArray
    spot_peer: FloatArray
    crps: FloatArray | None
    spot_crps: FloatArray | None


@dataclass(frozen=True, slots=True)
class ContinuousSeriesScores:
    """Scores of one continuous series (the crowd's pooled distribution); conventions of
    ``ContinuousQuestionScores``; ``peer``/``spot_peer`` NaN without forecast events."""

    log: float
    baseline: float
    peer: float
    coverage: float
    spot_log: float
    spot_baseline: float
    spot_peer: float
    crps: float | None
    spot_crps: float | None


def _log_scores(log_po: ArrayLike, name: str) -> FloatArray:
    lp = np.asarray(log_po, dtype=np.float64).reshape(-1)
    if np.any(lp > 0.0):
        raise ValueError(f"{name} must be ≤ 0 (the log of a probability; NaN = no forecast)")
    return lp


def _crps_rule(values: ArrayLike | None, lp: FloatArray) -> dict[str, FloatArray]:
    """{"crps": values} checked against the log scores: finite and ≥ 0 wherever a forecast is
    held (NaN log score = none); {} without CRPS."""
    if values is None:
        return {}
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.shape != lp.shape:
        raise ValueError("crps needs one entry per log score")
    held = x[~np.isnan(lp)]
    if not np.all(np.isfinite(held) & (held >= 0.0)):
        raise ValueError("CRPS values must be finite and ≥ 0 where a forecast is held")
    return {"crps": x}


def score_question_continuous(
    times: ArrayLike,
    forecaster: ArrayLike,
    log_po: ArrayLike,
    *,
    bucket: int,
    open_lower: bool,
    open_upper: bool,
    crps: ArrayLike | None = None,
    inbound_buckets: int = INBOUND_BUCKETS,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    n_forecasters: int,
) -> ContinuousQuestionScores:
    """Time-averaged and spot scores of every forecaster on one resolved continuous question.

    Events as for binary (sorted ``times``, integer ``forecaster`` codes in [0, n_forecasters));
    per event ``log_po`` = ln p_b, the log of the forecast's PMF at the outcome bucket ``bucket``
    (``continuous_log``), NaN marking a withdrawal; optional per-event ``crps``
    (``continuous_crps``; omit it for discrete questions). Only these two numbers per event are
    needed, so a caller can stream the CDFs in blocks. Scores: log and CRPS averaged over covered
    time; baseline 100 · ln(p_b/β)/2 and peer 100 · (ln p_b,i - mean_{j≠i} ln p_b,j)/2 averaged
    over the window (docs/methods.md §4.5, §4.14). ValueError as ``score_question``, for positive
    log scores, or a bucket beyond a closed bound.
    """
    lp = _log_scores(log_po, "log_po")
    beta = continuous_base_probability(
        bucket, open_lower=open_lower, open_upper=open_upper, inbound_buckets=inbound_buckets
    )
    ev = forecast_events(times, forecaster, np.where(np.isnan(lp), np.nan, 0.5))
    s = score_events(
        ev,
        lp,
        _continuous_baseline_unit(lp, beta),
        extra=_crps_rule(crps, lp),
        peer_scale=_CONTINUOUS_PEER_SCALE,
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        n_forecasters=n_forecasters,
    )
    return ContinuousQuestionScores(
        log=s.log,
        baseline=s.baseline,
        peer=s.peer,
        coverage=s.coverage,
        spot_log=s.spot_log,
        spot_baseline=s.spot_baseline,
        spot_peer=s.spot_peer,
        crps=s.extra.get("crps"),
        spot_crps=s.spot_extra.get("crps"),
    )


def score_series_continuous(
    times: ArrayLike,
    log_po: ArrayLike,
    *,
    bucket: int,
    open_lower: bool,
    open_upper: bool,
    crps: ArrayLike | None = None,
    inbound_buckets: int = INBOUND_BUCKETS,
    open_time: float,
    close_time: float,
    resolved_at: float | None,
    forecast_times: ArrayLike | None = None,
    forecaster: ArrayLike | None = None,
    forecast_log_po: ArrayLike | None = None,
) -> ContinuousSeriesScores:
    """Scores of a piecewise-constant continuous series: the crowd's pooled PMF over time.

    Point j holds from ``times[j]`` (sorted) until the next; ``log_po[j]`` = ln p*_b, the log of
    the pooled PMF at the outcome bucket (NaN = no value: uncovered); optional ``crps[j]`` of the
    pooled CDF. With the forecast events (``forecast_times``, ``forecaster``,
    ``forecast_log_po`` as in ``score_question_continuous``) the crowd's peer score is
    100 · (ln p*_b - L/n) / 2 against the mean log score of the n active forecasters
    (docs/methods.md §4.7, §4.14); without them ``peer`` and ``spot_peer`` are NaN.
    ValueError as ``score_question_continuous`` and ``scoring.rules.score_series``.
    """
    lp = _log_scores(log_po, "log_po")
    ts = np.asarray(times, dtype=np.float64).reshape(-1)
    if ts.shape != lp.shape:
        raise ValueError("times and log_po must have the same length")
    beta = continuous_base_probability(
        bucket, open_lower=open_lower, open_upper=open_upper, inbound_buckets=inbound_buckets
    )
    given = [x is not None for x in (forecast_times, forecaster, forecast_log_po)]
    if any(given) and not all(given):
        raise ValueError("give forecast_times, forecaster and forecast_log_po together")
    ev, flp = None, None
    if forecast_times is not None and forecaster is not None and forecast_log_po is not None:
        flp = _log_scores(forecast_log_po, "forecast_log_po")
        ev = forecast_events(forecast_times, forecaster, np.where(np.isnan(flp), np.nan, 0.5))
    s = score_steps(
        ts,
        lp,
        _continuous_baseline_unit(lp, beta),
        extra=_crps_rule(crps, lp),
        peer_scale=_CONTINUOUS_PEER_SCALE,
        open_time=open_time,
        close_time=close_time,
        resolved_at=resolved_at,
        events=ev,
        event_log_po=flp,
    )
    return ContinuousSeriesScores(
        log=s.log,
        baseline=s.baseline,
        peer=s.peer,
        coverage=s.coverage,
        spot_log=s.spot_log,
        spot_baseline=s.spot_baseline,
        spot_peer=s.spot_peer,
        crps=s.extra.get("crps"),
        spot_crps=s.spot_extra.get("crps"),
    )
