"""The web forms for multiple-choice and continuous (numeric, date, discrete) forecasts.

They work without JavaScript. Each turns what the person typed into the payload the API takes
(``{"probabilities": [...]}``, or ``{"percentiles": {...}, "below": m, "above": m}``) and runs it
through ``forecasts.distributions.forecast_from_payload``, the parser the API uses, so the web
and the API accept and refuse the same forecasts (docs/methods.md §12.2, §12.4), with one addition:
the continuous form also refuses percentiles closer together than the 201-point grid can hold
(the saved CDF would miss a typed level by more than ``PERCENTILE_SLACK``), since a person typing
them would otherwise get a forecast they did not choose; the API returns the stored CDF. Every
refusal becomes a message on the field it is about; nothing is stored by a form: the view calls
``forecasts.services.forecast_submit`` with the cleaned vector.

No field has a default: a first forecast starts empty and every field is required, so an
untouched form saves nothing (the person must choose every number).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import numpy as np
from django import forms

from forecasts import distributions
from forecasts.typed_crowd import SUMMARY_LEVELS, question_scale
from markets.models import Question
from web.forms import PercentField

THOUSANDS = re.compile(r"[-+]?\d{1,3}(,\d{3})+(\.\d*)?")
# Rounding allowed in a typed total: 33.333 × 3 = 99.999 is 100% (then renormalised exactly).
SUM_SLACK = Decimal("0.01")
# How far (in probability) the saved CDF may miss a typed percentile before the form refuses it:
# the standardisation of §12.3 moves an uncapped CDF by at most 0.012; beyond this the caps of
# 20% per grid bucket have spread the mass elsewhere (percentiles closer than the grid holds).
PERCENTILE_SLACK = 0.05
LEVELS = tuple(SUMMARY_LEVELS)  # 0.05, 0.25, 0.5, 0.75, 0.95
LEVEL_FIELDS = {level: f"p{round(level * 100):02d}" for level in LEVELS}  # 0.05 → "p05"


def percent_text(p: float) -> str:
    """A probability as the text of a percent input: 0.3333333 → "33.333"."""
    d = (Decimal(repr(float(p))) * 100).quantize(Decimal("0.001"))
    return format(d.normalize(), "f")


def _rationale() -> forms.CharField:
    return forms.CharField(
        label="Rationale (optional)",
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "What moved you to this forecast?"}),
    )


class TypedForecastForm(forms.Form):
    """Shared by both forms: ``vector`` (after ``is_valid``) is the float64 vector to store."""

    question: Question
    vector: np.ndarray | None = None


class MultipleChoiceForm(TypedForecastForm):
    """One percent input per option (``option_0`` …), which must add up to 100%; or tick
    ``normalise`` to have them scaled to 100% in proportion."""

    normalise = forms.BooleanField(
        label="Scale my numbers to add up to 100%",
        required=False,
        help_text="Keeps their proportions: 20, 20 and 40 become 25%, 25% and 50%.",
    )
    rationale = _rationale()

    def __init__(self, *args: Any, question: Question, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        for k, label in enumerate(question.options):
            self.fields[f"option_{k}"] = PercentField(
                label=str(label),
                max_digits=7,
                decimal_places=3,
                error_messages={
                    "required": f"Enter a percentage for “{label}” (each option needs one).",
                    "invalid": f"“{label}”: that is not a number. Enter a percentage, e.g. 25.",
                    "max_digits": f"“{label}”: enter a percentage from 0.1 to 99.9.",
                    "max_decimal_places": f"“{label}”: use at most three decimals.",
                    "max_whole_digits": f"“{label}”: enter a percentage from 0.1 to 99.9.",
                },
                widget=forms.NumberInput(
                    attrs={"step": "any", "min": "0", "max": "100", "inputmode": "decimal"}
                ),
            )
        # The option inputs first, then the switch and the rationale.
        order = [f"option_{k}" for k in range(len(question.options))]
        self.order_fields([*order, "normalise", "rationale"])

    def option_fields(self) -> list[forms.BoundField]:
        return [self[f"option_{k}"] for k in range(len(self.question.options))]

    def field_of(self, error_field: str) -> str | None:
        """The form field a ``DistributionError.field`` is about (None: the whole form)."""
        if error_field.startswith("probabilities[") and error_field.endswith("]"):
            return f"option_{error_field[len('probabilities[') : -1]}"
        return None

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        names = [f"option_{k}" for k in range(len(self.question.options))]
        if any(name not in data for name in names):
            return data  # a field's own error says what is missing
        percents: list[Decimal] = [data[name] for name in names]
        negative = [k for k, p in enumerate(percents) if p < 0]
        for k in negative:
            label = self.question.options[k]
            self.add_error(f"option_{k}", f"“{label}”: a percentage cannot be negative.")
        if negative:
            return data
        total = sum(percents, Decimal(0))
        if total <= 0:
            raise forms.ValidationError("Your numbers add up to 0%: give each option a chance.")
        if abs(total - 100) > SUM_SLACK and not data.get("normalise"):
            raise forms.ValidationError(
                f"Your numbers add up to {format(total.normalize(), 'f')}%, not 100%. Change "
                "them so they add up to 100, or tick “Scale my numbers to add up to 100%”. "
                "Nothing was saved.",
                code="sum",
            )
        probabilities = [float(p / total) for p in percents]
        try:
            self.vector = distributions.forecast_from_payload(
                {"probabilities": probabilities},
                question_type=self.question.type,
                scale=None,
                n_options=len(names),
            )
        except distributions.DistributionError as error:
            message = str(error)
            if error.field.startswith("probabilities["):
                message = (
                    "Each option needs between 0.1% and 99.9% (after scaling to 100%): nothing "
                    "is certain or impossible."
                )
            self.add_error(self.field_of(error.field), message)
        return data


class _NumberField(forms.FloatField):
    """A number; tolerates spaces, underscores and commas between groups of three digits as
    thousands separators ("5 000", "1,000,000"), and otherwise one comma as the decimal mark
    ("2,5")."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().replace(" ", "").replace("_", "").replace("\u202f", "")
            if THOUSANDS.fullmatch(value):
                value = value.replace(",", "")
            elif value.count(",") == 1 and "." not in value:
                value = value.replace(",", ".")
        return super().to_python(value)


def _level_label(level: float) -> str:
    return {0.05: "5th", 0.25: "25th", 0.5: "50th (median)", 0.75: "75th", 0.95: "95th"}[level]


class ContinuousForm(TypedForecastForm):
    """Percentile inputs ``p05``, ``p25``, ``p50``, ``p75``, ``p95`` (dates as date inputs,
    midnight UTC), and for an open bound the chance ``below``/``above`` the range in percent
    (optional: left empty, the tail continues the distribution, docs/methods.md §12.4)."""

    rationale = _rationale()

    def __init__(self, *args: Any, question: Question, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.question = question
        self.scale = question_scale(question)
        self.is_date = question.type == Question.Type.DATE
        for level, name in LEVEL_FIELDS.items():
            label = f"{_level_label(level)} percentile"
            messages = {
                "required": f"Enter the {label}: all five percentiles are needed.",
                "invalid": f"The {label} is not a "
                + ("date (use YYYY-MM-DD)." if self.is_date else "number."),
            }
            if self.is_date:
                self.fields[name] = forms.DateField(
                    label=label,
                    # Only ISO dates (what a date input sends): 01/02/2028 is ambiguous.
                    input_formats=["%Y-%m-%d"],
                    error_messages=messages,
                    widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                )
            else:
                self.fields[name] = _NumberField(
                    label=label,
                    error_messages=messages,
                    widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
                )
        for name, is_open, where in (
            ("below", question.open_lower_bound, "below"),
            ("above", question.open_upper_bound, "above"),
        ):
            if is_open:
                self.fields[name] = PercentField(
                    label=f"Chance the outcome is {where} the range (optional, percent)",
                    required=False,
                    min_value=Decimal(0),
                    max_value=Decimal("99.9"),
                    max_digits=6,
                    decimal_places=3,
                    error_messages={
                        "invalid": f"The chance {where} the range is not a number (percent).",
                        "min_value": f"The chance {where} the range cannot be negative.",
                        "max_value": f"The chance {where} the range must be below 100%%.",
                    },
                    widget=forms.NumberInput(
                        attrs={"step": "any", "min": "0", "max": "99.9", "inputmode": "decimal"}
                    ),
                )
        self.order_fields([*LEVEL_FIELDS.values(), "below", "above", "rationale"])

    def percentile_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in LEVEL_FIELDS.values()]

    def bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("below", "above") if name in self.fields]

    def field_of(self, error_field: str) -> str | None:
        """The form field a ``DistributionError.field`` is about (None: the whole form)."""
        if error_field.startswith("percentiles[") and error_field.endswith("]"):
            try:
                level = float(error_field[len("percentiles[") : -1])
            except ValueError:
                return None
            return next((n for lv, n in LEVEL_FIELDS.items() if abs(lv - level) < 1e-9), None)
        if error_field in ("below", "above") and error_field in self.fields:
            return error_field
        return None

    def _value(self, raw: Any) -> float:
        if isinstance(raw, dt.date):
            return dt.datetime(raw.year, raw.month, raw.day, tzinfo=dt.UTC).timestamp()
        return float(raw)

    def _display(self, value: float) -> str:
        if self.is_date:
            return dt.datetime.fromtimestamp(value, tz=dt.UTC).strftime("%-d %b %Y")
        return f"{value:,.6g}"

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if any(name not in data for name in LEVEL_FIELDS.values()):
            return data
        percentiles = {f"{lv:g}": self._value(data[n]) for lv, n in LEVEL_FIELDS.items()}
        payload: dict[str, Any] = {"percentiles": percentiles}
        for name in ("below", "above"):
            if data.get(name) is not None:
                payload[name] = float(data[name] / Decimal(100))
        try:
            self.vector = distributions.forecast_from_payload(
                payload,
                question_type=self.question.type,
                scale=self.scale,
                n_options=None,
            )
        except distributions.DistributionError as error:
            self.add_error(self.field_of(error.field), self._message(error))
            return data
        self._check_fidelity(percentiles)
        return data

    def _check_fidelity(self, percentiles: dict[str, float]) -> None:
        """Refuse percentiles the 201-point grid cannot hold: where the saved CDF misses a
        typed level inside the range by more than ``PERCENTILE_SLACK`` (docs/methods.md §12.3:
        at most 20% per bucket), the person would get a forecast they did not choose."""
        assert self.vector is not None
        for key, value in percentiles.items():
            location = float(self.scale.location(value))
            if not 0.0 <= location <= 1.0:
                continue  # beyond an open bound the grid says nothing (§12.6)
            held = float(np.interp(location, distributions.LOCATIONS, self.vector))
            if abs(held - float(key)) > PERCENTILE_SLACK:
                self.vector = None
                bucket = (self.scale.range_max - self.scale.range_min) / 200
                step = (
                    (f"{bucket / 86400:.3g} days" if self.is_date else f"{bucket:.3g}")
                    if not self.scale.is_log
                    else "1/200 of the range"
                )
                raise forms.ValidationError(
                    "Your percentiles are too close together for this question's range: it is "
                    f"drawn in 200 steps (about {step} each here) and a step holds at most 20%, "
                    f"so your forecast would be saved with a {round(float(key) * 100)}th "
                    f"percentile far from what you typed. Spread them out. Nothing was saved.",
                    code="too_close",
                )

    def _message(self, error: distributions.DistributionError) -> str:
        """The engine's sentence in the page's words (its own names range_min/range_max and
        raw numbers mean little on a form; dates are shown as dates)."""
        text = str(error)
        lo, hi = self.scale.range_min, self.scale.range_max
        if "must be above the" in text:
            later = "later" if self.is_date else "larger"
            return f"Each percentile must be {later} than the one before it."
        if "lower bound is closed" in text:
            return (
                f"Every percentile must be above the lower end of the range, {self._display(lo)}."
            )
        if "upper bound is closed" in text:
            return (
                f"Every percentile must be below the upper end of the range, {self._display(hi)}."
            )
        if "contradicts the percentiles" in text:
            return (
                "This chance contradicts your percentiles: e.g. a 5th percentile inside the range "
                "means at most 5% below it."
            )
        if "zero point" in text:
            return "This value is outside what the question's log scale can show."
        return text


def typed_form_class(question: Question) -> type[TypedForecastForm]:
    """The form for ``question``'s type (multiple choice or continuous)."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return MultipleChoiceForm
    return ContinuousForm


def initial_from_vector(question: Question, values: np.ndarray) -> dict[str, Any]:
    """The form's initial data for a stored forecast (the person's current or last forecast):
    the option percentages, or the five percentiles and the masses beyond open bounds. A mass
    that would contradict its neighbouring percentile once rounded is left empty."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return {f"option_{k}": percent_text(p) for k, p in enumerate(values)}
    scale = question_scale(question)
    qs = distributions.quantiles(values, list(LEVELS), scale)
    initial: dict[str, Any] = {}
    for level, value in zip(LEVELS, qs, strict=True):
        name = LEVEL_FIELDS[level]
        if question.type == Question.Type.DATE:
            initial[name] = dt.datetime.fromtimestamp(float(value), tz=dt.UTC).date()
        else:
            # Four significant digits: what a person would type, and still in order.
            initial[name] = f"{float(value):.4g}"
    below, above = float(values[0]), 1.0 - float(values[-1])
    if question.open_lower_bound and below < LEVELS[0] - 0.001:
        initial["below"] = percent_text(round(below, 3))
    if question.open_upper_bound and above < 1 - LEVELS[-1] - 0.001:
        initial["above"] = percent_text(round(above, 3))
    return initial


__all__ = [
    "ContinuousForm",
    "MultipleChoiceForm",
    "TypedForecastForm",
    "initial_from_vector",
    "percent_text",
    "typed_form_class",
]
