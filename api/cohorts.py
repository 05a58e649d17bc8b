"""The crowd of any cohort — humans, bots, everyone — on demand (docs/methods.md §16.2).

``questions/<pk>/cohorts/``: every cohort's current crowd (log pool and mean from the stored
``CohortState`` rows, kept in O(1) per submission; the median from the current forecasts).
``questions/<pk>/cohorts/<cohort>/history/``: one cohort's history rebuilt from the log, the
public series for everyone without full-history access (docs/privacy.md), paginated.
``questions/<pk>/cohorts/<cohort>/crowd-export/`` and
``tournaments/<slug>/cohorts/<cohort>/crowd-export/``:
the same history as CSV (``question,cohort,time,forecasters,probability,median,mean``).
Yes/no questions; the crowd's reveal rule applies as to the default crowd.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiViewMixin, visible_question, visible_tournament
from api.errors import READ_ERRORS, errors
from api.serializers.forecasts import HiddenCrowdSerializer
from forecasts import cohorts
from forecasts.models import CohortState, CrowdState
from forecasts.privacy import full_history_access, public_threshold
from forecasts.reveal import crowd_reveal
from markets.models import Question
from scoring.bots import cohort_board, head_to_head

HIDDEN = OpenApiResponse(
    HiddenCrowdSerializer, description="The crowd forecast is hidden from you."
)
CSV_HEADER = "question,cohort,time,forecasters,probability,median,mean\n"


def _cohort(raw: str) -> str:
    try:
        return cohorts.parse_cohort(raw)
    except ValueError as exc:
        raise NotFound(str(exc)) from None


class CrowdHidden(APIException):
    """The crowd is hidden from the requester (forecasts.reveal): 403 with ``hidden`` set, as
    the crowd history answers."""

    status_code = 403

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()
        self.detail = body  # type: ignore[assignment]


def _revealed_binary_question(request: Request, pk: Any) -> Question:
    question = visible_question(request, pk)
    if not question.is_binary:
        raise ValidationError(
            {"question": "Cohort crowds are given for yes/no questions (docs/methods.md §16.2)."}
        )
    state = CrowdState.objects.filter(question=question).first()
    reveal = crowd_reveal(question, request.user, state=state)
    if not reveal.visible:
        raise CrowdHidden({"detail": reveal.reason, "hidden": True})
    return question


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _points(question: Question, cohort: str, request: Request) -> list[dict[str, Any]]:
    """The cohort's history points as the requester may see them: every point with
    full-history access, else the public ones pooling at least the public threshold."""
    hist = cohorts.cohort_history(question, cohort)
    everything = full_history_access(request.user)
    least = public_threshold(question.tournament.min_forecasters)
    out = []
    for i, stamp in enumerate(hist.stamps):
        n = int(hist.forecasters[i])
        if not everything and (not hist.public_seq[i] or n < least):
            continue
        out.append(
            {
                "seq": i + 1,
                "time": stamp.isoformat().replace("+00:00", "Z"),
                "forecasters": n,
                "probability": _num(float(hist.probability[i])),
                "median": _num(float(hist.median[i])),
                "mean": _num(float(hist.mean[i])),
            }
        )
    return out


class QuestionCohortsView(ApiViewMixin, APIView):
    """Every cohort's current crowd of a yes/no question, and which one is the default."""

    @extend_schema(
        summary="The crowd of each cohort (humans, bots, everyone) now",
        responses={200: OpenApiTypes.OBJECT, **errors(400, *READ_ERRORS), 403: HIDDEN},
    )
    def get(self, request: Request, pk: str) -> Response:
        question = _revealed_binary_question(request, pk)
        states = cohorts.cohort_states(question)
        data: dict[str, Any] = {}
        for cohort in cohorts.COHORTS:
            state = states[cohort]
            median = cohorts.cohort_compute(question, cohort).median if state.forecasters else None
            data[cohort] = {
                "forecasters": state.forecasters,
                "probability": state.probability,
                "mean": state.mean,
                "median": median,
            }
        return Response(
            {
                "question": question.pk,
                "default": cohorts.default_cohort(question.tournament),
                "bots_in_crowd": question.tournament.bots_in_crowd,
                "cohorts": data,
            }
        )


class QuestionCohortHistoryView(ApiViewMixin, GenericAPIView):
    """One cohort's crowd history of a yes/no question, rebuilt from the log (paginated)."""

    # The browsable API builds a filter form from the queryset; the view builds its own points.
    queryset = CohortState.objects.none()

    @extend_schema(
        summary="Crowd history of one cohort (humans, bots or everyone)",
        responses={200: OpenApiTypes.OBJECT, **errors(400, *READ_ERRORS), 403: HIDDEN},
    )
    def get(self, request: Request, pk: str, cohort: str) -> Response:
        name = _cohort(cohort)
        question = _revealed_binary_question(request, pk)
        page = self.paginate_queryset(_points(question, name, request))  # type: ignore[arg-type]
        return self.get_paginated_response(page)


def _csv_lines(question: Question, cohort: str, request: Request) -> Iterator[str]:
    for p in _points(question, cohort, request):
        cells = [
            question.key,
            cohort,
            p["time"],
            str(p["forecasters"]),
            *("" if p[k] is None else repr(p[k]) for k in ("probability", "median", "mean")),
        ]
        yield ",".join(_csv_cell(c) for c in cells) + "\n"


def _csv_cell(value: str) -> str:
    if any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


CSV_RESPONSE = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV")}


class _CsvView(ApiViewMixin, APIView):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # A file whatever the Accept header says (as the crowd exports): never a 406.
        return super().perform_content_negotiation(request, force=True)


class QuestionCohortExportView(_CsvView):
    @extend_schema(
        summary="One cohort's crowd history of a question as CSV",
        responses={**CSV_RESPONSE, **errors(400, *READ_ERRORS), 403: HIDDEN},
    )
    def get(self, request: Request, pk: str, cohort: str) -> HttpResponse:
        name = _cohort(cohort)
        question = _revealed_binary_question(request, pk)
        body = CSV_HEADER + "".join(_csv_lines(question, name, request))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="q{question.pk}-{name}.csv"'
        return response


class TournamentCohortExportView(_CsvView):
    @extend_schema(
        summary="One cohort's crowd history of every yes/no question of a tournament as CSV",
        responses={**CSV_RESPONSE, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, slug: str, cohort: str) -> StreamingHttpResponse:
        name = _cohort(cohort)
        tournament = visible_tournament(request, slug)
        questions = list(
            Question.objects.filter(tournament=tournament, type=Question.Type.BINARY)
            .select_related("tournament")
            .order_by("key")
        )

        def lines() -> Iterator[str]:
            yield CSV_HEADER
            for question in questions:
                state = CrowdState.objects.filter(question=question).first()
                if crowd_reveal(question, request.user, state=state).visible:
                    yield from _csv_lines(question, name, request)

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{tournament.slug}-{name}.csv"'
        return response


# --- leaderboards by cohort, head to head (docs/methods.md §16.3) ----------------------------


class CohortLeaderboardView(ApiViewMixin, APIView):
    """The humans or bots leaderboard of a tournament (ranked among the cohort)."""

    @extend_schema(
        summary="Leaderboard of one cohort: humans, or bots (owners' primary bots ranked)",
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, slug: str, board: str) -> Response:
        tournament = visible_tournament(request, slug)
        try:
            entries = cohort_board(tournament, board)
        except ValueError as exc:
            raise NotFound(str(exc)) from None
        return Response(
            {
                "tournament": tournament.slug,
                "board": board,
                "results": [
                    {
                        "rank": e.cohort_rank,  # type: ignore[attr-defined]
                        "forecaster": e.forecaster.display_name,
                        "is_bot": e.forecaster.is_bot,
                        "primary": e.forecaster.is_primary,
                        "owner": e.forecaster.owner.get_username() if e.forecaster.owner else None,
                        "questions": e.questions,
                        "total_peer": e.total_peer,
                        "mean_peer": e.mean_peer,
                        "mean_brier": e.mean_brier,
                        "mean_coverage": e.mean_coverage,
                    }
                    for e in entries
                ],
            }
        )


class HeadToHeadView(ApiViewMixin, APIView):
    """Each bot's peer score against the human crowd on the questions both forecast."""

    @extend_schema(
        summary="Bots head to head with the human crowd",
        responses={200: OpenApiTypes.OBJECT, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        tournament = visible_tournament(request, slug)
        return Response(
            {
                "tournament": tournament.slug,
                "results": [
                    {
                        "forecaster": h.forecaster.display_name,
                        "is_bot": True,
                        "questions": h.questions,
                        "total_peer_vs_human_crowd": h.total,
                        "mean_peer_vs_human_crowd": h.mean,
                        "by_question": h.by_question,
                    }
                    for h in head_to_head(tournament)
                ],
            }
        )
