"""REST API, forecasts side: submit and withdraw, your forecasts, crowd history and exports.

Writes go through ``forecasts.services`` (the same rules as the web form); domain errors become
400 (bad input) or 409 (the question's state forbids it), with the service's message.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiViewMixin, visible_question, visible_tournament
from api.errors import READ_ERRORS, errors
from api.params import (
    MAX_ID,
    POSITIVE_INT,
    param_as_of,
    param_choice,
    param_int,
    param_text,
)
from api.parsers import JSONParser
from api.serializers.forecasts import (
    BinarySubmitSerializer,
    CdfSubmitSerializer,
    ComponentsSubmitSerializer,
    CrowdPointSerializer,
    ExportManifestSerializer,
    ForecastSerializer,
    ForecastSubmitSerializer,
    ForecastWithdrawSerializer,
    HiddenCrowdSerializer,
    MultipleChoiceSubmitSerializer,
    PercentilesSubmitSerializer,
)
from api.serializers.typed import (
    TYPED_INPUTS,
    ContinuousPointSerializer,
    MultipleChoicePointSerializer,
    TypedForecastSerializer,
    typed_forecast_data,
    typed_point_data,
)
from api.throttling import SubmitThrottle
from forecasts import distributions, exports, typed
from forecasts.errors import InvalidForecastValues, QuestionNotFound
from forecasts.models import CrowdPoint, CrowdState, Forecast
from forecasts.privacy import full_history_access
from forecasts.reveal import crowd_reveal
from forecasts.selectors import public_crowds, public_points
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from forecasts.typed_crowd import question_scale
from markets.models import Question, Tournament

# --- forecasts -------------------------------------------------------------------------------


def _conflict(message: str) -> OpenApiResponse:
    from api.errors import ErrorSerializer

    return OpenApiResponse(ErrorSerializer, description=message)


def _cdf_example() -> list[float]:
    # A uniform CDF on a closed range, rounded as a client would send it.
    return [round(i / 200, 6) for i in range(201)]


SUBMIT_EXAMPLES = [
    OpenApiExample(
        "Yes/no",
        value={"question": 1, "probability": 0.72, "rationale": "Trend extrapolation."},
        request_only=True,
    ),
    OpenApiExample(
        "Multiple choice",
        value={"question": 2, "probabilities": [0.5, 0.3, 0.2]},
        request_only=True,
    ),
    OpenApiExample(
        "Continuous: a CDF at 201 points",
        value={"question": 3, "cdf": _cdf_example()},
        request_only=True,
    ),
    OpenApiExample(
        "Continuous: percentiles",
        value={
            "question": 3,
            "percentiles": {"0.05": 120, "0.25": 300, "0.5": 450, "0.75": 700, "0.95": 1200},
            "below": 0.01,
            "above": 0.02,
        },
        request_only=True,
    ),
    OpenApiExample(
        "Date: percentiles as ISO 8601",
        value={
            "question": 4,
            "percentiles": {
                "0.05": "2026-03-01",
                "0.25": "2026-09-01",
                "0.5": "2027-01-01",
                "0.75": "2027-09-01",
                "0.95": "2029-01-01",
            },
        },
        request_only=True,
    ),
    OpenApiExample(
        "Continuous: a logistic mixture",
        value={"question": 3, "components": [[0.7, 450, 0.05], [0.3, 900, 0.1]]},
        request_only=True,
    ),
    OpenApiExample(
        "Multiple-choice forecast as stored",
        value={
            "id": 17,
            "question": 2,
            "question_key": "top-lab-2027",
            "tournament": "ai-2027",
            "kind": "forecast",
            "values": [0.5, 0.3, 0.2],
            "quantiles": None,
            "mean": None,
            "below": None,
            "above": None,
            "time": "2026-11-30T05:00:00Z",
            "rationale": "",
        },
        response_only=True,
        status_codes=["201"],
    ),
    OpenApiExample(
        "Bad distribution",
        value={"percentiles[0.5]": ["The percentile values must increase with the level."]},
        response_only=True,
        status_codes=["400"],
    ),
]

_TIME = serializers.DateTimeField(read_only=True)  # stateless when used unbound, as here


def forecast_data(event: Forecast) -> dict[str, Any]:
    """``ForecastSerializer(event).data``, built directly: every submission answers with it.

    A DRF serializer deep-copies its eight fields on each use, about a tenth of a submission's
    CPU. ``ForecastSerializer`` stays the documented schema; a test holds the two equal.
    """
    data = {
        "id": event.pk,
        "question": event.question_id,
        "question_key": event.question.key,
        "tournament": event.question.tournament.slug,
        "kind": event.kind,
        "probability": event.probability,
        "time": _TIME.to_representation(event.time),
        "rationale": event.rationale,
    }
    if event.values is not None:  # a multiple-choice or continuous forecast
        return typed_forecast_data(event, data)
    return data


class ForecastEventSerializer(ForecastSerializer):
    """``ForecastSerializer`` for a yes/no forecast or a withdrawal, ``TypedForecastSerializer``
    for a forecast with values (the list and detail of your forecasts)."""

    def to_representation(self, instance: Forecast) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.values is not None:
            return typed_forecast_data(instance, data)
        return data


FORECAST_EVENT = PolymorphicProxySerializer(
    component_name="ForecastEvent",
    serializers=[ForecastSerializer, TypedForecastSerializer],
    resource_type_field_name=None,
)
FORECAST_EVENTS = PolymorphicProxySerializer(
    component_name="ForecastEvent",
    serializers=[ForecastSerializer, TypedForecastSerializer],
    resource_type_field_name=None,
    many=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="Your forecast events (forecasts and withdrawals), newest first",
        parameters=[
            OpenApiParameter("question", POSITIVE_INT, description="Question id."),
            OpenApiParameter("tournament", str, description="Tournament slug."),
        ],
        responses={200: FORECAST_EVENTS, **errors(*READ_ERRORS)},
    ),
    retrieve=extend_schema(
        summary="One of your forecast events",
        responses={200: FORECAST_EVENT, **errors(*READ_ERRORS)},
    ),
)
class ForecastViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Your own forecast log. Submitting appends a forecast; withdrawing appends a withdrawal."""

    serializer_class = ForecastEventSerializer
    permission_classes = [IsAuthenticated]
    throttle_classes = [SubmitThrottle]
    parser_classes = [JSONParser]
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Forecast]:
        user = self.request.user
        qs = (
            Forecast.objects.filter(
                forecaster__user=user, question__in=Question.objects.visible_to(user)
            )
            .select_related("question__tournament")
            .order_by("-time", "-id")
        )
        if self.action == "list":
            r = self.request
            if (qid := param_int(r, "question", minimum=1, maximum=MAX_ID)) is not None:
                qs = qs.filter(question_id=qid)
            if slug := param_text(r, "tournament"):
                qs = qs.filter(question__tournament__slug=slug)
        return qs

    @extend_schema(
        summary="Submit a forecast (a new event; your previous forecast is replaced)",
        description=(
            "By question type: yes/no `probability`; multiple choice `probabilities` (one per "
            "option, in order); numeric, date and discrete exactly one of `cdf` (201 points), "
            "`percentiles` (with `below`/`above` optional) or `components` (logistic mixture). "
            "Dates may be ISO 8601 strings. An invalid distribution answers 400 naming the "
            "field (e.g. `cdf[37]`, `percentiles[0.25]`); nothing is written. "
            'docs/researcher-guide.md, "Question types".'
        ),
        request=PolymorphicProxySerializer(
            component_name="ForecastSubmit",
            serializers=[
                BinarySubmitSerializer,
                MultipleChoiceSubmitSerializer,
                CdfSubmitSerializer,
                PercentilesSubmitSerializer,
                ComponentsSubmitSerializer,
            ],
            resource_type_field_name=None,
        ),
        examples=SUBMIT_EXAMPLES,
        responses={
            201: FORECAST_EVENT,
            409: _conflict("The question is not open for forecasts."),
            **errors(400, 401, 404, 413, 429),
        },
    )
    def create(self, request: Request) -> Response:
        data = ForecastSubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        # Domain errors (404 not visible, 409 not open, 400 bad probability) are mapped by
        # api.errors.exception_handler. The service checks visibility on the row it locks.
        if "probability" in given:
            try:
                forecast = forecast_submit(
                    question_id=given["question"],
                    forecaster=forecaster_for_user(request.user),
                    probability=given["probability"],
                    rationale=given["rationale"],
                    viewer=request.user,
                )
            except InvalidForecastValues:  # not a yes/no question; nothing was written
                raise serializers.ValidationError({"probability": [NOT_YES_NO]}) from None
        else:
            forecast = forecast_submit(
                question_id=given["question"],
                forecaster=forecaster_for_user(request.user),
                values=_distribution(request, given),
                rationale=given["rationale"],
                viewer=request.user,
            )
        return Response(forecast_data(forecast), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Withdraw your current forecast on a question (recorded as an event)",
        request=ForecastWithdrawSerializer,
        responses={
            201: ForecastSerializer,
            409: _conflict("The question is not open, or you have no current forecast on it."),
            **errors(400, 401, 404, 413, 429),
        },
    )
    @action(detail=False, methods=["post"])
    def withdraw(self, request: Request) -> Response:
        data = ForecastWithdrawSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = forecast_withdraw(
            question_id=data.validated_data["question"],
            forecaster=forecaster_for_user(request.user),
            viewer=request.user,
        )
        return Response(forecast_data(event), status=status.HTTP_201_CREATED)


NOT_YES_NO = (
    "This question is not yes/no: send probabilities (multiple choice), or one of cdf, "
    "percentiles or components (numeric, date, discrete)."
)


def _distribution(request: Request, given: dict[str, Any]) -> Any:
    """The stored vector of a multiple-choice or continuous forecast payload
    (``forecasts.distributions.forecast_from_payload``); a ValidationError naming the field
    when it is not valid for the question (nothing is written)."""
    question = Question.objects.visible_one(request.user, given["question"])
    if question is None:
        raise QuestionNotFound("No such question.")
    if not typed.is_vector(question):
        raise serializers.ValidationError(
            {"probability": ["This is a yes/no question: give a probability."]}
        )
    payload = {name: given[name] for name in TYPED_INPUTS if name in given}
    try:
        return distributions.forecast_from_payload(
            payload,
            question_type=question.type,
            scale=question_scale(question) if question.is_continuous else None,
            n_options=len(question.options) if question.options else None,
        )
    except distributions.DistributionError as error:
        raise serializers.ValidationError({error.field: [str(error)]}) from None


# --- crowd history ---------------------------------------------------------------------------


def _reveal_for(question: Question, request: Request) -> Any:
    state = CrowdState.objects.filter(question=question).first()
    return crowd_reveal(question, request.user, state=state)


class QuestionHistoryView(ApiViewMixin, GenericAPIView):
    """The crowd after forecast events: time, forecasters, log pool, median and mean (yes/no);
    the pooled option probabilities (multiple choice); five quantiles and the mass beyond each
    bound (numeric, date, discrete).

    Staff and permitted researchers get a point after every event; everyone else the public
    series, released in batches (docs/privacy.md).
    """

    serializer_class = CrowdPointSerializer
    # The browsable API builds a filter form from the queryset; the view reads its own rows.
    queryset = CrowdPoint.objects.none()

    @extend_schema(
        summary="Crowd forecast history of a question (paginated, oldest first)",
        description=(
            "Staff and researchers with the `forecasts.view_forecast` permission get one point "
            "per forecast event; everyone else gets the public series: a point once at least "
            "3 forecasters have had an event since the previous one, so that no single "
            "forecast can be recovered from two points (docs/privacy.md)."
        ),
        responses={
            200: PolymorphicProxySerializer(
                component_name="CrowdHistoryPoint",
                serializers=[
                    CrowdPointSerializer,
                    MultipleChoicePointSerializer,
                    ContinuousPointSerializer,
                ],
                resource_type_field_name=None,
                many=True,
            ),
            403: OpenApiResponse(
                HiddenCrowdSerializer, description="The crowd forecast is hidden from you."
            ),
            **errors(*READ_ERRORS),
        },
    )
    def get(self, request: Request, pk: str) -> Response:
        question = visible_question(request, pk)
        reveal = _reveal_for(question, request)
        if not reveal.visible:
            return Response({"detail": reveal.reason, "hidden": True}, status=403)
        if full_history_access(request.user):
            qs = CrowdPoint.objects.filter(question=question).order_by("seq")
        else:
            qs = public_points(question)
        page = self.paginate_queryset(qs)
        if typed.is_vector(question):
            return self.get_paginated_response(typed_point_data(question, list(page or [])))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


# --- exports ---------------------------------------------------------------------------------

EXPORT_PARAMETERS = [
    OpenApiParameter(
        "format", str, enum=list(exports.FORMATS), default="csv", description="File format."
    ),
    OpenApiParameter(
        "as_of",
        OpenApiTypes.DATETIME,
        description=(
            "Export the history as it stood at this time (ISO 8601). Default: now minus one "
            "second. The same as_of gives the same bytes; the response's X-Takeoff-As-Of "
            "header tells the value used."
        ),
    ),
]
EXPORT_BODY = {
    (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV export"),
    (200, "application/json"): OpenApiResponse(
        OpenApiTypes.ANY, description="JSON export: an array of row objects"
    ),
    (200, "application/vnd.apache.parquet"): OpenApiResponse(
        OpenApiTypes.BINARY, description="Parquet export"
    ),
}


class _ExportView(ApiViewMixin, APIView):
    # Manifests are compared value for value by verify_export: their floats are not rounded
    # (api.renderers). The files themselves stream past every renderer.
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``format=csv`` names the file format here, not a DRF renderer: never answer 404/406.
        return super().perform_content_negotiation(request, force=True)

    @staticmethod
    def _params(request: Request) -> tuple[str, dt.datetime | None]:
        fmt = param_choice(request, "format", exports.FORMATS, default="csv")
        return fmt, param_as_of(request)

    def stream(self, export: exports.CrowdExport, name: str) -> StreamingHttpResponse:
        exports.fill_pending_medians(export)
        response = StreamingHttpResponse(
            exports.render(export), content_type=exports.CONTENT_TYPES[export.fmt]
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.{export.fmt}"'
        response["X-Takeoff-As-Of"] = exports.iso(export.as_of)
        return response

    def manifest(self, export: exports.CrowdExport, name: str) -> Response:
        manifest = exports.build_manifest(export, filename=f"{name}.{export.fmt}")
        return Response(manifest)


def _include_revealed(request: Request, tournament: Tournament) -> Any:
    user = request.user
    if user.is_authenticated and user.is_staff:
        return None
    forecast_on = (
        set(Forecast.objects.filter(forecaster__user=user).values_list("question_id", flat=True))
        if user.is_authenticated
        else set()
    )
    # The public headline of every question at once (three queries), for the reveal rule.
    public = (
        None
        if full_history_access(user)
        else public_crowds(
            Question.objects.filter(tournament=tournament).select_related("tournament")
        )
    )

    def include(question: Question) -> bool:
        # Joined by the export plan; a question nobody forecast has no state (None).
        state = getattr(question, "crowd", None)
        kwargs: dict[str, Any] = {} if public is None else {"public": public.get(question.pk)}
        return crowd_reveal(
            question, user, state=state, has_forecast=question.pk in forecast_on, **kwargs
        ).visible

    return include


def _tournament_plan(request: Request, slug: str, fmt: str, as_of: Any) -> exports.CrowdExport:
    tournament = visible_tournament(request, slug)
    return exports.crowd_export_plan(
        tournament=tournament,
        fmt=fmt,
        as_of=as_of,
        include=_include_revealed(request, tournament),
        public=not full_history_access(request.user),
    )


def _question_plan(request: Request, pk: str, fmt: str, as_of: Any) -> exports.CrowdExport:
    question = visible_question(request, pk)
    reveal = _reveal_for(question, request)
    if not reveal.visible:
        raise PermissionDenied(reveal.reason)
    return exports.crowd_export_plan(
        tournament=question.tournament,
        fmt=fmt,
        question_key=question.key,
        as_of=as_of,
        public=not full_history_access(request.user),
    )


class TournamentCrowdExportView(_ExportView):
    @extend_schema(
        summary="Crowd history of every question of a tournament as one file (streamed)",
        description=(
            "Questions whose crowd forecast is hidden from you are left out; the manifest "
            "lists the questions included. Rows: question key order, then history order."
        ),
        parameters=EXPORT_PARAMETERS,
        responses={**EXPORT_BODY, **errors(400, *READ_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        fmt, as_of = self._params(request)
        export = _tournament_plan(request, slug, fmt, as_of)
        return self.stream(export, f"{export.tournament.slug}-crowd")


class TournamentCrowdManifestView(_ExportView):
    @extend_schema(
        summary="Manifest of a tournament crowd export (method, parameters, digests, rows)",
        parameters=EXPORT_PARAMETERS,
        responses={200: ExportManifestSerializer, **errors(400, *READ_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        fmt, as_of = self._params(request)
        export = _tournament_plan(request, slug, fmt, as_of)
        return self.manifest(export, f"{export.tournament.slug}-crowd")


class QuestionCrowdExportView(_ExportView):
    @extend_schema(
        summary="Crowd history of one question as a file (streamed)",
        parameters=EXPORT_PARAMETERS,
        responses={**EXPORT_BODY, **errors(400, 403, *READ_ERRORS)},
    )
    def get(self, request: Request, pk: str) -> StreamingHttpResponse:
        fmt, as_of = self._params(request)
        export = _question_plan(request, pk, fmt, as_of)
        return self.stream(export, f"{export.tournament.slug}-{export.question_key}-crowd")


class QuestionCrowdManifestView(_ExportView):
    @extend_schema(
        summary="Manifest of a question's crowd export",
        parameters=EXPORT_PARAMETERS,
        responses={200: ExportManifestSerializer, **errors(400, 403, *READ_ERRORS)},
    )
    def get(self, request: Request, pk: str) -> Response:
        fmt, as_of = self._params(request)
        export = _question_plan(request, pk, fmt, as_of)
        return self.manifest(export, f"{export.tournament.slug}-{export.question_key}-crowd")


def can_export_raw(user: Any) -> bool:
    """Staff, or researchers granted ``forecasts.view_forecast`` (admin: user permissions)."""
    return full_history_access(user)


class TournamentForecastsExportView(_ExportView):
    @extend_schema(
        summary="Raw forecast log of a tournament, pseudonymized (staff and permitted researchers)",
        description=(
            "CSV `question,time,forecaster,kind,probability`, one row per forecast event "
            "(kind `forecast` or `withdrawal`, probability empty for a withdrawal), in the "
            "canonical order of the crowd manifests' input digest. Forecasters are keyed-HMAC "
            "pseudonyms of your own (another recipient's file names them differently); "
            "imported forecasters keep their own keys."
        ),
        parameters=[EXPORT_PARAMETERS[1]],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
            **errors(*READ_ERRORS, 403),
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        tournament: Tournament = visible_tournament(request, slug)
        if not can_export_raw(request.user):
            raise PermissionDenied("Raw forecasts are for staff and permitted researchers.")
        _, as_of = self._params(request)
        export = exports.crowd_export_plan(tournament=tournament, fmt="csv", as_of=as_of)
        response = StreamingHttpResponse(
            exports.render_raw_forecasts(export, recipient=request.user.pk),
            content_type=exports.CONTENT_TYPES["csv"],
        )
        response["Content-Disposition"] = f'attachment; filename="{tournament.slug}-forecasts.csv"'
        response["X-Takeoff-As-Of"] = exports.iso(export.as_of)
        return response


__all__ = [
    "ForecastViewSet",
    "QuestionCrowdExportView",
    "QuestionCrowdManifestView",
    "QuestionHistoryView",
    "TournamentCrowdExportView",
    "TournamentCrowdManifestView",
    "TournamentForecastsExportView",
]
