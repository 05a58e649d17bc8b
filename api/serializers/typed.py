"""API representations of multiple-choice and continuous questions, forecasts and crowds
(docs/methods.md §12, §13; docs/researcher-guide.md, "Question types").

Continuous values are in the question's units; a date question's are ISO 8601 strings (UTC),
its range also in Unix seconds. Quantiles are keyed by level: "0.05", "0.25", "0.5", "0.75",
"0.95".
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from forecasts import distributions, typed
from forecasts.typed_crowd import (
    COMPARATORS_MIN,
    SUMMARY_LEVELS,
    TypedCrowd,
    continuous_view,
    crowd_at,
    iso_of,
    summary_view,
)
from markets.models import Question

VALUE_SCHEMA = {
    "oneOf": [
        {"type": "number"},
        {"type": "string", "description": "ISO 8601 date-time (date questions)"},
    ]
}


@extend_schema_field(VALUE_SCHEMA)
class ValueField(serializers.JSONField):
    """A value of a continuous question: a number, or for a date question an ISO 8601 string.
    Taken as given on input; ``forecasts.distributions`` checks it and names the field."""


@extend_schema_field({**VALUE_SCHEMA, "nullable": True})
class NullableValueField(serializers.JSONField):
    """``ValueField`` that may be null."""


QuantilesSerializer = type(
    "QuantilesSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Values at the 5th, 25th, 50th, 75th and 95th percentiles (value units; "
        "dates as ISO 8601). Clamped to the range when the mass beyond a bound exceeds the level.",
        **{f"{level:g}": ValueField() for level in SUMMARY_LEVELS},
    },
)


class ScaleSerializer(serializers.Serializer):
    """The range of a continuous question (docs/methods.md §12.1)."""

    range_min = serializers.FloatField(help_text="Lower end (dates: Unix seconds).")
    range_max = serializers.FloatField(help_text="Upper end (dates: Unix seconds).")
    open_lower_bound = serializers.BooleanField(help_text="The value may fall below the range.")
    open_upper_bound = serializers.BooleanField(help_text="The value may fall above the range.")
    zero_point = serializers.FloatField(
        allow_null=True, help_text="Log scale: the zero point z outside the range; null: linear."
    )
    range_min_iso = serializers.CharField(
        allow_null=True, help_text="Date questions: range_min as ISO 8601; null otherwise."
    )
    range_max_iso = serializers.CharField(
        allow_null=True, help_text="Date questions: range_max as ISO 8601; null otherwise."
    )


def scale_data(q: Question) -> dict[str, Any] | None:
    """``ScaleSerializer`` data of a continuous question; None for the others."""
    if not q.is_continuous:
        return None
    assert q.range_min is not None and q.range_max is not None
    is_date = q.type == Question.Type.DATE
    return {
        "range_min": q.range_min,
        "range_max": q.range_max,
        "open_lower_bound": q.open_lower_bound,
        "open_upper_bound": q.open_upper_bound,
        "zero_point": q.zero_point,
        "range_min_iso": iso_of(q.range_min) if is_date else None,
        "range_max_iso": iso_of(q.range_max) if is_date else None,
    }


# --- the crowd -------------------------------------------------------------------------------


class OptionProbabilitySerializer(serializers.Serializer):
    option = serializers.CharField(help_text="The option's label.")
    probability = serializers.FloatField(help_text="Log pool p*_k (docs/methods.md §13.3).")
    linear_pool = serializers.FloatField(
        required=False,
        help_text="Detail view: the linear pool (weighted mean), a comparator. Without "
        "full-history access only from 4 forecasters (docs/privacy.md).",
    )
    median = serializers.FloatField(
        required=False,
        help_text="Detail view: the per-option median, renormalised to sum 1, a comparator. "
        "Without full-history access only from 4 forecasters (docs/privacy.md).",
    )


class MultipleChoiceCrowdSerializer(serializers.Serializer):
    """The crowd of a multiple-choice question: one entry per option, in option order."""

    probabilities = OptionProbabilitySerializer(many=True)
    forecasters = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ContinuousSummarySerializer(serializers.Serializer):
    quantiles = QuantilesSerializer()
    mean = ValueField(help_text="Mean of the forecast clamped to the range (§12.6).")
    below = serializers.FloatField(help_text="P(value below the range).")
    above = serializers.FloatField(help_text="P(value above the range).")


class ContinuousCrowdSerializer(serializers.Serializer):
    """The crowd of a numeric, date or discrete question: the log pool of the PMFs
    (docs/methods.md §13.3)."""

    quantiles = QuantilesSerializer()
    mean = ValueField(help_text="Mean of the pooled forecast clamped to the range (§12.6).")
    below = serializers.FloatField(help_text="P(value below the range).")
    above = serializers.FloatField(help_text="P(value above the range).")
    cdf = serializers.ListField(
        child=serializers.FloatField(),
        required=False,
        help_text="Detail view: the pooled CDF at the 201 grid points (cdf[0] = P(below)).",
    )
    linear_pool = ContinuousSummarySerializer(
        required=False,
        help_text="Detail view: the linear pool (mean of the CDFs), a comparator. Without "
        "full-history access only from 4 forecasters (docs/privacy.md).",
    )
    forecasters = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


def _pooled(q: Question, headline: Any) -> tuple[Any, TypedCrowd | None]:
    """(stored crowd vector or None, recomputed crowd or None) of a headline: the live state's
    vector when it is the live state, else the crowd recomputed at the headline's point."""
    raw = getattr(headline, "vector", None)
    if raw is not None:
        return typed.from_bytes(raw), None
    seq = getattr(headline, "seq", None)
    if seq is None:
        return None, None
    crowd = crowd_at(q, seq)
    if crowd is None:
        return None, None
    return typed.crowd_vector(q, crowd.pooled), crowd


def typed_crowd_data(
    q: Question, headline: Any, *, detail: bool, full_access: bool = False
) -> dict[str, Any] | None:
    """The crowd of a multiple-choice or continuous question for a viewer whose headline
    (``forecasts.selectors.crowd_headlines``) is ``headline``: the live ``CrowdState`` (full
    access) or a history point (``CrowdAt``; the public series for everyone else). None when
    nobody is active there. ``detail`` adds the comparators, and for continuous questions the
    full pooled CDF (recomputed from the log at that point, ``forecasts.typed_crowd``). Without
    ``full_access`` (``forecasts.privacy.full_history_access``) the comparators are left out of
    a crowd of fewer than ``COMPARATORS_MIN`` forecasters (docs/privacy.md)."""
    vector, crowd = _pooled(q, headline)
    if vector is None:
        return None
    if not full_access and int(headline.forecasters) < COMPARATORS_MIN:
        detail_comparators = False
    else:
        detail_comparators = detail
    if detail_comparators and crowd is None:
        seq = getattr(headline, "events", None) or getattr(headline, "seq", None)
        crowd = crowd_at(q, seq) if seq else None
    out: dict[str, Any]
    if q.type == Question.Type.MULTIPLE_CHOICE:
        rows = []
        for k, label in enumerate(q.options):
            row: dict[str, Any] = {"option": label, "probability": float(vector[k])}
            if detail_comparators and crowd is not None:
                row["linear_pool"] = float(crowd.linear[k])
                assert crowd.median is not None
                row["median"] = float(crowd.median[k])
            rows.append(row)
        out = {"probabilities": rows}
    else:
        out = continuous_view(q, vector)
        if detail:
            out["cdf"] = [float(x) for x in vector]
            if detail_comparators and crowd is not None:
                out["linear_pool"] = continuous_view(q, typed.crowd_vector(q, crowd.linear))
    out["forecasters"] = int(headline.forecasters)
    out["updated_at"] = serializers.DateTimeField().to_representation(headline.updated_at)
    return out


# --- history points --------------------------------------------------------------------------


class MultipleChoicePointSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    forecasters = serializers.IntegerField()
    probabilities = serializers.ListField(
        child=serializers.FloatField(),
        allow_null=True,
        help_text="The pooled probability of each option, in option order; null when nobody "
        "is active.",
    )


class ContinuousPointSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    time = serializers.DateTimeField()
    forecasters = serializers.IntegerField()
    quantiles = QuantilesSerializer(allow_null=True, help_text="Null when nobody is active.")
    below = serializers.FloatField(allow_null=True)
    above = serializers.FloatField(allow_null=True)


def typed_point_data(q: Question, points: list[Any]) -> list[dict[str, Any]]:
    """History points of a multiple-choice or continuous question as the API shows them."""
    time = serializers.DateTimeField()
    out = []
    for p in points:
        row: dict[str, Any] = {
            "seq": p.seq,
            "time": time.to_representation(p.time),
            "forecasters": p.forecasters,
        }
        summary = None if p.summary is None else typed.from_bytes(p.summary)
        if q.type == Question.Type.MULTIPLE_CHOICE:
            row["probabilities"] = None if summary is None else [float(x) for x in summary]
        elif summary is None:
            row.update(quantiles=None, below=None, above=None)
        else:
            row.update(summary_view(q, summary))
        out.append(row)
    return out


# --- forecasts -------------------------------------------------------------------------------


class TypedForecastSerializer(serializers.Serializer):
    """One forecast on a multiple-choice or continuous question, as stored."""

    id = serializers.IntegerField()
    question = serializers.IntegerField()
    question_key = serializers.CharField()
    tournament = serializers.CharField()
    kind = serializers.ChoiceField(choices=["forecast"])
    values = serializers.ListField(
        child=serializers.FloatField(),
        help_text="Multiple choice: the option probabilities (renormalised to sum 1). "
        "Continuous: the standardised CDF at the 201 grid points (docs/methods.md §12.3).",
    )
    quantiles = QuantilesSerializer(allow_null=True, help_text="Continuous only; else null.")
    mean = NullableValueField(help_text="Continuous only; else null.")
    below = serializers.FloatField(allow_null=True, help_text="Continuous: P(below the range).")
    above = serializers.FloatField(allow_null=True, help_text="Continuous: P(above the range).")
    time = serializers.DateTimeField()
    rationale = serializers.CharField()


def typed_forecast_data(event: Any, base: dict[str, Any]) -> dict[str, Any]:
    """``TypedForecastSerializer`` data of a forecast event with stored values; ``base`` is
    the binary representation (id, question, key, tournament, kind, time, rationale)."""
    q = event.question
    values = typed.from_bytes(event.values)
    out = {k: v for k, v in base.items() if k != "probability"}
    extra: dict[str, Any] = {"quantiles": None, "mean": None, "below": None, "above": None}
    if q.is_continuous:
        extra = continuous_view(q, values)
    out = {
        **{k: out[k] for k in ("id", "question", "question_key", "tournament", "kind")},
        "values": [float(x) for x in values],
        **extra,
        "time": out["time"],
        "rationale": out["rationale"],
    }
    return out


# --- submitting ------------------------------------------------------------------------------


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number"},
        "description": "Multiple choice: one probability per option, in option order, each in "
        "[0.001, 0.999], summing to 1 (±1e-6; renormalised).",
    }
)
class ProbabilitiesInput(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "number"},
        "minItems": distributions.GRID,
        "maxItems": distributions.GRID,
        "description": "Continuous: the CDF at the 201 evenly spaced internal locations "
        "(cdf[0] = P(X < min), cdf[200] = P(X ≤ max)); standardised before it is stored.",
    }
)
class CdfInput(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": VALUE_SCHEMA,
        "description": "Continuous: value at each percentile level, keyed by level; at least "
        '"0.05", "0.25", "0.5", "0.75" and "0.95" (dates: ISO 8601 or Unix seconds).',
    }
)
class PercentilesInput(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "array", "items": VALUE_SCHEMA, "minItems": 3, "maxItems": 3},
        "maxItems": distributions.MAX_COMPONENTS,
        "description": "Continuous: a mixture of logistic components [weight, center, scale] "
        "(center in value units; dates: ISO 8601 or Unix seconds; scale on the internal [0, 1] "
        "scale).",
    }
)
class ComponentsInput(serializers.JSONField):
    pass


@extend_schema_field({"type": "number", "description": "With percentiles: P(below the range)."})
class MassInput(serializers.JSONField):
    pass


TYPED_INPUTS = ("probabilities", "cdf", "percentiles", "below", "above", "components")
