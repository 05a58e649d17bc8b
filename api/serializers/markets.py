"""API representations of tournaments, questions, benchmarks and resolutions (read-only)."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from api.serializers.typed import (
    ContinuousCrowdSerializer,
    MultipleChoiceCrowdSerializer,
    NullableValueField,
    ScaleSerializer,
    scale_data,
    typed_crowd_data,
)
from forecasts import distributions
from forecasts.selectors import crowd_headlines
from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    Conditional,
    Question,
    Resolution,
    Tournament,
)

ROLES = ("parent", "child", "if_yes", "if_no")


def conditionals_by_question(question_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """For each of ``question_ids``, the conditional pairs it is part of (one query):
    ``{question id: [{id, role, parent, child, if_yes, if_no}, ...]}``."""
    from django.db.models import Q

    found: dict[int, list[dict[str, Any]]] = {}
    if not question_ids:
        return found
    wanted = set(question_ids)
    match = Q()
    for role in ROLES:
        match |= Q(**{f"{role}_id__in": question_ids})
    rows = Conditional.objects.filter(match).order_by("pk")
    for row in rows.values("pk", *(f"{role}_id" for role in ROLES)):
        ids = {role: row[f"{role}_id"] for role in ROLES}
        for role, qid in ids.items():
            if qid in wanted:
                found.setdefault(qid, []).append({"id": row["pk"], "role": role, **ids})
    return found


class TournamentSerializer(serializers.ModelSerializer):
    question_count = serializers.IntegerField(read_only=True)
    extremize = serializers.FloatField(
        source="effective_extremize", read_only=True, help_text="Extremizing factor d in force."
    )

    class Meta:
        model = Tournament
        fields = [
            "slug",
            "name",
            "description",
            "visibility",
            "question_count",
            "min_forecasters",
            "hide_until_forecast",
            "reveal_time",
            "extremize",
            "base_rate",
            "half_life_hours",
            "track_record_weighting",
            "bots_in_crowd",
            "created_at",
        ]
        read_only_fields = fields


class CrowdSerializer(serializers.Serializer):
    probability = serializers.FloatField(allow_null=True, help_text="Log pool p*.")
    median = serializers.FloatField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    forecasters = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class MilestoneSerializer(serializers.Serializer):
    benchmark = serializers.CharField(help_text="Benchmark slug.")
    comparator = serializers.ChoiceField(
        choices=[">=", ">", "<=", "<"],
        allow_null=True,
        help_text="Null for numeric, discrete and multiple-choice rules (best result as of).",
    )
    threshold = serializers.FloatField(allow_null=True)
    deadline = serializers.DateField(
        allow_null=True, help_text="Null for a date rule: its range ends the watch."
    )
    grace_days = serializers.IntegerField()
    text = serializers.CharField()


CROWD_SCHEMA = PolymorphicProxySerializer(
    component_name="QuestionCrowd",
    serializers=[CrowdSerializer, MultipleChoiceCrowdSerializer, ContinuousCrowdSerializer],
    resource_type_field_name=None,
    allow_null=True,
)


class QuestionConditionalSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The conditional pair's id (/conditionals/{id}/).")
    role = serializers.ChoiceField(choices=["parent", "child", "if_yes", "if_no"])
    parent = serializers.IntegerField()
    child = serializers.IntegerField()
    if_yes = serializers.IntegerField()
    if_no = serializers.IntegerField()


class QuestionSerializer(serializers.ModelSerializer):
    tournament = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    options = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Multiple choice: the option labels, in order; empty for other types.",
    )
    scale = serializers.SerializerMethodField(
        help_text="Numeric, date and discrete questions: the range; null for other types."
    )
    milestone = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text="Outcome of the final resolution: yes, no, option, value, below, above, "
        "annulled, or null."
    )
    crowd = serializers.SerializerMethodField(
        help_text="Current crowd forecast, or null while it is hidden from you."
    )
    crowd_hidden_reason = serializers.SerializerMethodField()
    conditionals = serializers.SerializerMethodField(
        help_text="The conditional pairs this question is part of, as parent, child or branch "
        "(docs/methods.md §14)."
    )

    class Meta:
        model = Question
        fields = [
            "id",
            "tournament",
            "key",
            "title",
            "description",
            "resolution_criteria",
            "open_time",
            "close_time",
            "status",
            "type",
            "options",
            "scale",
            "milestone",
            "outcome",
            "crowd",
            "crowd_hidden_reason",
            "conditionals",
        ]
        read_only_fields = fields

    @extend_schema_field(QuestionConditionalSerializer(many=True))
    def get_conditionals(self, q: Question) -> list[dict[str, Any]]:
        cache = self.context.get("_conditionals")
        if cache is None:
            page = self.parent.instance if self.parent is not None else [self.instance]
            ids = [x.pk for x in (page or []) if isinstance(x, Question)]
            cache = self.context["_conditionals"] = conditionals_by_question(ids)
        return cache.get(q.pk, [])

    @extend_schema_field(ScaleSerializer(allow_null=True))
    def get_scale(self, q: Question) -> dict[str, Any] | None:
        return scale_data(q)

    @extend_schema_field(MilestoneSerializer(allow_null=True))
    def get_milestone(self, q: Question) -> dict[str, Any] | None:
        if not q.has_milestone:
            return None
        return {
            "benchmark": q.benchmark.slug,
            "comparator": q.comparator or None,
            "threshold": q.threshold,
            "deadline": q.deadline,
            "grace_days": q.grace_days,
            "text": q.milestone_text(),
        }

    @extend_schema_field(
        serializers.ChoiceField(choices=Resolution.Outcome.values, allow_null=True)
    )
    def get_outcome(self, q: Question) -> str | None:
        finals = getattr(q, "final_resolutions", None)
        if finals is None:
            finals = list(q.resolutions.filter(state=Resolution.State.FINAL))
        return finals[0].outcome if finals else None

    def _reveal(self, q: Question) -> tuple[Any, Any]:
        from forecasts.models import CrowdState
        from forecasts.reveal import crowd_reveal

        cache = self.context.setdefault("_reveal", {})
        if q.pk not in cache:
            try:
                state = q.crowd
            except CrowdState.DoesNotExist:
                state = None
            request = self.context.get("request")
            user = getattr(request, "user", None)
            ids = self.context.get("forecast_question_ids")
            headline = self._headlines(user).get(q.pk)
            cache[q.pk] = (
                crowd_reveal(
                    q,
                    user,
                    state=state,
                    has_forecast=None if ids is None else q.pk in ids,
                    public=headline,
                ),
                headline,
            )
        return cache[q.pk]

    @extend_schema_field(CROWD_SCHEMA)
    def get_crowd(self, q: Question) -> dict[str, Any] | None:
        reveal, headline = self._reveal(q)
        # A live state with no event yet has nothing to show.
        if not reveal.visible or headline is None or getattr(headline, "events", None) == 0:
            return None
        if q.type != Question.Type.BINARY:
            from forecasts.privacy import full_history_access

            request = self.context.get("request")
            return typed_crowd_data(
                q,
                headline,
                detail=bool(self.context.get("detail")),
                full_access=full_history_access(getattr(request, "user", None)),
            )
        return CrowdSerializer(headline).data

    def _headlines(self, user: Any) -> dict[int, Any]:
        """The crowd this viewer sees for every question on this page, in one batch: the public
        series' latest point, or with full-history access the live crowd (a settled question's
        at its scoring cutoff). docs/privacy.md."""
        cache = self.context.setdefault("_headlines", None)
        if cache is None:
            page = self.parent.instance if self.parent is not None else [self.instance]
            questions = [q for q in (page or []) if isinstance(q, Question)]
            cache = self.context["_headlines"] = crowd_headlines(questions, user)
        return cache

    def get_crowd_hidden_reason(self, q: Question) -> str:
        reveal, _ = self._reveal(q)
        return reveal.reason


class BenchmarkSerializer(serializers.ModelSerializer):
    source_url = serializers.CharField(read_only=True, help_text="A URL, or empty.")

    class Meta:
        model = Benchmark
        fields = ["slug", "name", "unit", "description", "source_url", "higher_is_better"]
        read_only_fields = fields


class SnapshotRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    feed = serializers.CharField()
    source = serializers.CharField()
    fetched_at = serializers.DateTimeField()
    sha256 = serializers.CharField()


class BenchmarkResultSerializer(serializers.ModelSerializer):
    benchmark = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    snapshot = SnapshotRefSerializer(allow_null=True, read_only=True)
    revision_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    source_url = serializers.CharField(read_only=True, help_text="A URL, or empty.")
    retired_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the source stopped publishing it: its feed publishes the whole table and "
        "a later snapshot no longer had it (then not current). Null otherwise.",
    )
    retired_in = SnapshotRefSerializer(
        allow_null=True, read_only=True, help_text="The snapshot that no longer had it."
    )

    class Meta:
        model = BenchmarkResult
        fields = [
            "id",
            "benchmark",
            "system",
            "value",
            "achieved_on",
            "source_url",
            "first_seen",
            "is_current",
            "revision_of",
            "snapshot",
            "retired_at",
            "retired_in",
        ]
        read_only_fields = fields


class ResolutionSerializer(serializers.ModelSerializer):
    decided_by = serializers.SerializerMethodField()
    evidence_result = BenchmarkResultSerializer(allow_null=True, read_only=True)
    evidence_snapshot = SnapshotRefSerializer(allow_null=True, read_only=True)

    class Meta:
        model = Resolution
        fields = [
            "version",
            "outcome",
            "option",
            "value",
            "state",
            "source",
            "decided_by",
            "reason",
            "resolved_at",
            "created_at",
            "finalizes_at",
            "finalized_at",
            "evidence_result",
            "evidence_snapshot",
        ]
        read_only_fields = fields

    def get_decided_by(self, r: Resolution) -> str:
        """A staff username, or the rule/import that decided."""
        if r.decided_by_id:
            return r.decided_by.get_username()
        return r.get_source_display()


class AuditRecordSerializer(serializers.ModelSerializer):
    who = serializers.CharField(read_only=True)
    resolution_version = serializers.IntegerField(
        source="resolution.version", read_only=True, allow_null=True, default=None
    )
    evidence = serializers.JSONField(read_only=True)

    class Meta:
        model = AuditRecord
        fields = ["at", "action", "who", "reason", "resolution_version", "evidence"]
        read_only_fields = fields


class QuestionCreateSerializer(serializers.Serializer):
    """A new question (``markets.questions.question_create``). The type settings follow
    docs/methods.md §13.1: ``options`` for multiple choice; ``range_min``, ``range_max``, the
    bounds and ``zero_point`` for numeric, date and discrete (dates: ISO 8601 or Unix
    seconds)."""

    tournament = serializers.CharField(help_text="Tournament slug.")
    key = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100,
        help_text="Stable key within the tournament; default: the slug of the title.",
    )  # fmt: skip
    title = serializers.CharField(max_length=300)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    resolution_criteria = serializers.CharField(required=False, allow_blank=True, default="")
    open_time = serializers.DateTimeField()
    close_time = serializers.DateTimeField()
    type = serializers.ChoiceField(choices=Question.Type.choices, default=Question.Type.BINARY)
    options = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, default=list,
        help_text="Multiple choice: the option labels, in order (at least two, unique).",
    )  # fmt: skip
    range_min = NullableValueField(required=False, default=None)
    range_max = NullableValueField(required=False, default=None)
    open_lower_bound = serializers.BooleanField(required=False, default=False)
    open_upper_bound = serializers.BooleanField(required=False, default=False)
    zero_point = NullableValueField(
        required=False, default=None,
        help_text="Log scale: the zero point, outside the range (docs/methods.md §12.1).",
    )  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Range values as floats (a date question's ISO strings as Unix seconds), and a
        continuous range checked as a ``distributions.Scale`` (naming the field)."""
        kind = attrs["type"]
        for name in ("range_min", "range_max", "zero_point"):
            raw = attrs.get(name)
            if raw is None:
                continue
            if kind == Question.Type.DATE and isinstance(raw, str):
                try:
                    attrs[name] = distributions.parse_date_value(raw, field=name)
                except distributions.DistributionError as error:
                    raise serializers.ValidationError({name: [str(error)]}) from None
            elif isinstance(raw, bool) or not isinstance(raw, int | float):
                raise serializers.ValidationError({name: ["A number is required."]})
            else:
                try:
                    attrs[name] = float(raw)
                except OverflowError:  # JSON integers have no size limit
                    attrs[name] = math.inf
            if not math.isfinite(attrs[name]):
                raise serializers.ValidationError({name: ["A finite number is required."]})
        if kind in (Question.Type.NUMERIC, Question.Type.DATE, Question.Type.DISCRETE):
            for name in ("range_min", "range_max"):
                if attrs.get(name) is None:
                    raise serializers.ValidationError(
                        {name: ["A numeric, date or discrete question needs a range."]}
                    )
            try:
                distributions.Scale(
                    attrs["range_min"],
                    attrs["range_max"],
                    attrs["open_lower_bound"],
                    attrs["open_upper_bound"],
                    attrs.get("zero_point"),
                ).validate()
            except distributions.DistributionError as error:
                raise serializers.ValidationError({error.field: [str(error)]}) from None
        return attrs


class BranchRefSerializer(serializers.Serializer):
    """A question of a conditional pair, in brief (its crowd: ``GET /questions/{id}/``)."""

    id = serializers.IntegerField()
    key = serializers.CharField()
    title = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.CharField(
        allow_null=True, help_text="Outcome of the final resolution, or null."
    )


def question_ref(question: Question, outcomes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": question.pk,
        "key": question.key,
        "title": question.title,
        "type": question.type,
        "status": question.status,
        "outcome": outcomes.get(question.pk),
    }


class ConditionalSerializer(serializers.Serializer):
    """A conditional pair (docs/methods.md §14): the YES branch asks the child in the world where
    the parent resolves YES, the NO branch where it resolves NO."""

    id = serializers.IntegerField(read_only=True)
    url = serializers.CharField(read_only=True, help_text="The web page of the pair.")
    parent = BranchRefSerializer(read_only=True)
    child = BranchRefSerializer(read_only=True)
    if_yes = BranchRefSerializer(read_only=True)
    if_no = BranchRefSerializer(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, c: Any) -> dict[str, Any]:
        outcomes = self.context.get("outcomes") or {}
        return {
            "id": c.pk,
            "url": c.get_absolute_url(),
            "parent": question_ref(c.parent, outcomes),
            "child": question_ref(c.child, outcomes),
            "if_yes": question_ref(c.if_yes, outcomes),
            "if_no": question_ref(c.if_no, outcomes),
            "created_at": serializers.DateTimeField().to_representation(c.created_at),
        }


class ConditionalCreateSerializer(serializers.Serializer):
    """A new conditional pair (``markets.questions.conditional_create``): question ids of the
    parent (yes/no) and the child; the branches are created unless both are given."""

    parent = serializers.IntegerField(min_value=1, help_text="Question id of the yes/no parent.")
    child = serializers.IntegerField(min_value=1, help_text="Question id of the child.")
    if_yes = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, default=None,
        help_text="An existing question as the YES branch (with if_no); default: created.",
    )  # fmt: skip
    if_no = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, default=None,
        help_text="An existing question as the NO branch (with if_yes); default: created.",
    )  # fmt: skip
    key = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=90,
        help_text="Key stem of created branches (<key>-if-yes, <key>-if-no).",
    )  # fmt: skip
    open_time = serializers.DateTimeField(required=False, allow_null=True, default=None)
    close_time = serializers.DateTimeField(
        required=False, allow_null=True, default=None,
        help_text="Created branches' close; default: the child's.",
    )  # fmt: skip
