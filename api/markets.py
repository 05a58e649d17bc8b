"""REST API, markets side: tournaments, questions, benchmarks and resolution history.

Views are thin: they read through ``visible_to`` querysets, so a private tournament a user is
not a member of answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiViewMixin, visible_question, visible_tournament
from api.errors import READ_ERRORS, errors
from api.params import (
    param_bool,
    param_choice,
    param_text,
)
from api.parsers import JSONParser
from api.serializers.markets import (
    AuditRecordSerializer,
    BenchmarkResultSerializer,
    BenchmarkSerializer,
    ConditionalCreateSerializer,
    ConditionalSerializer,
    QuestionCreateSerializer,
    QuestionSerializer,
    ResolutionSerializer,
    TournamentSerializer,
)
from api.throttling import SubmitThrottle
from markets.errors import QuestionTypeError
from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    Conditional,
    Question,
    Resolution,
    Tournament,
)
from markets.questions import conditional_create, question_create

# --- tournaments ---------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Tournaments you can see",
        responses={200: TournamentSerializer(many=True), **errors(*READ_ERRORS)},
    ),
    retrieve=extend_schema(
        summary="One tournament", responses={200: TournamentSerializer, **errors(*READ_ERRORS)}
    ),
)
class TournamentViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    """Public tournaments, and private ones you are a member of."""

    serializer_class = TournamentSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    def get_queryset(self) -> QuerySet[Tournament]:
        return (
            Tournament.objects.visible_to(self.request.user)
            .annotate(question_count=Count("questions", distinct=True))
            .order_by("-created_at", "id")
        )


class CanAddQuestion(BasePermission):
    """Staff, or a user holding ``markets.add_question`` (admin: user permissions)."""

    message = "Only staff and users allowed to add questions can create them."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user.is_staff or user.has_perm("markets.add_question"))


CREATE_EXAMPLES = [
    OpenApiExample(
        "Yes/no",
        value={
            "tournament": "ai-2027",
            "title": "Will a model score 90% on SWE-bench Verified by 2027?",
            "open_time": "2026-12-01T00:00:00Z",
            "close_time": "2027-12-31T00:00:00Z",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Multiple choice",
        value={
            "tournament": "ai-2027",
            "key": "top-lab-2027",
            "title": "Which lab tops the leaderboard at the end of 2027?",
            "open_time": "2026-12-01T00:00:00Z",
            "close_time": "2027-12-31T00:00:00Z",
            "type": "multiple_choice",
            "options": ["Lab A", "Lab B", "Another lab"],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Numeric, log scale",
        value={
            "tournament": "ai-2027",
            "title": "METR p50 time horizon (minutes) at the end of 2027?",
            "open_time": "2026-12-01T00:00:00Z",
            "close_time": "2027-12-31T00:00:00Z",
            "type": "numeric",
            "range_min": 10,
            "range_max": 10000,
            "open_lower_bound": False,
            "open_upper_bound": True,
            "zero_point": 0,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Date",
        value={
            "tournament": "ai-2027",
            "title": "When will a model first reach 50% on the benchmark?",
            "open_time": "2026-12-01T00:00:00Z",
            "close_time": "2027-12-31T00:00:00Z",
            "type": "date",
            "range_min": "2026-01-01",
            "range_max": "2032-01-01",
            "open_upper_bound": True,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Discrete",
        value={
            "tournament": "ai-2027",
            "title": "How many labs will release a frontier model in 2027?",
            "open_time": "2026-12-01T00:00:00Z",
            "close_time": "2027-12-31T00:00:00Z",
            "type": "discrete",
            "range_min": -0.5,
            "range_max": 10.5,
        },
        request_only=True,
    ),
]

# --- questions ------------------------------------------------------------------------------

QUESTION_FILTERS = [
    OpenApiParameter("tournament", str, description="Tournament slug."),
    OpenApiParameter("status", str, enum=Question.Status.values),
    OpenApiParameter("benchmark", str, description="Benchmark slug of the milestone criterion."),
    OpenApiParameter("key", str, description="The question's key within its tournament."),
]


@extend_schema_view(
    list=extend_schema(
        summary="Questions you can see",
        parameters=QUESTION_FILTERS,
        responses={200: QuestionSerializer(many=True), **errors(*READ_ERRORS)},
    ),
    retrieve=extend_schema(
        summary="One question, with the crowd forecast if it is revealed to you",
        responses={200: QuestionSerializer, **errors(*READ_ERRORS)},
    ),
)
class QuestionViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = QuestionSerializer
    lookup_value_regex = r"[0-9]+"
    parser_classes = [JSONParser]

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [IsAuthenticated(), CanAddQuestion()]
        return super().get_permissions()

    def get_throttles(self) -> list[Any]:
        if self.action == "create":
            return [SubmitThrottle()]
        return super().get_throttles()

    @extend_schema(
        summary="Create a question of any type (staff, or users allowed to add questions)",
        description=(
            "Yes/no by default. `multiple_choice` takes `options`; `numeric`, `date` and "
            "`discrete` take `range_min` < `range_max`, `open_lower_bound`, "
            "`open_upper_bound` and optionally `zero_point` (log scale). Date ranges may be "
            "ISO 8601 strings. The status follows from the times (upcoming, open, closed)."
        ),
        request=QuestionCreateSerializer,
        examples=CREATE_EXAMPLES,
        responses={201: QuestionSerializer, **errors(400, 401, 403, 404, 413, 429)},
    )
    def create(self, request: Request) -> Response:
        data = QuestionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = dict(data.validated_data)
        tournament = visible_tournament(request, given.pop("tournament"))
        try:
            question = question_create(tournament=tournament, **given)
        except QuestionTypeError as error:
            raise ValidationError({"type": [str(error)]}) from None
        question = self.get_queryset().get(pk=question.pk)
        context = {**self.get_serializer_context(), "detail": True}
        return Response(QuestionSerializer(question, context=context).data, status=201)

    def get_queryset(self) -> QuerySet[Question]:
        qs = (
            Question.objects.visible_to(self.request.user)
            .select_related("tournament", "benchmark", "crowd")
            .prefetch_related(
                Prefetch(
                    "resolutions",
                    queryset=Resolution.objects.filter(state=Resolution.State.FINAL),
                    to_attr="final_resolutions",
                )
            )
            .order_by("close_time", "id")
        )
        if self.action == "list":
            r = self.request
            if slug := param_text(r, "tournament"):
                qs = qs.filter(tournament__slug=slug)
            if status := param_choice(r, "status", Question.Status.values):
                qs = qs.filter(status=status)
            if bench := param_text(r, "benchmark"):
                qs = qs.filter(benchmark__slug=bench)
            if key := param_text(r, "key"):
                qs = qs.filter(key=key)
        return qs

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        # One question: multiple-choice and continuous crowds carry their comparators and CDF.
        context["detail"] = self.action == "retrieve"
        user = self.request.user
        if user.is_authenticated:
            from forecasts.models import Forecast

            context["forecast_question_ids"] = set(
                Forecast.objects.filter(forecaster__user=user).values_list("question_id", flat=True)
            )
        else:
            context["forecast_question_ids"] = set()
        return context

    @extend_schema(
        summary="Resolution versions of a question (newest first)",
        responses={200: ResolutionSerializer(many=True), **errors(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def resolutions(self, request: Request, pk: str | None = None) -> Response:
        question = visible_question(request, pk)
        qs = (
            Resolution.objects.filter(question=question)
            .select_related(
                "decided_by",
                "evidence_result__benchmark",
                "evidence_result__snapshot",
                "evidence_result__retired_in",
                "evidence_snapshot",
            )
            .order_by("-version")
        )
        return Response(ResolutionSerializer(qs, many=True).data)

    @extend_schema(
        summary="Audit trail of a question's resolution: every change, who, why, on what evidence",
        responses={200: AuditRecordSerializer(many=True), **errors(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def audit(self, request: Request, pk: str | None = None) -> Response:
        question = visible_question(request, pk)
        qs = (
            AuditRecord.objects.filter(question=question)
            .select_related("actor", "resolution")
            .order_by("at", "id")
        )
        return Response(AuditRecordSerializer(qs, many=True).data)


# --- conditional pairs ------------------------------------------------------------------------


def final_outcomes(conditionals: list[Conditional]) -> dict[int, str]:
    """The final outcome of every question of ``conditionals``, by question id (one query)."""
    ids = {qid for c in conditionals for qid in (c.parent_id, c.child_id, c.if_yes_id, c.if_no_id)}
    return dict(
        Resolution.objects.filter(question_id__in=ids, state=Resolution.State.FINAL).values_list(
            "question_id", "outcome"
        )
    )


@extend_schema_view(
    list=extend_schema(
        summary="Conditional pairs you can see",
        parameters=[OpenApiParameter("tournament", str, description="Tournament slug.")],
        responses={200: ConditionalSerializer(many=True), **errors(*READ_ERRORS)},
    ),
    retrieve=extend_schema(
        summary="One conditional pair: parent, child and the two branch questions",
        responses={200: ConditionalSerializer, **errors(*READ_ERRORS)},
    ),
)
class ConditionalViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    """Conditional pairs "if <parent> resolves YES / NO, then <child>?" (docs/methods.md §14).
    Each branch is an ordinary question: forecast it and read its crowd under /questions/."""

    serializer_class = ConditionalSerializer
    lookup_value_regex = r"[0-9]+"
    parser_classes = [JSONParser]

    def get_permissions(self) -> list[Any]:
        if self.action == "create":
            return [IsAuthenticated(), CanAddQuestion()]
        return super().get_permissions()

    def get_throttles(self) -> list[Any]:
        if self.action == "create":
            return [SubmitThrottle()]
        return super().get_throttles()

    def get_queryset(self) -> QuerySet[Conditional]:
        # One tournament holds the parent, the child and both branches: the parent's decides.
        qs = (
            Conditional.objects.filter(
                parent__tournament__in=Tournament.objects.visible_to(self.request.user)
            )
            .select_related("parent", "child", "if_yes", "if_no")
            .order_by("pk")
        )
        if self.action == "list" and (slug := param_text(self.request, "tournament")):
            qs = qs.filter(parent__tournament__slug=slug)
        return qs

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        context = {**self.get_serializer_context(), "outcomes": final_outcomes(page)}
        data = ConditionalSerializer(page, many=True, context=context).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        conditional = self.get_object()
        context = {**self.get_serializer_context(), "outcomes": final_outcomes([conditional])}
        return Response(ConditionalSerializer(conditional, context=context).data)

    @extend_schema(
        summary="Create a conditional pair (staff, or users allowed to add questions)",
        description=(
            "The parent must be a yes/no question; the child may be of any type. Without "
            "`if_yes`/`if_no`, both branch questions are created in the parent's tournament "
            "with the child's type, options and range. The branches resolve only from the "
            "parent and the child."
        ),
        request=ConditionalCreateSerializer,
        examples=[
            OpenApiExample(
                "Created branches",
                value={"parent": 12, "child": 7, "key": "rsi-if-swebench"},
                request_only=True,
            )
        ],
        responses={201: ConditionalSerializer, **errors(400, 401, 403, 404, 413, 429)},
    )
    def create(self, request: Request) -> Response:
        data = ConditionalCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = dict(data.validated_data)
        questions = {
            name: visible_question(request, given.pop(name))
            for name in ("parent", "child", "if_yes", "if_no")
            if given.get(name) is not None
        }
        given.pop("if_yes", None)
        given.pop("if_no", None)
        try:
            conditional = conditional_create(**questions, **given)
        except QuestionTypeError as error:
            raise ValidationError({"child": [str(error)]}) from None
        conditional = self.get_queryset().get(pk=conditional.pk)
        context = {**self.get_serializer_context(), "outcomes": final_outcomes([conditional])}
        return Response(ConditionalSerializer(conditional, context=context).data, status=201)


# --- benchmarks ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Benchmarks",
        responses={200: BenchmarkSerializer(many=True), **errors(*READ_ERRORS)},
    ),
    retrieve=extend_schema(
        summary="One benchmark", responses={200: BenchmarkSerializer, **errors(*READ_ERRORS)}
    ),
)
class BenchmarkViewSet(ApiViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = BenchmarkSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    queryset = Benchmark.objects.order_by("name", "id")

    @extend_schema(
        summary="Published results of a benchmark, revisions included",
        parameters=[
            OpenApiParameter(
                "current",
                bool,
                description="Only the current value per system (no revisions, nothing the "
                "source no longer publishes).",
            )
        ],
        responses={200: BenchmarkResultSerializer(many=True), **errors(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, slug: str | None = None) -> Response:
        benchmark = self.get_object()
        qs = (
            BenchmarkResult.objects.filter(benchmark=benchmark)
            .select_related("benchmark", "snapshot", "retired_in")
            .order_by("achieved_on", "first_seen", "id")
        )
        if param_bool(request, "current"):
            qs = qs.filter(is_current=True)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(BenchmarkResultSerializer(page, many=True).data)
