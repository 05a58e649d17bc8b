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
from forecasts.typed_crowd import SUMMARY_LEVELS, question_scale
from markets.models import Question, Resolution
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
    "outcome_text",
    "own_view",
    "range_text",
    "typed_form_for",
    "typed_view",
    "value_text",
]
