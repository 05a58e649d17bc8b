"""Scores of a resolved multiple-choice or continuous question, from its forecast log
(docs/methods.md §4.16).

``question_rows`` reads the question's vector log (``forecasts.services.vector_log``), scores
every forecaster with the pure rules (``scoring.rules_types``), and the crowd: the log pool
recomputed after every event from the log (``forecasts.services.vector_history``: the stored
history points of a continuous question keep only quantile locations, not the pooled PMF) and
the mean (the unweighted linear pool of the active forecasts, as the yes/no crowd mean). There is
no median subject for these types: a per-option or per-bucket median needs renormalising and an
O(active forecasters) pass per event (docs/methods.md §4.16).

Rules written: multiple choice — ``mc_brier`` (0 to 2), ``log``, ``baseline``, ``peer`` and their
spot forms; numeric and date — ``log``, ``baseline``, ``peer``, ``crps`` (value units) and spots;
discrete — the same without CRPS. Writing them is ``scoring.services.question_score``'s job.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasts.distributions import Scale, resolution_bucket
from forecasts.history import forecast_events
from forecasts.services import vector_history, vector_log
from markets.models import Question, Resolution
from scoring import rules_types
from scoring.models import Rule, Subject
from trading.models import Trade

Row = tuple[Any, ...]  # (subject, forecaster id, rule, score, coverage, forecast)


@dataclass(frozen=True)
class ScoreColumns:
    """Score rows column by column, in row order: ``subject`` and ``rule`` (arrays of str),
    ``forecaster`` (float64 ids, NaN for the crowd's NULL; exact below 2**53), ``score``,
    ``coverage`` and ``forecast`` (float64, NaN for NULL). What
    ``scoring.services._write_scores`` sends to ``config.bulk.bulk_insert_columns``."""

    subject: np.ndarray
    forecaster: np.ndarray
    rule: np.ndarray
    score: np.ndarray
    coverage: np.ndarray
    forecast: np.ndarray

    def __len__(self) -> int:
        return int(self.score.shape[0])

    @classmethod
    def of_rows(cls, rows: list[Row]) -> ScoreColumns:
        """Tuples (subject, forecaster id or None, rule, score or None, coverage, forecast or
        None) as columns (None → NaN)."""
        if not rows:
            return cls(*(np.empty(0, dtype=t) for t in (str, float, str, float, float, float)))
        subject, forecaster, rule, score, coverage, forecast = zip(*rows, strict=True)
        return cls(
            subject=np.asarray(subject, dtype=str),
            forecaster=np.array(forecaster, dtype=np.float64),
            rule=np.asarray(rule, dtype=str),
            score=np.array(score, dtype=np.float64),
            coverage=np.array(coverage, dtype=np.float64),
            forecast=np.array(forecast, dtype=np.float64),
        )

    def __add__(self, other: ScoreColumns) -> ScoreColumns:
        return ScoreColumns(
            *(
                np.concatenate([getattr(self, f), getattr(other, f)])
                for f in ("subject", "forecaster", "rule", "score", "coverage", "forecast")
            )
        )


MC_RULES = {
    "brier": Rule.MC_BRIER,
    "log": Rule.LOG,
    "baseline": Rule.BASELINE,
    "peer": Rule.PEER,
}
MC_SPOT_RULES = {
    "spot_brier": Rule.SPOT_MC_BRIER,
    "spot_log": Rule.SPOT_LOG,
    "spot_baseline": Rule.SPOT_BASELINE,
    "spot_peer": Rule.SPOT_PEER,
}
CONTINUOUS_RULES = {
    "log": Rule.LOG,
    "baseline": Rule.BASELINE,
    "peer": Rule.PEER,
    "crps": Rule.CRPS,
}
CONTINUOUS_SPOT_RULES = {
    "spot_log": Rule.SPOT_LOG,
    "spot_baseline": Rule.SPOT_BASELINE,
    "spot_peer": Rule.SPOT_PEER,
    "spot_crps": Rule.SPOT_CRPS,
}
_CHUNK = 4096  # events per block of the linear pool's running sums


def question_scale(question: Question) -> Scale:
    """The question's range as a ``forecasts.distributions.Scale`` (validated). Raises
    ``DistributionError`` (a ValueError) for a question without a usable range."""
    scale = Scale(
        question.range_min,  # type: ignore[arg-type]
        question.range_max,  # type: ignore[arg-type]
        question.open_lower_bound,
        question.open_upper_bound,
        question.zero_point,
    )
    scale.validate()
    return scale


@dataclass(frozen=True)
class TypedOutcome:
    """What happened, as the rules take it: ``option`` (0-based) for multiple choice; for a
    continuous question the PMF ``bucket`` (0 below the range, 201 above) and the ``value``
    for the CRPS and the PIT (±inf for "below"/"above" the range when not known exactly)."""

    option: int | None = None
    bucket: int | None = None
    value: float | None = None


def typed_outcome(question: Question, resolution: Resolution) -> TypedOutcome | None:
    """The outcome of a final resolution of a multiple-choice or continuous question, or None
    when it has none to score (annulled). docs/methods.md §4.10, §12.7. Raises ValueError for
    an outcome that does not fit the question (an option index out of range, a value beyond a
    closed bound)."""
    outcome = Resolution.Outcome(resolution.outcome)
    if outcome == Resolution.Outcome.ANNULLED:
        return None
    if question.type == Question.Type.MULTIPLE_CHOICE:
        if outcome != Resolution.Outcome.OPTION or resolution.option is None:
            raise ValueError(f"a multiple-choice question cannot resolve {outcome.value!r}")
        if not 0 <= resolution.option < len(question.options):
            raise ValueError(f"option {resolution.option} is not an option of the question")
        return TypedOutcome(option=int(resolution.option))
    if outcome == Resolution.Outcome.VALUE and resolution.value is not None:
        value = float(resolution.value)
    elif outcome == Resolution.Outcome.BELOW:
        value = -math.inf
    elif outcome == Resolution.Outcome.ABOVE:
        value = math.inf
    else:
        raise ValueError(f"a {question.type} question cannot resolve {outcome.value!r}")
    return TypedOutcome(bucket=resolution_bucket(value, question_scale(question)), value=value)


def has_crps(question: Question) -> bool:
    """Numeric and date questions get a CRPS (in value units); discrete questions do not
    (their outcomes are a lattice: the log score is the rule, docs/methods.md §4.13)."""
    return question.type in (Question.Type.NUMERIC, Question.Type.DATE)


def held_at_end(
    times: np.ndarray, codes: np.ndarray, values: np.ndarray, n: int, end: float
) -> np.ndarray:
    """Per forecaster code, ``values`` of the last event at or before ``end`` (NaN for none, or
    when that event was a withdrawal, whose value is NaN). Events in time order."""
    held = np.full(n, np.nan)
    upto = int(np.searchsorted(times, end, side="right"))
    held[codes[:upto]] = values[:upto]
    return held


def linear_pool_history(
    times: np.ndarray,
    codes: np.ndarray,
    values: np.ndarray,
    reduce: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """``reduce`` of the mean of the active forecasts after every event: the unweighted linear
    pool (the crowd "mean", docs/methods.md §2.3, §12.3), as running sums of each event's
    change, in blocks of ``_CHUNK`` events. ``values``: (n, k) stored vectors, NaN rows for
    withdrawals; ``reduce`` maps (rows, k) means (NaN rows where nobody is active) to (rows, s).
    Returns (n, s). O(n·k) time, O(_CHUNK·k) scratch."""
    ev = forecast_events(times, codes, values[:, 0])
    n, k = values.shape
    carry = np.zeros(k)
    out: list[np.ndarray] = []
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        # A withdrawal's row of NaN is never selected; a removed row is always a forecast.
        running = np.where(ev.is_forecast[sl, None], values[sl], 0.0)
        removed = np.take(values, np.maximum(ev.prev[sl], 0), axis=0)
        running -= np.where(ev.removes[sl, None], removed, 0.0)
        del removed
        running[0] += carry
        np.cumsum(running, axis=0, out=running)
        carry = running[-1].copy()
        count = ev.count[sl].astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            running /= count[:, None]
        mean = running
        mean[count == 0] = np.nan
        out.append(np.asarray(reduce(mean), dtype=np.float64))
    return np.concatenate(out) if out else np.empty((0, 0))


def _tidy_cdf(cdf: np.ndarray) -> np.ndarray:
    """A pooled CDF's rounding residue removed: clipped to [0, 1], non-decreasing (NaN rows
    stay NaN). Rows × 201 in, a new C-ordered array out (the reference form of
    ``_tidy_columns``, which scoring uses)."""
    c = np.clip(cdf, 0.0, 1.0)
    nan_rows = np.isnan(c[:, 0])
    if nan_rows.any():
        c[~nan_rows] = np.maximum.accumulate(c[~nan_rows], axis=1)
    else:  # the usual block: every row pooled, accumulated in place (the same values)
        np.maximum.accumulate(c, axis=1, out=c)
    return c


def _tidy_columns(rows: np.ndarray, *, prefix: bool) -> np.ndarray:
    """``_tidy_cdf`` of a block of rows, worked one grid point at a time across all rows.

    ``prefix=True``: ``rows`` are pooled PMF buckets (rows × 202) and the CDF is first built
    as ``cdf_from_buckets`` builds it (prefix sums of the first 201 buckets); ``prefix=False``:
    ``rows`` are CDFs (rows × 201). ``np.cumsum`` and ``np.maximum.accumulate`` along a row run
    one short sequential loop per row; here each step combines grid point j − 1 with grid point
    j for every row of the block at once (200 vectorised steps per pass, on the block's copy).
    Each CDF value is the same sum in the same order, and a running maximum does not depend on
    grouping, so the result is bit-for-bit ``_tidy_cdf(cdf_from_buckets(rows))`` (resp.
    ``_tidy_cdf(rows)``), NaN rows included (tests/scoring/test_typed_score_speed.py). Returns
    a new C-ordered array. 1.7x faster than the row-wise form on 2,048-row blocks."""
    m = rows.shape[1] - 1 if prefix else rows.shape[1]
    c = np.array(rows[:, :m], dtype=np.float64, order="C")
    if prefix:
        for j in range(1, m):
            c[:, j] += c[:, j - 1]
    np.clip(c, 0.0, 1.0, out=c)
    for j in range(1, m):
        np.maximum(c[:, j], c[:, j - 1], out=c[:, j])
    return c


def _rows(
    subject: str,
    forecaster_id: int | None,
    value: Callable[[str], float | None],
    rules: dict[str, Rule],
    spot_rules: dict[str, Rule],
    coverage: float,
    held: float,
) -> list[Row]:
    """A subject's rows: the time-averaged rules, and the spot rules when a forecast was held at
    the end (``held``: its probability of what happened, the ``forecast`` column)."""
    out: list[Row] = []
    for field, rule in rules.items():
        x = value(field)
        if x is not None or field != "crps":
            out.append((subject, forecaster_id, rule, _finite(x), coverage, None))
    if not math.isnan(held):
        for field, rule in spot_rules.items():
            x = value(field)
            if x is not None or field != "spot_crps":
                out.append((subject, forecaster_id, rule, _finite(x), 1.0, held))
    return out


def _forecaster_columns(
    forecaster_ids: np.ndarray,
    scores: Any,
    rules: dict[str, Rule],
    spot_rules: dict[str, Rule],
    held: np.ndarray,
) -> ScoreColumns:
    """Every forecaster's rows at once, in ``_rows``' order (forecaster by forecaster: the
    time-averaged rules, then the spot rules when a forecast was held at the end): the same
    rows, built as arrays instead of one tuple per score. A rule whose field is None (the CRPS
    of a discrete question) is left out for everyone, as ``_rows`` does."""
    fields = [(f, r) for f, r in rules.items() if getattr(scores, f) is not None or f != "crps"]
    spots = [
        (f, r) for f, r in spot_rules.items() if getattr(scores, f) is not None or f != "spot_crps"
    ]
    n, a = len(forecaster_ids), len(fields)
    width = a + len(spots)

    def column(field: str) -> np.ndarray:
        x = getattr(scores, field)
        return np.full(n, np.nan) if x is None else np.asarray(x, dtype=np.float64)

    score = np.empty((n, width))
    for j, (f, _) in enumerate(fields + spots):
        score[:, j] = column(f)
    keep = np.ones((n, width), dtype=bool)
    keep[:, a:] = ~np.isnan(held)[:, None]
    coverage = np.empty((n, width))
    coverage[:, :a] = np.asarray(scores.coverage, dtype=np.float64)[:, None]
    coverage[:, a:] = 1.0
    forecast = np.full((n, width), np.nan)
    forecast[:, a:] = held[:, None]
    rule = np.array([str(r) for _, r in fields + spots], dtype=str)
    ids = np.asarray(forecaster_ids, dtype=np.float64)
    flat = keep.reshape(-1)
    return ScoreColumns(
        subject=np.full(int(flat.sum()), str(Subject.FORECASTER)),
        forecaster=np.repeat(ids, width)[flat],
        rule=np.tile(rule, n)[flat],
        score=score.reshape(-1)[flat],
        coverage=coverage.reshape(-1)[flat],
        forecast=forecast.reshape(-1)[flat],
    )


def _finite(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else float(x)


def _getter(scores: Any, code: int | None) -> Callable[[str], float | None]:
    def value(field: str) -> float | None:
        x = getattr(scores, field)
        if x is None:
            return None
        return float(x if code is None else x[code])

    return value


def question_rows(
    question: Question, resolution: Resolution
) -> tuple[ScoreColumns | list[Row], list[int]]:
    """Score rows (subject, forecaster id, rule, score, coverage, forecast) of every forecaster
    and of the crowd (log pool, mean) on a resolved multiple-choice or continuous question, as
    ``ScoreColumns`` (forecasters first, then the crowd), and the ids of the forecasters
    scored. ([], []) when annulled or nobody forecast.

    Time-averaged scores over [open_time, min(close_time, resolved_at)] and spot scores at that
    end, by ``scoring.rules_types`` (docs/methods.md §4.10–§4.14, §4.16). Raises ValueError as
    ``typed_outcome``.
    """
    outcome = typed_outcome(question, resolution)
    if outcome is None:
        return [], []
    ev = vector_log(question)
    if not len(ev.ids):
        return [], []
    window: dict[str, Any] = {
        "open_time": question.open_time.timestamp(),
        "close_time": question.close_time.timestamp(),
        "resolved_at": resolution.resolved_at.timestamp(),
    }
    end = min(window["close_time"], window["resolved_at"])
    forecaster_ids, codes = np.unique(ev.forecaster, return_inverse=True)
    n = len(forecaster_ids)
    rows: list[Row] = []
    if outcome.option is not None:
        o = outcome.option
        scores: Any = rules_types.score_question_mc(
            ev.times, codes, ev.values, outcome=o, n_forecasters=n, **window
        )
        p_outcome = ev.values[:, o]
        rules, spot_rules = MC_RULES, MC_SPOT_RULES
    else:
        assert outcome.bucket is not None and outcome.value is not None
        bounds: dict[str, Any] = {
            "bucket": outcome.bucket,
            "open_lower": question.open_lower_bound,
            "open_upper": question.open_upper_bound,
        }
        p_outcome = rules_types.bucket_probability(ev.values, outcome.bucket)
        lp = np.log(p_outcome)
        crps = (
            rules_types.continuous_crps(ev.values, outcome.value, question_scale(question))
            if has_crps(question)
            else None
        )
        scores = rules_types.score_question_continuous(
            ev.times, codes, lp, crps=crps, n_forecasters=n, **bounds, **window
        )
        rules, spot_rules = CONTINUOUS_RULES, CONTINUOUS_SPOT_RULES
    held = held_at_end(ev.times, codes, p_outcome, n, end)
    columns = _forecaster_columns(forecaster_ids, scores, rules, spot_rules, held)
    for subject, series in _crowd_series(question, ev, codes, outcome, window, p_outcome).items():
        s, times, p_series = series
        k = int(np.searchsorted(times, end, side="right")) - 1
        rows += _rows(
            subject,
            None,
            _getter(s, None),
            rules,
            spot_rules,
            float(s.coverage),
            float(p_series[k]) if k >= 0 else math.nan,
        )
    return columns + ScoreColumns.of_rows(rows), forecaster_ids.tolist()


def _market_history(question: Question) -> tuple[np.ndarray, np.ndarray] | None:
    """The question's market price history (docs/methods.md §15.8): trade times (epoch
    seconds, shape (n,)) and the prices of every option after each trade (shape (n, K), rows
    summing to 1), in trade order; None without a trade."""
    rows = list(
        Trade.objects.filter(market__question=question)
        .order_by("sequence")
        .values_list("created_at", "prices")
    )
    if not rows:
        return None
    times = np.array([at.timestamp() for at, _ in rows])
    return times, np.array([[float(p) for p in prices] for _, prices in rows])


def _crowd_series(
    question: Question,
    ev: Any,
    codes: np.ndarray,
    outcome: TypedOutcome,
    window: dict[str, Any],
    p_outcome: np.ndarray,
) -> dict[str, tuple[Any, np.ndarray, np.ndarray]]:
    """The crowd (log pool) and the mean (linear pool) after every event, scored as
    piecewise-constant series: {subject: (scores, times, probability of what happened)}.
    ``p_outcome``: each event's probability of what happened (NaN for withdrawals)."""
    out: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    if outcome.option is not None:
        o = outcome.option
        log_pool = vector_history(question, ev, summarize=lambda pooled: pooled).summary
        mean = linear_pool_history(ev.times, codes, ev.values, lambda m: m)
        for subject, probs in ((Subject.CROWD, log_pool), (Subject.MEAN, mean)):
            s: Any = rules_types.score_series_mc(
                ev.times,
                probs,
                outcome=o,
                forecast_times=ev.times,
                forecaster=codes,
                forecast_probs=ev.values,
                **window,
            )
            out[subject] = (s, ev.times, probs[:, o])
        market = _market_history(question)
        if market is not None:  # the play-money market's prices, scored as the crowd (§15.8)
            times, prices = market
            s = rules_types.score_series_mc(
                times,
                prices,
                outcome=o,
                forecast_times=ev.times,
                forecaster=codes,
                forecast_probs=ev.values,
                **window,
            )
            out[Subject.MARKET] = (s, times, prices[:, o])
        return out
    assert outcome.bucket is not None and outcome.value is not None
    b, value = outcome.bucket, outcome.value
    scale = question_scale(question) if has_crps(question) else None

    grid = rules_types.grid_values(scale) if scale is not None else None

    def reduce(c: np.ndarray) -> np.ndarray:
        """(rows, 201) tidied CDFs → (rows, 2): p_b and the CRPS (NaN without one). The tidied
        rows are valid CDFs by construction: the rules' arithmetic without their validation
        pass."""
        p_b = rules_types._bucket_p(c, b)
        crps = (
            rules_types._crps_rows(c, grid, value)
            if grid is not None
            else np.full(c.shape[0], np.nan)
        )
        return np.column_stack([p_b, crps])

    log_pool = vector_history(
        question, ev, summarize=lambda pooled: reduce(_tidy_columns(pooled, prefix=True))
    ).summary
    mean = linear_pool_history(
        ev.times, codes, ev.values, lambda m: reduce(_tidy_columns(m, prefix=False))
    )
    forecast_lp = np.log(p_outcome)
    for subject, series in ((Subject.CROWD, log_pool), (Subject.MEAN, mean)):
        with np.errstate(divide="ignore"):
            lp = np.log(series[:, 0])
        s = rules_types.score_series_continuous(
            ev.times,
            lp,
            crps=series[:, 1] if scale is not None else None,
            bucket=b,
            open_lower=question.open_lower_bound,
            open_upper=question.open_upper_bound,
            forecast_times=ev.times,
            forecaster=codes,
            forecast_log_po=forecast_lp,
            **window,
        )
        out[subject] = (s, ev.times, series[:, 0])
    return out
