"""REST API, markets side: tournaments, questions, benchmarks and resolution history.

Views are thin: they read through ``visible_to`` querysets, so a private tournament a user is
not a member of answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiViewMixin, visible_question
from api.errors import READ_ERRORS, errors
from api.params import (
    param_bool,
    param_choice,
    param_text,
)
from api.serializers.markets import (
    AuditRecordSerializer,
    BenchmarkResultSerializer,
    BenchmarkSerializer,
    QuestionSerializer,
    ResolutionSerializer,
    TournamentSerializer,
)
from markets.models import AuditRecord, Benchmark, BenchmarkResult, Question, Resolution, Tournament

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
