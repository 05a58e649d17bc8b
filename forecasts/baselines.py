"""The built-in baseline forecasters (docs/methods.md §16.4–§16.5): bots with no owner, shown as
bots, whose forecasts go through ``forecast_submit`` and are scored like anyone's.

- **trend-bot** forecasts every open yes/no benchmark milestone question from the benchmark's
  own history (``forecasts.trend``): a log-linear trend of the best result over time for time
  horizons (unit in minutes, hours or seconds), a logistic trend for percentage benchmarks
  (unit with "%"), uncertainty from a bootstrap over the frontier results. Refreshed by
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

from forecasts import trend
from forecasts.bots import builtin_bot
from forecasts.errors import ForecastError
from forecasts.models import EPS, Forecast, Forecaster
from forecasts.services import forecast_submit
from markets.models import Benchmark, BenchmarkResult, Question, Resolution

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


def _current_probability(question_id: int, forecaster: Forecaster) -> float | None:
    last = (
        Forecast.objects.filter(question_id=question_id, forecaster=forecaster)
        .order_by("-time", "-id")
        .values_list("probability", flat=True)
        .first()
    )
    return last


def _submit(question: Question, bot: Forecaster, p: float, rationale: str) -> bool:
    """Submit unless the bot's current forecast is the same; False when nothing was written
    (the same forecast, or the question no longer takes forecasts)."""
    current = _current_probability(question.pk, bot)
    if current is not None and abs(current - p) <= SAME:
        return False
    try:
        forecast_submit(question_id=question.pk, forecaster=bot, probability=p, rationale=rationale)
    except ForecastError:
        return False  # closed meanwhile: nothing to refresh
    return True


def _open_binary(now: dt.datetime) -> Any:
    return Question.objects.filter(
        type=Question.Type.BINARY,
        status=Question.Status.OPEN,
        open_time__lte=now,
        close_time__gt=now,
    ).select_related("tournament", "benchmark")


def trend_bot_refresh(*, benchmark_ids: list[int] | None = None, now: Any = None) -> int:
    """Forecast every open yes/no milestone question on ``benchmark_ids`` (None: every
    benchmark) with the trend bot. Returns the forecasts written."""
    now = now or timezone.now()
    bot = builtin_bot(TREND_BOT, TREND_DESCRIPTION)
    questions = _open_binary(now).filter(benchmark__isnull=False)
    if benchmark_ids is not None:
        questions = questions.filter(benchmark_id__in=benchmark_ids)
    written = 0
    for question in questions.order_by("pk"):
        forecast = trend_forecast(question, now)
        if forecast is not None:
            written += _submit(question, bot, forecast.probability, forecast.rationale(question))
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
