"""The crowd of a multiple-choice or continuous question as pages and the API show it
(docs/methods.md §13.3, §12.6; docs/privacy.md).

A history point keeps only a summary (the option probabilities, or five quantile locations and
the mass beyond each bound). The full pooled CDF, its mean and the comparators (the linear
pool and the per-option median) are recomputed here from the log **as of a history point**:
the first ``seq`` events, the forecasts active after them, pooled with the weights the crowd
uses (``forecasts.services.crowd_weights``, recency relative to that point's event). Whoever
may see a point may see this: it is the same crowd, at the same event. Cost: the first n events
as ids only, then the times and vectors of the m forecasts active then (three queries);
O(n + m·k) for k outcomes.

The crowd at a point does not change until the log before it, the pool parameters or the
weights do, so ``crowd_at`` keeps it in the cache (``django.core.cache``: Redis in production)
under a key naming all of those (``_cache_key``): a public headline is computed once per public
point, not once per request (docs/performance.md, "API crowd of a continuous question").
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum

from forecasts import distributions, pooling, privacy, typed, vector_pooling
from forecasts.models import CrowdPoint, Forecast, FrozenWeights, TrackRecordWeight
from forecasts.services import crowd_params, crowd_weights
from markets.models import Question

logger = logging.getLogger(__name__)

SUMMARY_LEVELS = vector_pooling.CONTINUOUS_SUMMARY_QUANTILES
"""The quantile levels of a continuous summary: 0.05, 0.25, 0.5, 0.75, 0.95."""

COMPARATORS_MIN = privacy.BATCH + 1
"""Fewest forecasters a crowd must pool for its comparators (the linear pool and the per-option
median) to be shown beside the log pool to viewers without full-history access. The log pool,
the linear pool and the median are three statistics of the same forecasts; at a point pooling
exactly 3 forecasters they can determine the three forecasts (docs/privacy.md, "Comparators of
multiple-choice and continuous crowds")."""

CACHE_TIMEOUT = 7 * 24 * 3600
"""Seconds a computed ``crowd_at`` stays in the cache (its key changes when its inputs do)."""
_NONE = "none"  # cached: nobody active at that point


@dataclass(frozen=True)
class TypedCrowd:
    """The crowd of a vector question after one history point.

    ``pooled``: the log pool over the outcomes (k option probabilities, or the 202 PMF
    buckets); ``linear``: the linear pool (weighted mean of the same vectors); ``median``: the
    per-outcome median renormalised (None for a continuous question: a per-bucket median of
    PMFs is not a distribution anyone asked for). All float64, summing to 1.
    """

    forecasters: int
    pooled: np.ndarray
    linear: np.ndarray
    median: np.ndarray | None


def question_scale(question: Question) -> distributions.Scale:
    """The ``distributions.Scale`` of a continuous question (dates: Unix seconds).

    Raises ``DistributionError`` for a question without a range (not continuous)."""
    if question.range_min is None or question.range_max is None:
        raise distributions.DistributionError("The question has no range.", field="type")
    return distributions.Scale(
        question.range_min,
        question.range_max,
        question.open_lower_bound,
        question.open_upper_bound,
        question.zero_point,
    )


def crowd_at(question: Question, seq: int) -> TypedCrowd | None:
    """The crowd of ``question`` (multiple choice or continuous) after its history point
    ``seq`` (its first ``seq`` events in log order), or None when nobody is active then or the
    log is shorter. Pooled as ``forecasts.services.vector_history`` pools it: extremizing d
    and half-life h of the tournament, a_i of ``crowd_weights``, recency relative to the
    point's event (docs/methods.md §13.3). Served from the cache when computed before with the
    same inputs (``_cache_key``)."""
    if seq < 1:
        return None
    # The point's event: from the stored history point (an index lookup), else by its place in
    # the log.
    point = (
        CrowdPoint.objects.filter(question_id=question.pk, seq=seq)
        .values_list("pk", "forecast_id", "summary")
        .first()
    )
    events = Forecast.objects.filter(question_id=question.pk)
    if point is not None and point[1] is not None:
        nth = list(events.filter(pk=point[1]).values_list("id", "time"))
    else:
        nth = list(events.order_by("time", "id").values_list("id", "time")[seq - 1 : seq])
    if not nth:
        return None
    nth_id, nth_time = nth[0]
    key = _cache_key(question, seq, nth_id, point)
    try:
        hit = cache.get(key)
    except Exception:  # the cache is an optimisation: without it, compute
        logger.warning("crowd_at: cache read failed", exc_info=True)
        hit = None
    if isinstance(hit, TypedCrowd) or hit == _NONE:
        return hit if isinstance(hit, TypedCrowd) else None
    crowd = _pool_at(question, nth_id, nth_time)
    try:
        cache.set(key, _NONE if crowd is None else crowd, CACHE_TIMEOUT)
    except Exception:
        logger.warning("crowd_at: cache write failed", exc_info=True)
    return crowd


def _cache_key(question: Question, seq: int, nth_id: int, point: tuple | None) -> str:
    """What the crowd at a point depends on, as a cache key: the question, the point's place
    and event, the stored point itself (its row id and summary: a recompute writes new rows,
    and a change to the log before the point or to the weights changes its summary), the
    pool parameters, and the track-record weights it reads — the question's frozen ones, or
    the tournament's current ones (their count, sum and latest update; none while the
    tournament does not weight by track record)."""
    t = question.tournament
    params = crowd_params(question).as_json()
    frozen = (
        FrozenWeights.objects.filter(question_id=question.pk).values_list("frozen_at", flat=True)
    ).first()
    if frozen is not None:
        weights: object = ["frozen", frozen.isoformat()]
    elif t.track_record_weighting:
        agg = TrackRecordWeight.objects.filter(tournament_id=t.pk).aggregate(
            n=Count("pk"), total=Sum("weight"), latest=Max("updated_at")
        )
        latest = agg["latest"].isoformat() if agg["latest"] is not None else None
        weights = [agg["n"], repr(agg["total"]), latest]
    else:
        weights = None
    summary = None
    if point is not None and point[2] is not None:
        summary = hashlib.sha256(bytes(point[2])).hexdigest()
    raw = json.dumps(
        [seq, nth_id, point[0] if point else None, summary, params, weights],
        sort_keys=True,
        default=str,
    )
    return f"typed-crowd-at:v1:{question.pk}:{hashlib.sha256(raw.encode()).hexdigest()}"


def _pool_at(question: Question, nth_id: int, nth_time: dt.datetime) -> TypedCrowd | None:
    """``crowd_at``'s computation, after the event (``nth_id``, ``nth_time``)."""
    # The events up to it as (id, forecaster, kind) only, then the time and vector of the
    # forecasts active after them (at most one per forecaster): a log's vectors are most of
    # its bytes, and parsing its timestamps most of the rest.
    events = Forecast.objects.filter(question_id=question.pk)
    prefix = events.filter(Q(time__lt=nth_time) | Q(time=nth_time, id__lte=nth_id))
    last: dict[int, tuple[int, str]] = {}
    for event_id, forecaster_id, kind in prefix.order_by("time", "id").values_list(
        "id", "forecaster_id", "kind"
    ):
        last[forecaster_id] = (event_id, kind)
    active = sorted(event_id for event_id, kind in last.values() if kind == Forecast.Kind.FORECAST)
    if not active:
        return None
    rows = list(
        Forecast.objects.filter(pk__in=active)
        .order_by("id")
        .values_list("time", "forecaster_id", "values")
    )
    values = np.stack([typed.from_bytes(raw) for _, _, raw in rows])
    times = np.array([time.timestamp() for time, _, _ in rows], dtype=np.float64)
    forecasters = np.array([f for _, f, _ in rows], dtype=np.int64)
    params = crowd_params(question)
    a = crowd_weights(question, forecasters)
    w = a * pooling.recency_weights(times, nth_time.timestamp(), params.half_life)
    outs = typed.outcomes(question, values)
    pooled = vector_pooling.pool_from_sums(
        w @ vector_pooling.log_terms(outs),
        float(np.sum(w)),
        typed.support(question),
        extremize=params.extremize,
    )
    linear = vector_pooling.linear_pool(outs, w)
    median = (
        vector_pooling.median_pool(outs) if question.type == Question.Type.MULTIPLE_CHOICE else None
    )
    return TypedCrowd(len(rows), pooled, linear, median)


def iso_of(seconds: float) -> str:
    """An ISO 8601 UTC date-time (``2026-12-31T00:00:00Z``) for Unix ``seconds`` (a date
    question's values, docs/methods.md §12.9). Sub-second parts are dropped; values beyond the
    years 1–9999 are clamped to them."""
    lo, hi = -62135596800.0, 253402300799.0
    moment = dt.datetime.fromtimestamp(min(max(float(seconds), lo), hi), tz=dt.UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def continuous_view(question: Question, cdf: np.ndarray) -> dict[str, object]:
    """The headline numbers of a continuous CDF (float64[201]) on ``question``'s scale:
    ``quantiles`` at ``SUMMARY_LEVELS`` in value units (clamped to the range,
    ``distributions.quantiles``), ``mean`` (``distributions.mean``), ``below`` = P(X < min)
    and ``above`` = P(X > max). Dates: ISO 8601 strings instead of Unix seconds."""
    scale = question_scale(question)
    values = distributions.quantiles(cdf, SUMMARY_LEVELS, scale)
    mean = distributions.mean(cdf, scale)
    return {
        "quantiles": quantile_map(question, values),
        "mean": display_value(question, mean),
        "below": float(cdf[0]),
        "above": float(1.0 - cdf[-1]),
    }


def summary_view(question: Question, summary: np.ndarray) -> dict[str, object]:
    """A continuous history point's summary (float64[7]: quantile locations on [0, 1] at
    ``SUMMARY_LEVELS``, then P(below), P(above)) in value units: ``quantiles``, ``below``,
    ``above``."""
    scale = question_scale(question)
    values = np.asarray(scale.value(np.asarray(summary[:5], dtype=np.float64)))
    return {
        "quantiles": quantile_map(question, values),
        "below": float(summary[5]),
        "above": float(summary[6]),
    }


def display_value(question: Question, value: float) -> float | str:
    """A value of a continuous question as shown: a number, or for a date question its ISO
    8601 string."""
    if question.type == Question.Type.DATE:
        return iso_of(value)
    return float(value)


def quantile_map(question: Question, values: np.ndarray) -> dict[str, float | str]:
    """{"0.05": v, "0.25": v, "0.5": v, "0.75": v, "0.95": v} of five quantile values."""
    return {
        f"{level:g}": display_value(question, float(v))
        for level, v in zip(SUMMARY_LEVELS, values.tolist(), strict=True)
    }
