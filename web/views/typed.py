"""What the question page shows of a multiple-choice or continuous question: the crowd the
viewer may see (the same point as the headline, docs/privacy.md), the outcome in words, the
viewer's own forecast and the form to make one (``web.typed_forms``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from forecasts import distributions, typed
from forecasts.models import Forecast
from forecasts.selectors import CrowdAt
from forecasts.typed_crowd import SUMMARY_LEVELS, crowd_at, question_scale
from forecasts.vector_pooling import quantile_locations
from markets.benchmarks.models import plot_time
from markets.models import BenchmarkResult, Question, Resolution
from web import charts, typed_charts
from web.typed_charts import Bench
from web.typed_forms import TypedForecastForm, initial_from_vector, typed_form_class


@dataclass(frozen=True)
class TypedView:
    """``options``: (label, probability) per option (multiple choice); ``quantiles``: (level
    label, value text) at 5, 25, 50, 75 and 95% and ``below``/``above`` the mass beyond the
    range (continuous); ``forecasters`` at that point."""

    forecasters: int
    options: list[tuple[str, float]]
    quantiles: list[tuple[str, str]]
    below: float | None
    above: float | None


def value_text(question: Question, value: float) -> str:
    """A value of a continuous question in words: a date (UTC) for a date question, else the
    number with up to 4 significant digits (thousands separated)."""
    if question.type == Question.Type.DATE:
        if not math.isfinite(value):
            return "—"
        return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%-d %b %Y")
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def typed_view(question: Question, headline: CrowdAt | None) -> TypedView | None:
    """The crowd of ``question`` at the viewer's headline point, or None when there is none
    (no point, nobody active then, or a yes/no question)."""
    if question.is_binary or headline is None or headline.summary is None:
        return None
    summary = typed.from_bytes(headline.summary)
    if question.type == Question.Type.MULTIPLE_CHOICE:
        options = [
            (str(label), float(p)) for label, p in zip(question.options, summary, strict=True)
        ]
        return TypedView(headline.forecasters, options, [], None, None)
    scale = question_scale(question)
    locations = np.clip(summary[: len(SUMMARY_LEVELS)], 0.0, 1.0)
    values = np.atleast_1d(scale.value(locations))
    quantiles = [
        (f"{round(level * 100)}%", value_text(question, float(v)))
        for level, v in zip(SUMMARY_LEVELS, values, strict=True)
    ]
    below, above = float(summary[-2]), float(summary[-1])
    return TypedView(
        headline.forecasters,
        [],
        quantiles,
        below if question.open_lower_bound else None,
        above if question.open_upper_bound else None,
    )


def outcome_text(question: Question, resolution: Resolution | None) -> str:
    """A final outcome in words: YES/NO, the option's label, the value, or below/above the
    range ("" without a resolution)."""
    if resolution is None:
        return ""
    kind = resolution.outcome
    if kind == Resolution.Outcome.OPTION and resolution.option is not None:
        options = question.options or []
        return str(options[resolution.option]) if resolution.option < len(options) else "?"
    if kind == Resolution.Outcome.VALUE and resolution.value is not None:
        return value_text(question, resolution.value)
    if kind == Resolution.Outcome.BELOW:
        return "below the range"
    if kind == Resolution.Outcome.ABOVE:
        return "above the range"
    return str(kind).upper()


def range_text(question: Question) -> str:
    """A continuous question's range in words, e.g. "from 0 to 100, open above" ("" for the
    other types)."""
    if not question.is_continuous or question.range_min is None or question.range_max is None:
        return ""
    lo, hi = value_text(question, question.range_min), value_text(question, question.range_max)
    opened = [
        side
        for side, is_open in (
            ("below", question.open_lower_bound),
            ("above", question.open_upper_bound),
        )
        if is_open
    ]
    return f"from {lo} to {hi}" + (f", open {' and '.join(opened)}" if opened else "")


def own_view(question: Question, forecast: Forecast | None) -> TypedView | None:
    """The viewer's forecast ``forecast`` (a stored vector) in the shape of ``TypedView``, or
    None without one: the option probabilities, or its quantiles and masses beyond open
    bounds."""
    if forecast is None or forecast.values is None:
        return None
    values = typed.from_bytes(forecast.values)
    if question.type == Question.Type.MULTIPLE_CHOICE:
        options = [
            (str(label), float(p)) for label, p in zip(question.options, values, strict=True)
        ]
        return TypedView(1, options, [], None, None)
    scale = question_scale(question)
    qs = distributions.quantiles(values, list(SUMMARY_LEVELS), scale)
    quantiles = [
        (f"{round(level * 100)}%", value_text(question, float(v)))
        for level, v in zip(SUMMARY_LEVELS, qs, strict=True)
    ]
    return TypedView(
        1,
        [],
        quantiles,
        float(values[0]) if question.open_lower_bound else None,
        1.0 - float(values[-1]) if question.open_upper_bound else None,
    )


def crowd_cdf(question: Question, headline: object) -> np.ndarray | None:
    """The crowd's full pooled CDF (float64[201]) of a continuous question at the viewer's
    headline: the live state's vector, or the crowd recomputed from the log as of the history
    point the viewer is shown (``forecasts.typed_crowd.crowd_at``: whoever may see a point may
    see this). None when nobody is active there."""
    raw = getattr(headline, "vector", None)
    if raw is not None:
        return typed.from_bytes(raw)
    seq = getattr(headline, "seq", None)
    if not seq:
        return None
    crowd = crowd_at(question, seq)
    return None if crowd is None else typed.crowd_vector(question, crowd.pooled)


def benchmark_of(question: Question) -> Bench | None:
    """The results of the question's benchmark for its charts (None without one)."""
    if question.benchmark_id is None:
        return None
    benchmark = question.benchmark
    results = sorted(
        (plot_time(achieved_on, first_seen), value, system)
        for system, value, achieved_on, first_seen in BenchmarkResult.objects.filter(
            benchmark=benchmark, is_current=True
        ).values_list("system", "value", "achieved_on", "first_seen")
    )
    return Bench(
        name=benchmark.name,
        unit=benchmark.unit,
        results=results,
        threshold=question.threshold,
        higher_is_better=benchmark.higher_is_better,
    )


def typed_charts_for(
    question: Question,
    *,
    start: dt.datetime,
    end: dt.datetime,
    crowd: list[tuple],
    events: list[Forecast],
    current: Forecast | None,
    headline: object,
    hidden_reason: str,
) -> dict[str, object]:
    """The charts of a multiple-choice or continuous question page: ``typed_chart``, the crowd
    over time (each option, or the fan chart), and for a continuous question
    ``density_chart``, the crowd's current distribution against yours. ``crowd``: (time,
    summary bytes or None) history rows the viewer may see (``crowd_series(summary=True)``)."""
    rows = [(t, None if raw is None else typed.from_bytes(raw)) for t, raw in crowd]
    mc = question.type == Question.Type.MULTIPLE_CHOICE
    own: list[tuple[dt.datetime, np.ndarray | None]] = []
    for e in events:
        if e.kind != Forecast.Kind.FORECAST or e.values is None:
            own.append((e.time, None))
            continue
        values = typed.from_bytes(e.values)
        own.append((e.time, values if mc else quantile_locations(values, SUMMARY_LEVELS)))
    if mc:
        chart = charts.responsive(
            typed_charts.options_chart,
            uid="qchart",
            labels=[str(label) for label in question.options],
            start=start,
            end=end,
            crowd=rows,
            own=own,
            hidden_reason=hidden_reason,
        )
        return {"typed_chart": chart, "density_chart": None}
    bench = benchmark_of(question)
    chart = charts.responsive(
        typed_charts.fan_chart,
        uid="qchart",
        question=question,
        start=start,
        end=end,
        crowd=[(t, None if v is None else v[:5]) for t, v in rows],
        own=own,
        bench=bench if bench is not None and question.type != Question.Type.DATE else None,
        hidden_reason=hidden_reason,
    )
    curves = []
    pooled = crowd_cdf(question, headline) if headline is not None else None
    if pooled is not None:
        curves.append(typed_charts.Curve("area crowd", "crowd", pooled))
    if current is not None and current.values is not None:
        curves.append(
            typed_charts.Curve("line own-density", "you", typed.from_bytes(current.values))
        )
    density = None
    date_bench = bench if bench is not None and question.type == Question.Type.DATE else None
    if curves or date_bench is not None:
        density = charts.responsive(
            typed_charts.density_chart,
            uid="qdensity",
            question=question,
            curves=curves,
            bench=date_bench,
        )
    return {"typed_chart": chart, "density_chart": density}


def headline_text(question: Question, view: TypedView | None) -> str:
    """A multiple-choice or continuous forecast for a list's narrow column: the leading option
    and its probability ("Org B 41%"), or the median ("median 84.1"); "" without one."""
    if view is None:
        return ""
    if view.options:
        label, p = max(view.options, key=lambda option: option[1])
        short = label if len(label) <= 18 else label[:17] + "…"
        return f"{short} {p * 100:.0f}%"
    return f"median {dict(view.quantiles)['50%']}"


def forecast_text(question: Question, forecast: Forecast) -> str:
    """A stored multiple-choice or continuous forecast in a few words for the viewer's history:
    "A 50% · B 30% · C 20%", or "median 42 (90%: 10 to 85)"."""
    if forecast.values is None:
        return ""
    view = own_view(question, forecast)
    if view is None:
        return ""
    if view.options:
        parts = (f"{label} {p * 100:.1f}%".replace(".0%", "%") for label, p in view.options)
        return " · ".join(parts)
    q = dict(view.quantiles)
    return f"median {q['50%']} (90%: {q['5%']} to {q['95%']})"


def typed_form_for(question: Question, events: list[Forecast]) -> TypedForecastForm:
    """The unbound forecast form of a multiple-choice or continuous question, pre-filled with
    the viewer's own forecast: the current one, or after a withdrawal the last one made. Never
    with the crowd's (it would anchor) nor any default: a first forecast starts empty."""
    last = next((e for e in reversed(events) if e.kind == Forecast.Kind.FORECAST), None)
    initial = {}
    if last is not None and last.values is not None:
        initial = initial_from_vector(question, typed.from_bytes(last.values))
    return typed_form_class(question)(initial=initial, question=question)


__all__ = [
    "TypedView",
    "forecast_text",
    "headline_text",
    "outcome_text",
    "own_view",
    "range_text",
    "typed_charts_for",
    "typed_form_for",
    "typed_view",
    "value_text",
]
