"""API representations of forecasts and the crowd history."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from api.serializers.typed import (
    TYPED_INPUTS,
    CdfInput,
    ComponentsInput,
    MassInput,
    PercentilesInput,
    ProbabilitiesInput,
)
from forecasts.models import EPS, CrowdPoint, Forecast


class ForecastSerializer(serializers.Serializer):
    """One forecast event. Declared field by field: it answers every submission, and a
    ``ModelSerializer`` rebuilds its fields from the model on each use (twice the CPU)."""

    id = serializers.IntegerField(read_only=True)
    question = serializers.IntegerField(source="question_id", read_only=True)
    question_key = serializers.CharField(source="question.key", read_only=True)
    tournament = serializers.CharField(source="question.tournament.slug", read_only=True)
    kind = serializers.ChoiceField(choices=Forecast.Kind.choices, read_only=True)
    probability = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Empty for a withdrawal."
    )
    time = serializers.DateTimeField(read_only=True)
    rationale = serializers.CharField(read_only=True)


# JSON types are taken as given: "0.5" is not a number and 7 is not a rationale. DRF's fields
# coerce, which would accept requests the schema says are invalid.


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # NUL cannot be stored in a PostgreSQL text column and never means anything in prose.
        return super().to_internal_value(data.replace("\x00", ""))


class ForecastSubmitSerializer(serializers.Serializer):
    """A forecast: ``probability`` for a yes/no question; ``probabilities`` for a multiple-choice
    one; exactly one of ``cdf``, ``percentiles`` (with ``below``/``above`` optional) or
    ``components`` for a numeric, date or discrete one (docs/methods.md §12.8)."""

    question = StrictIntegerField(min_value=1, max_value=2**63 - 1, help_text="Question id.")
    probability = StrictFloatField(
        min_value=EPS,
        max_value=1 - EPS,
        required=False,
        help_text="Yes/no questions: probability of YES, from 0.001 to 0.999 (not a percentage).",
    )
    probabilities = ProbabilitiesInput(required=False)
    cdf = CdfInput(required=False)
    percentiles = PercentilesInput(required=False)
    below = MassInput(required=False)
    above = MassInput(required=False)
    components = ComponentsInput(required=False)
    rationale = StrictCharField(required=False, allow_blank=True, default="", max_length=10_000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in TYPED_INPUTS if name in attrs]
        if "probability" not in attrs and not given:
            raise serializers.ValidationError({"probability": ["This field is required."]})
        if "probability" in attrs and given:
            raise serializers.ValidationError(
                {given[0]: ["Give a probability (yes/no questions) or a distribution, not both."]}
            )
        return attrs


class ForecastWithdrawSerializer(serializers.Serializer):
    question = StrictIntegerField(min_value=1, max_value=2**63 - 1, help_text="Question id.")


class CrowdPointSerializer(serializers.ModelSerializer):
    class Meta:
        model = CrowdPoint
        fields = ["seq", "time", "forecasters", "probability", "median", "mean"]
        read_only_fields = fields


class HiddenCrowdSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the crowd forecast is hidden from you.")
    hidden = serializers.BooleanField()


class ExportManifestSerializer(serializers.Serializer):
    """The manifest written next to an export (see forecasts.exports)."""

    manifest_version = serializers.IntegerField()
    kind = serializers.CharField()
    tournament = serializers.CharField()
    question = serializers.CharField(allow_null=True)
    questions = serializers.ListField(child=serializers.CharField())
    format = serializers.ChoiceField(choices=["csv", "json", "parquet"])
    series = serializers.ChoiceField(
        choices=["full", "public"],
        help_text="full: every history point; public: the public series (docs/privacy.md).",
    )
    columns = serializers.ListField(child=serializers.CharField())
    method = serializers.DictField()
    software = serializers.DictField(child=serializers.CharField())
    as_of = serializers.CharField()
    input = serializers.DictField()
    rows = serializers.IntegerField()
    output = serializers.DictField()
    formatting = serializers.DictField(child=serializers.CharField())


# The request body as documented: one alternative per payload kind (``ForecastSubmitSerializer``
# validates them all at once). Which one fits depends on the question's type.


class _SubmitBase(serializers.Serializer):
    question = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Question id.")
    rationale = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class BinarySubmitSerializer(_SubmitBase):
    """Yes/no questions."""

    probability = serializers.FloatField(
        min_value=EPS,
        max_value=1 - EPS,
        help_text="Probability of YES, from 0.001 to 0.999 (not a percentage).",
    )


class MultipleChoiceSubmitSerializer(_SubmitBase):
    """Multiple-choice questions."""

    probabilities = ProbabilitiesInput()


class CdfSubmitSerializer(_SubmitBase):
    """Numeric, date and discrete questions: the CDF itself."""

    cdf = CdfInput()


class PercentilesSubmitSerializer(_SubmitBase):
    """Numeric, date and discrete questions: percentiles, and the mass beyond an open bound."""

    percentiles = PercentilesInput()
    below = MassInput(required=False)
    above = MassInput(required=False)


class ComponentsSubmitSerializer(_SubmitBase):
    """Numeric, date and discrete questions: a mixture of logistic components."""

    components = ComponentsInput()
