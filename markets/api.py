"""REST API, markets side: tournaments, questions, benchmarks and resolution history.

Also the pieces every API view shares (throttles, pagination, documented error responses).
Views are thin: they read through ``visible_to`` querysets, so a private tournament a user is
not a member of answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from markets.models import AuditRecord, Benchmark, BenchmarkResult, Question, Resolution, Tournament
from markets.serializers import (
    AuditRecordSerializer,
    BenchmarkResultSerializer,
    BenchmarkSerializer,
    QuestionSerializer,
    ResolutionSerializer,
    TournamentSerializer,
)

# --- throttles ------------------------------------------------------------------------------
# Used when settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] has no entry for a scope.
from markets.throttling import API_THROTTLES, ApiThrottle, SubmitThrottle


class Pagination(PageNumberPagination):
    """Page numbers; ``page_size`` up to 1000. A malformed page size is a 400, not ignored."""

    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        raw = param_single(request, self.page_query_param)
        if raw is None:
            return 1
        if raw in self.last_page_strings:
            return raw
        return param_int(request, self.page_query_param, minimum=1, maximum=MAX_ID)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return param_int(request, self.page_size_query_param, minimum=1, maximum=self.max_page_size)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for p in params:
            p["schema"]["minimum"] = 1
            p["schema"]["maximum"] = (
                self.max_page_size if p["name"] == self.page_size_query_param else MAX_ID
            )
        return params


# --- query parameters ----------------------------------------------------------------------
# Documented parameters are validated strictly: a typo in a filter must not silently return
# everything (or nothing).


def param_single(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    return values[0] if values else None


def param_choice(
    request: Request, name: str, choices: Any, default: str | None = None
) -> str | None:
    raw = param_single(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise ValidationError({name: [f"Use one of {', '.join(choices)}."]})
    return raw


def param_int(
    request: Request,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> int | None:
    raw = param_single(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number."]}) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError({name: [f"A whole number from {minimum} to {maximum}."]})
    return value


def param_bool(request: Request, name: str) -> bool:
    raw = param_single(request, name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise ValidationError({name: ["true or false."]})
    return raw.lower() == "true"


def param_text(request: Request, name: str) -> str | None:
    """A free-text filter; empty means no filter."""
    raw = param_single(request, name)
    if raw is not None and len(raw) > 300:
        raise ValidationError({name: ["At most 300 characters."]})
    return raw or None


# --- documented errors ------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


VALIDATION_ERROR = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid input: field names map to lists of messages."
)
COMMON_ERRORS = {
    401: _error("Invalid or revoked token, or authentication required."),
    403: _error("Not allowed."),
    404: _error("Not found, or not visible to you (private tournament)."),
    429: _error("Throttled: retry after the number of seconds in Retry-After."),
}


def errors(*codes: int, **extra: Any) -> dict[int, Any]:
    """The documented error responses of an operation (plus 400 when asked for)."""
    out: dict[int, Any] = {code: COMMON_ERRORS[code] for code in codes if code in COMMON_ERRORS}
    if 400 in codes:
        out[400] = VALIDATION_ERROR
    out.update({int(k.lstrip("_")): v for k, v in extra.items()})
    return out


READ_ERRORS = (400, 401, 404, 429)
MAX_ID = 2**63 - 1  # BIGINT: a larger number cannot be an id (and SQLite cannot even bind it)
POSITIVE_INT = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class ApiViewMixin:
    throttle_classes = API_THROTTLES
    pagination_class = Pagination

    def get_object(self) -> Any:
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if lookup is not None and str(lookup).isdigit() and int(lookup) > MAX_ID:
            raise NotFound()
        return super().get_object()  # type: ignore[misc]


def api_not_found(request: Any, *args: Any, **kwargs: Any) -> Any:
    """JSON 404 for any /api/ path that matches no route (Django's page would be HTML)."""
    from django.http import JsonResponse

    return JsonResponse({"detail": "Not found."}, status=404)


def visible_tournament(request: Request, slug: str) -> Tournament:
    tournament = Tournament.objects.visible_to(request.user).filter(slug=slug).first()
    if tournament is None:
        raise NotFound("No such tournament.")
    return tournament


def visible_question(request: Request, pk: Any) -> Question:
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound("No such question.") from None
    if not 1 <= pk <= MAX_ID:
        raise NotFound("No such question.")
    # One query by primary key; membership is looked up only for a private tournament.
    question = Question.objects.select_related("tournament", "benchmark").filter(pk=pk).first()
    if question is None or not question.tournament.is_visible_to(request.user):
        raise NotFound("No such question.")
    return question


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
            .select_related("decided_by", "evidence_result__benchmark", "evidence_snapshot")
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
                "current", bool, description="Only the current value per system (no revisions)."
            )
        ],
        responses={200: BenchmarkResultSerializer(many=True), **errors(*READ_ERRORS)},
    )
    @action(detail=True, methods=["get"])
    def results(self, request: Request, slug: str | None = None) -> Response:
        benchmark = self.get_object()
        qs = (
            BenchmarkResult.objects.filter(benchmark=benchmark)
            .select_related("benchmark", "snapshot")
            .order_by("achieved_on", "first_seen", "id")
        )
        if param_bool(request, "current"):
            qs = qs.filter(is_current=True)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(BenchmarkResultSerializer(page, many=True).data)


__all__ = [
    "API_THROTTLES",
    "MAX_ID",
    "POSITIVE_INT",
    "ApiThrottle",
    "ApiViewMixin",
    "BenchmarkViewSet",
    "ErrorSerializer",
    "Pagination",
    "QuestionViewSet",
    "SubmitThrottle",
    "TournamentViewSet",
    "errors",
    "param_bool",
    "param_choice",
    "param_int",
    "param_single",
    "param_text",
    "visible_question",
    "visible_tournament",
]
