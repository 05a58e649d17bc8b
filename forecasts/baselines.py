"""The built-in baseline forecasters (docs/methods.md §16.4–§16.5): bots with no owner, shown as
bots, whose forecasts go through ``forecast_submit`` and are scored like anyone's.

- **trend-bot** forecasts every open yes/no, numeric and date benchmark milestone question
  (``markets.resolution.typed_rules``) from the benchmark's own history (``forecasts.trend``):
  a log-linear trend of the best result over time for time horizons (unit in minutes, hours or
  seconds), a logistic trend for percentage benchmarks
  (unit with "%"), uncertainty from a bootstrap over the frontier results: a probability for a
  yes/no milestone, the bootstrap distribution of the best result at the as-of date (numeric) or
  of the crossing date (date) as a standardised 201-point CDF. Refreshed by
  ``baselines_refresh_task`` whenever a feed changes a benchmark's results
  (``markets.benchmarks.signals.results_changed``, connected in ``ForecastsConfig.ready``).
- **base-rate-bot** forecasts every open yes/no question the share of YES among the
  tournament's resolved yes/no questions, by Laplace's rule of succession (yes + 1) / (n + 2)
  (all tournaments' when the tournament has none resolved); refreshed after each final
  resolution.

A refresh submits only where the bot's current forecast differs (by more than ``SAME``), so a
task that runs twice writes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Q
from django.utils import timezone

from forecasts import distributions, trend
from forecasts.bots import builtin_bot
from forecasts.errors import ForecastError
from forecasts.models import EPS, Forecast, Forecaster
from forecasts.services import forecast_submit
from forecasts.typed_crowd import question_scale
from markets.models import Benchmark, BenchmarkResult, Comparator, Question, Resolution
from markets.resolution.typed_rules import Verdict, typed_verdict

TREND_BOT = "trend-bot"
TREND_DESCRIPTION = (
    "Baseline: extrapolates the benchmark's best result over time (log-linear for time "
    "horizons, logistic for percentages) with a bootstrap over results."
)
BASE_RATE_BOT = "base-rate-bot"
BASE_RATE_DESCRIPTION = (
    "Baseline: the share of YES among the tournament's resolved questions (rule of succession)."
)
SAME = 1e-6
DAY_SECONDS = 86_400.0
TYPED = (Question.Type.NUMERIC, Question.Type.DATE)
TIME_UNITS = ("minute", "hour", "second", "day")


def trend_kind(benchmark: Benchmark) -> str | None:
    """The trend fitted to a benchmark: logistic for a percentage unit, log-linear for a time
    unit, None otherwise (the trend bot leaves its questions alone)."""
    unit = benchmark.unit.lower()
    if "%" in unit:
        return trend.LOGISTIC
    if any(word in unit for word in TIME_UNITS):
        return trend.LOG_LINEAR
    return None


def benchmark_history(benchmark: Benchmark, as_of: dt.datetime) -> tuple[np.ndarray, np.ndarray]:
    """(epoch seconds, values) of the benchmark's current results known at ``as_of`` (first
    seen by then), at their plot time (noon UTC of the achievement day), in time order."""
    rows = [
        (r.plot_time.timestamp(), r.value)
        for r in BenchmarkResult.objects.filter(
            benchmark=benchmark, is_current=True, first_seen__lte=as_of
        )
    ]
    rows.sort()
    return (
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.float64),
    )


@dataclass(frozen=True)
class TrendForecast:
    """The trend bot's forecast for one question with its inputs: the frontier results
    (``times`` in decimal years, ``values``), the ``fit``, the ``boot``\\ strap, the target time
    ``at_years`` (the deadline's noon), the trend's value there, and ``probability`` (clipped to
    [0.001, 0.999]); ``already_met`` when a recorded result already meets the milestone."""

    question_id: int
    kind: str
    times: np.ndarray
    values: np.ndarray
    fit: trend.TrendFit | None
    boot: trend.Bootstrap | None
    at_years: float
    trend_value: float
    probability: float
    already_met: bool

    def rationale(self, question: Question) -> str:
        """The forecast's explanation, shown with it."""
        assert question.benchmark is not None
        unit = question.benchmark.unit
        if self.already_met or self.fit is None or self.boot is None:
            return "A recorded result already meets the milestone."
        parts = [
            f"{self.kind} trend of the best {question.benchmark.name} result over "
            f"{self.fit.n} record results"
        ]
        if self.kind == trend.LOG_LINEAR:
            lo, hi = self.boot.doubling_interval()
            parts.append(
                f"doubling time {self.fit.doubling_months:.1f} months "
                f"(90% bootstrap interval {lo:.1f}–{hi:.1f})"
            )
        parts.append(f"trend at the deadline {self.trend_value:,.1f} {unit}")
        parts.append(
            f"P(milestone) = share of {self.boot.predicted.size} bootstrap draws meeting it "
            f"= {self.probability:.3f}"
        )
        return "; ".join(parts) + " (docs/methods.md §16.4)."


def _clip(p: float) -> float:
    return min(max(p, EPS), 1.0 - EPS)


def trend_forecast(question: Question, now: dt.datetime | None = None) -> TrendForecast | None:
    """The trend bot's forecast for a yes/no milestone question at ``now`` (default: now), or
    None when it has none: not a yes/no benchmark milestone, a benchmark without a trend kind,
    fewer than two record results at different times."""
    now = now or timezone.now()
    benchmark = question.benchmark
    if (
        benchmark is None
        or not question.is_binary
        or question.threshold is None
        or question.deadline is None
        or not question.comparator
    ):
        return None
    kind = trend_kind(benchmark)
    if kind is None:
        return None
    deadline = question.deadline
    at = dt.datetime.combine(deadline, dt.time(12), tzinfo=dt.UTC)
    at_years = float(trend.years(at.timestamp()))
    seconds, values = benchmark_history(benchmark, now)
    met = [
        v
        for s, v in zip(seconds.tolist(), values.tolist(), strict=True)
        if s <= at.timestamp() and question.milestone_met_by(v)
    ]
    keep = trend.frontier(seconds, values, benchmark.higher_is_better)
    t, v = trend.years(seconds[keep]), values[keep]
    if met:
        return TrendForecast(question.pk, kind, t, v, None, None, at_years, math.nan, 1 - EPS, True)
    if np.unique(t).size < 2 or (kind == trend.LOG_LINEAR and not (v > 0).all()):
        return None
    fit = trend.fit_trend(t, v, kind)
    boot = trend.bootstrap(t, v, kind, at_years)
    p = trend.share_meeting(boot.predicted, question.milestone_met_by)
    value = float(fit.predict(at_years))
    return TrendForecast(question.pk, kind, t, v, fit, boot, at_years, value, _clip(p), False)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)


def _percentiles(samples: np.ndarray) -> tuple[float, float, float]:
    """The 5th, 50th and 95th percentiles of ``samples`` as order statistics (numpy's
    "inverted_cdf": the smallest sample with at least that share at or below it; ±inf kept)."""
    lo, mid, hi = np.percentile(samples, [5, 50, 95], method="inverted_cdf")
    return float(lo), float(mid), float(hi)


@dataclass(frozen=True)
class TypedTrendForecast:
    """The trend bot's forecast for a numeric or date milestone question, with its inputs: the
    frontier (``times`` in decimal years, ``values``), the ``fit`` (None when the outcome is
    already known), ``samples`` — one outcome per kept bootstrap draw in the question's units
    (value, or Unix seconds for a date; ±inf beyond an open bound), before the bounds are
    applied — ``record`` (numeric: the best result counted by the as-of date, the floor of every
    sample; None without one), ``known`` (date: the rule's verdict already gives the outcome),
    ``raw`` the empirical CDF of the samples at the 201 grid values and ``cdf`` the stored one
    (``distributions.standardise_cdf`` of ``raw``), docs/methods.md §16.4."""

    question_id: int
    kind: str
    times: np.ndarray
    values: np.ndarray
    fit: trend.TrendFit | None
    samples: np.ndarray
    record: float | None
    known: bool
    raw: np.ndarray
    cdf: np.ndarray

    @property
    def percentiles(self) -> tuple[float, float, float]:
        """5th, 50th, 95th percentiles of the samples (before the bounds)."""
        return _percentiles(self.samples)

    def rationale(self, question: Question) -> str:
        """The forecast's explanation, shown with it."""
        assert question.benchmark is not None
        benchmark = question.benchmark
        if self.known or self.fit is None:
            return (
                "The milestone rule already gives the outcome; the forecast puts its mass "
                "there (docs/methods.md §16.4)."
            )
        lo, mid, hi = self.percentiles
        parts = [
            f"{self.kind} trend of the best {benchmark.name} result over {self.fit.n} record "
            f"results, {self.samples.size} bootstrap draws"
        ]
        if question.type == Question.Type.DATE:

            def day(v: float) -> str:
                if v == math.inf:
                    return "never"
                return f"{dt.datetime.fromtimestamp(v, dt.UTC):%Y-%m-%d}"

            never = int(np.isinf(self.samples).sum())
            parts.append(
                f"date the trend first reaches {question.comparator} {question.threshold:g} "
                f"{benchmark.unit}: median {day(mid)}, 90% interval {day(lo)} to {day(hi)}"
                + (f" ({never} draws never reach it)" if never else "")
            )
        else:
            unit = benchmark.unit
            record = f"; record so far {self.record:g} {unit}" if self.record is not None else ""
            parts.append(
                f"best result on {question.deadline:%Y-%m-%d}: median {mid:,.1f} {unit}, "
                f"90% interval {lo:,.1f} to {hi:,.1f} {unit}{record}"
            )
        parts.append("CDF = the draws' empirical distribution, standardised")
        return "; ".join(parts) + " (docs/methods.md §16.4)."


def _grid_cdf(samples: np.ndarray, scale: distributions.Scale) -> np.ndarray:
    """The empirical CDF of ``samples`` on the question's grid: raw[i] = share ≤ v(x_i), except
    raw[0] = share < range_min (the mass below the range). Samples beyond a closed bound are
    counted at the bound (the rule cannot resolve beyond it)."""
    lo, hi = scale.range_min, scale.range_max
    kept = np.clip(
        samples,
        -math.inf if scale.open_lower else lo,
        math.inf if scale.open_upper else hi,
    )
    raw = trend.empirical_cdf(kept, scale.value(distributions.LOCATIONS))
    raw[0] = float(np.mean(kept < lo))
    if not scale.open_upper:
        raw[-1] = 1.0
    return raw


def _frontier(benchmark: Benchmark, now: dt.datetime) -> tuple[np.ndarray, np.ndarray, str] | None:
    kind = trend_kind(benchmark)
    if kind is None:
        return None
    seconds, values = benchmark_history(benchmark, now)
    keep = trend.frontier(seconds, values, benchmark.higher_is_better)
    t, v = trend.years(seconds[keep]), values[keep]
    if np.unique(t).size < 2 or (kind == trend.LOG_LINEAR and not (v > 0).all()):
        return None
    return t, v, kind


def _numeric_samples(
    question: Question, now: dt.datetime, t: np.ndarray, v: np.ndarray, kind: str
) -> tuple[np.ndarray, float | None]:
    """The best result on the as-of date per bootstrap draw: the draw's prediction at the
    deadline's noon (residual included), floored at the record counted by then."""
    benchmark = question.benchmark
    assert benchmark is not None and question.deadline is not None
    at = _noon(question.deadline)
    boot = trend.bootstrap(t, v, kind, float(trend.years(at.timestamp())))
    seconds, values = benchmark_history(benchmark, now)
    counted = values[seconds <= at.timestamp()]
    if not counted.size:
        return boot.predicted, None
    if benchmark.higher_is_better:
        record = float(counted.max())
        return np.maximum(boot.predicted, record), record
    record = float(counted.min())
    return np.minimum(boot.predicted, record), record


def _date_samples(
    question: Question, now: dt.datetime, t: np.ndarray, v: np.ndarray, kind: str
) -> np.ndarray:
    """The resolution date per bootstrap draw (Unix seconds): 00:00 UTC of the first day whose
    noon is at or after the draw's crossing (results sit at noon of their day; a date question
    resolves at 00:00 of it), at the earliest today; +inf for a draw that never reaches the
    threshold."""
    assert question.threshold is not None
    rising = Comparator(question.comparator) in (Comparator.GE, Comparator.GT)
    years = trend.crossing_years(t, v, kind, question.threshold, rising=rising)
    seconds = (years - 1970.0) * trend.YEAR_SECONDS
    today = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time.min, tzinfo=dt.UTC)
    finite = np.isfinite(seconds)
    days = np.full(seconds.shape, math.inf)
    days[finite] = np.ceil((seconds[finite] - DAY_SECONDS / 2) / DAY_SECONDS) * DAY_SECONDS
    return np.maximum(days, today.timestamp())


def _known_date(verdict: Verdict) -> float | None:
    """The date (Unix seconds) the date rule already gives: 00:00 UTC of the achievement day of
    the first result meeting the milestone (or when it was first seen, undated) — also when it
    lies beyond a closed bound and staff must decide — or +inf once the rule says "above" with
    none; None while undecided."""
    result = verdict.result
    if result is not None:
        if result.achieved_on is not None:
            day = dt.datetime.combine(result.achieved_on, dt.time.min, tzinfo=dt.UTC)
            return day.timestamp()
        assert verdict.seen_at is not None
        return verdict.seen_at.timestamp()
    if verdict.outcome == Resolution.Outcome.ABOVE:
        return math.inf
    return None


def typed_trend_forecast(
    question: Question, now: dt.datetime | None = None
) -> TypedTrendForecast | None:
    """The trend bot's forecast for a numeric ("best result on the benchmark as of the
    deadline") or date ("the date the benchmark first meets comparator threshold") milestone
    question at ``now`` (default: now), or None when it has none: another type (multiple
    choice and discrete are not forecast), no benchmark or a benchmark without a trend kind,
    fewer than two record results at different times. docs/methods.md §16.4."""
    now = now or timezone.now()
    benchmark = question.benchmark
    if benchmark is None or question.type not in TYPED:
        return None
    if question.type == Question.Type.NUMERIC and question.deadline is None:
        return None
    if question.type == Question.Type.DATE and (
        question.threshold is None or not question.comparator
    ):
        return None
    scale = question_scale(question)
    fitted = _frontier(benchmark, now)
    if fitted is None:
        return None
    t, v, kind = fitted
    record: float | None = None
    known = False
    fit: trend.TrendFit | None = None
    if question.type == Question.Type.DATE:
        verdict = typed_verdict(question, now=now)
        known_at = _known_date(verdict)
        if known_at is not None:
            known = True
            samples = np.array([known_at], dtype=np.float64)
        else:
            samples = _date_samples(question, now, t, v, kind)
    else:
        samples, record = _numeric_samples(question, now, t, v, kind)
    if not known:
        fit = trend.fit_trend(t, v, kind)
    raw = _grid_cdf(samples, scale)
    cdf = distributions.standardise_cdf(raw, scale)
    return TypedTrendForecast(question.pk, kind, t, v, fit, samples, record, known, raw, cdf)


def _current(question_id: int, forecaster: Forecaster) -> Forecast | None:
    return (
        Forecast.objects.filter(question_id=question_id, forecaster=forecaster)
        .order_by("-time", "-id")
        .only("probability", "values", "kind")
        .first()
    )


def _unchanged(current: Forecast | None, p: float | None, values: np.ndarray | None) -> bool:
    """Whether the bot's ``current`` forecast equals the new one within ``SAME`` (a withdrawal
    or no forecast never does)."""
    if current is None or current.kind != Forecast.Kind.FORECAST:
        return False
    if values is None:
        return current.probability is not None and abs(current.probability - float(p or 0)) <= SAME
    if current.values is None:
        return False
    old = distributions.from_bytes(bytes(current.values))
    return old.shape == values.shape and float(np.max(np.abs(old - values))) <= SAME


def _submit(
    question: Question,
    bot: Forecaster,
    p: float | None,
    rationale: str,
    values: np.ndarray | None = None,
) -> bool:
    """Submit the probability ``p`` (yes/no) or the ``values`` (a standardised CDF) unless the
    bot's current forecast is the same; False when nothing was written (the same forecast, or
    the question no longer takes forecasts)."""
    if _unchanged(_current(question.pk, bot), p, values):
        return False
    try:
        if values is None:
            forecast_submit(
                question_id=question.pk, forecaster=bot, probability=p, rationale=rationale
            )
        else:
            forecast_submit(
                question_id=question.pk,
                forecaster=bot,
                values=values.tolist(),
                rationale=rationale,
            )
    except ForecastError:
        return False  # closed meanwhile: nothing to refresh
    return True


def _open(now: dt.datetime, *types: str) -> Any:
    return Question.objects.filter(
        type__in=types,
        status=Question.Status.OPEN,
        open_time__lte=now,
        close_time__gt=now,
    ).select_related("tournament", "benchmark")


def _open_binary(now: dt.datetime) -> Any:
    return _open(now, Question.Type.BINARY)


def trend_bot_refresh(*, benchmark_ids: list[int] | None = None, now: Any = None) -> int:
    """Forecast every open yes/no, numeric and date milestone question on ``benchmark_ids``
    (None: every benchmark) with the trend bot. Returns the forecasts written."""
    now = now or timezone.now()
    bot = builtin_bot(TREND_BOT, TREND_DESCRIPTION)
    questions = _open(now, Question.Type.BINARY, *TYPED).filter(benchmark__isnull=False)
    if benchmark_ids is not None:
        questions = questions.filter(benchmark_id__in=benchmark_ids)
    written = 0
    for question in questions.order_by("pk"):
        if question.type == Question.Type.BINARY:
            forecast = trend_forecast(question, now)
            if forecast is not None:
                written += _submit(
                    question, bot, forecast.probability, forecast.rationale(question)
                )
            continue
        typed = typed_trend_forecast(question, now)
        if typed is not None:
            written += _submit(question, bot, None, typed.rationale(question), typed.cdf)
    return written


def base_rate(tournament_id: int) -> tuple[float, int, int]:
    """(rule-of-succession probability, YES count, resolved count) over the tournament's
    resolved yes/no questions, or over every tournament's when it has none."""
    finals = Resolution.objects.scored_finals().filter(question__type=Question.Type.BINARY)
    own = finals.filter(question__tournament_id=tournament_id)
    chosen = own if own.exists() else finals
    n = chosen.count()
    yes = chosen.filter(outcome=Resolution.Outcome.YES).count()
    return (yes + 1) / (n + 2), yes, n


def base_rate_bot_refresh(*, now: Any = None) -> int:
    """Forecast every open yes/no question with the base-rate bot. Returns forecasts written."""
    now = now or timezone.now()
    bot = builtin_bot(BASE_RATE_BOT, BASE_RATE_DESCRIPTION)
    rates: dict[int, tuple[float, int, int]] = {}
    written = 0
    for question in _open_binary(now).filter(~Q(tournament__isnull=True)).order_by("pk"):
        tid = question.tournament_id
        if tid not in rates:
            rates[tid] = base_rate(tid)
        p, yes, n = rates[tid]
        why = (
            f"Rule of succession over {n} resolved yes/no questions ({yes} YES): "
            f"({yes} + 1) / ({n} + 2) = {p:.3f} (docs/methods.md §16.5)."
        )
        written += _submit(question, bot, _clip(p), why)
    return written


def baselines_refresh(*, benchmark_ids: list[int] | None = None, now: Any = None) -> int:
    """Both baselines; returns the forecasts written."""
    return trend_bot_refresh(benchmark_ids=benchmark_ids, now=now) + base_rate_bot_refresh(now=now)
