"""REST API, scoring side: scores, leaderboards, calibration and the scores export."""

from __future__ import annotations

import math
from typing import Any

from django.db.models import QuerySet, Value
from django.db.models.functions import Coalesce
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ApiViewMixin, visible_tournament
from api.errors import READ_ERRORS, errors
from api.pagination import KeysetPagination
from api.params import (
    MAX_ID,
    POSITIVE_INT,
    param_as_of,
    param_bool,
    param_choice,
    param_int,
    param_text,
)
from api.renderers import RoundedJSONRenderer
from api.serializers.scoring import (
    LEADERBOARD_VALUES,
    SCORE_VALUES,
    CalibrationSerializer,
    LeaderboardEntrySerializer,
    ScoreSerializer,
    leaderboard_list_data,
    score_list_data,
    subject_labels,
)
from forecasts import exports
from forecasts.models import Forecast, Forecaster
from forecasts.privacy import full_history_access
from forecasts.selectors import crowd_at_cutoff, forecasts_held_at
from markets.models import Question, Resolution, Tournament
from scoring import exports as score_exports
from scoring import market_exports
from scoring.held import everyone_held, scored_finals
from scoring.leaderboard import STANDINGS_ORDER, would_rank
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from scoring.typed_calibration import (
    has_typed_finals,
    typed_calibration,
    typed_calibration_inputs,
)
from scoring.visibility import scores_visible_to

# --- scores ----------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Scores of the current final resolutions",
        description=(
            "Staff and researchers with the `forecasts.view_forecast` permission see every "
            "forecaster's scores, named by pseudonyms of their own; everyone else sees the "
            "crowd's scores (spot scores where the crowd at the cutoff is public) and their own "
            "(named by username). docs/privacy.md."
        ),
        parameters=[
            OpenApiParameter("tournament", str, description="Tournament slug."),
            OpenApiParameter("question", POSITIVE_INT, description="Question id."),
            OpenApiParameter("rule", str, enum=Rule.values),
            OpenApiParameter("subject", str, enum=Subject.values),
            OpenApiParameter("mine", bool, description="Only your own scores."),
        ],
        responses={200: ScoreSerializer(many=True), **errors(400, *READ_ERRORS)},
    )
)
class ScoreViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ScoreSerializer
    # Read by cursor unless a page number is asked for (api.pagination); the order is the index
    # scoring.Score "score_list_order" (the crowd rows' NULL forecaster read as 0: within one
    # question and subject the forecaster is either always NULL or never, so the order is the
    # same as by forecaster id).
    pagination_class = KeysetPagination
    keyset_fields = ("question_id", "subject", "forecaster_key", "rule")
    keyset_types = (int, str, int, str)

    def get_queryset(self) -> QuerySet[Score]:
        user = self.request.user
        qs = (
            Score.objects.filter(
                question__in=Question.objects.visible_to(user),
                resolution__state=Resolution.State.FINAL,
            )
            .select_related("question__tournament", "resolution", "forecaster__user")
            .annotate(forecaster_key=Coalesce("forecaster_id", Value(0)))
            .order_by(*self.keyset_fields)
        )
        r = self.request
        if slug := param_text(r, "tournament"):
            qs = qs.filter(question__tournament__slug=slug)
        if (qid := param_int(r, "question", minimum=1, maximum=MAX_ID)) is not None:
            qs = qs.filter(question_id=qid)
        if rule := param_choice(r, "rule", Rule.values):
            qs = qs.filter(rule=rule)
        if subject := param_choice(r, "subject", Subject.values):
            qs = qs.filter(subject=subject)
        if param_bool(r, "mine"):
            qs = qs.filter(forecaster__user=user) if user.is_authenticated else qs.none()
        return scores_visible_to(user, qs)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["labels"] = subject_labels(self.request.user)
        return context

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One page as ``ScoreSerializer`` writes it, read as ``values()`` rows (a page of 1000
        scores built as model instances and serialized field by field took 0.2 s of CPU)."""
        page = self.paginate_queryset(
            self.get_queryset().values(*SCORE_VALUES, *self.keyset_fields)
        )
        return self.get_paginated_response(score_list_data(page or [], request.user))


# --- leaderboard -----------------------------------------------------------------------------


class LeaderboardView(ApiViewMixin, GenericAPIView):
    serializer_class = LeaderboardEntrySerializer
    # The browsable API builds a filter form from the queryset; the view reads its own rows.
    queryset = LeaderboardEntry.objects.none()

    @extend_schema(
        summary="Leaderboard of a tournament (peer scores; the crowd ranked alongside)",
        description=(
            "Ranked forecasters first, by rank; equal total peer scores share a rank (standard "
            "competition ranking: 1, 1, 3). The crowd, median and mean rows are never ranked; "
            "`would_rank` says where each would stand, by the same rule (docs/methods.md §7). "
            "Forecasters by their public identity, the username (as on the site's leaderboard); "
            "an imported forecaster by its dataset key. docs/privacy.md."
        ),
        responses={200: LeaderboardEntrySerializer(many=True), **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        tournament = visible_tournament(request, slug)
        qs = (
            LeaderboardEntry.objects.filter(tournament=tournament)
            .select_related("forecaster__user")
            .order_by(*STANDINGS_ORDER)
        )
        # values() rows, written as LeaderboardEntrySerializer writes them: 1000 serialized
        # model instances took about 0.1 s of CPU (issue 19, docs/performance.md).
        page = self.paginate_queryset(qs.values(*LEADERBOARD_VALUES)) or []
        reference = [
            LeaderboardEntry(subject=e["subject"], total_peer=e["total_peer"])
            for e in page
            if e["forecaster_id"] is None
        ]
        ranks = would_rank(tournament.pk, reference)[0] if reference else {}
        return self.get_paginated_response(leaderboard_list_data(page, request.user, ranks))


# --- calibration -----------------------------------------------------------------------------

CALIBRATION_SUBJECTS = ("crowd", "median", "mean", "forecasters", "me")
HELD_AT = "the forecast held at the scheduled close, or at resolution when that came first"


CROWD_FIELDS = {"crowd": "probability", "median": "median", "mean": "mean"}


def calibration_inputs(
    tournament: Tournament, subject: str, user: Any
) -> tuple[list[float], list[int], int]:
    """Probabilities, outcomes and the number of questions they come from (two or three
    queries; every forecaster's held forecasts come from a cache when nothing changed).

    The crowd subjects take the crowd held at each cutoff; without full-history access the
    public series' point at the cutoff (docs/privacy.md).
    """
    finals = scored_finals(tournament)
    held: list[tuple[int, list[float]]] = []  # (outcome, forecasts held at the cutoff)
    if subject in CROWD_FIELDS:
        public = not full_history_access(user)
        for r in finals.annotate(held=crowd_at_cutoff(CROWD_FIELDS[subject], public=public)):
            held.append((r.outcome_value, [] if r.held is None else [r.held]))
    else:
        rows = list(finals.values_list("question_id", "cutoff", "outcome"))
        if subject == "me":
            events = Forecast.objects.filter(forecaster__user=user)
            latest = forecasts_held_at({q: cutoff for q, cutoff, _ in rows}, events)
            by_question = {
                qid: [p for p in latest[qid].values() if p is not None] for qid, _, _ in rows
            }
        else:
            by_question = everyone_held(tournament, rows)
        for qid, _, outcome in rows:
            value = 1 if outcome == Resolution.Outcome.YES else 0
            held.append((value, by_question[qid]))
    probs: list[float] = []
    outcomes: list[int] = []
    for outcome, forecasts in held:
        probs.extend(forecasts)
        outcomes.extend([outcome] * len(forecasts))
    return probs, outcomes, sum(1 for _, forecasts in held if forecasts)


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else x


CALIBRATION_CSV_COLUMNS = (
    "lower",
    "upper",
    "count",
    "mean_forecast",
    "observed_frequency",
    "wilson_low",
    "wilson_high",
)


class CalibrationCSVRenderer(BaseRenderer):
    """``?format=csv``: the bins, one row each, in the CSV form of every export
    (``forecasts.exports.csv_text`` / ``csv_number``). Only a 200's body reaches it: errors are
    rendered as JSON (``api.base.ApiViewMixin.handle_exception``)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None
    ) -> bytes:
        lines = [",".join(exports.csv_text(c) for c in CALIBRATION_CSV_COLUMNS)]
        lines += [
            ",".join(exports.csv_number(b[c]) for c in CALIBRATION_CSV_COLUMNS)
            for b in data["bins"]
        ]
        return ("\n".join(lines) + "\n").encode()


class CalibrationView(ApiViewMixin, GenericAPIView):
    # JSON, the browsable API for a browser (as every other endpoint), and ?format=csv.
    renderer_classes = [RoundedJSONRenderer, BrowsableAPIRenderer, CalibrationCSVRenderer]
    serializer_class = CalibrationSerializer
    pagination_class = None

    @extend_schema(
        summary="Calibration: reliability bins with 95% Wilson intervals, Brier decomposition",
        description=(
            "Over the tournament's questions resolved YES or NO, each subject's forecast held at "
            "the scheduled close (or at resolution when earlier). `subject`: the crowd (log "
            "pool), its median or mean, all forecasters together, or `me`. `?format=csv` gives "
            "the bins as CSV. A tournament with resolved multiple-choice or continuous "
            "questions adds `multiple_choice` (one-vs-rest bins) and `continuous` (PIT "
            "histogram, central 50%/90% interval coverage with Wilson intervals)."
        ),
        parameters=[
            OpenApiParameter("subject", str, enum=list(CALIBRATION_SUBJECTS), default="crowd"),
            OpenApiParameter(
                "bins",
                {"type": "integer", "minimum": 1, "maximum": 100},
                default=10,
                description="Number of equal-width bins.",
            ),
        ],
        responses={200: CalibrationSerializer, **errors(400, *READ_ERRORS)},
    )
    def get(self, request: Request, slug: str) -> Response:
        from scoring.calibration import brier_decomposition, calibration_bins

        tournament = visible_tournament(request, slug)
        subject = param_choice(request, "subject", CALIBRATION_SUBJECTS, default="crowd")
        if subject == "me" and not request.user.is_authenticated:
            raise ValidationError({"subject": ["Log in (or send a token) to see your own."]})
        n_bins = param_int(request, "bins", minimum=1, maximum=100, default=10)
        probs, outcomes, questions = calibration_inputs(tournament, subject, request.user)
        bins = calibration_bins(probs, outcomes, n_bins)
        decomposition = None
        if probs:
            d = brier_decomposition(probs, outcomes, n_bins)
            decomposition = {
                "bs": d.bs,
                "rel": d.rel,
                "res": d.res,
                "unc": d.unc,
                "wbv": d.wbv,
                "wbc": d.wbc,
                "murphy": d.murphy,
            }
        data = {
            "tournament": tournament.slug,
            "subject": subject,
            "forecasts": len(probs),
            "questions": questions,
            "held_at": HELD_AT,
            "bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "count": b.count,
                    "mean_forecast": _finite_or_none(b.mean_forecast),
                    "observed_frequency": _finite_or_none(b.observed_frequency),
                    "wilson_low": b.wilson_low,
                    "wilson_high": b.wilson_high,
                }
                for b in bins
            ],
            "decomposition": decomposition,
        }
        if has_typed_finals(tournament):  # docs/methods.md §5.7: extra sections, binary as was
            mine = None
            if subject == "me":
                mine = set(
                    Forecaster.objects.filter(user=request.user).values_list("pk", flat=True)
                )
            typed_inputs = typed_calibration_inputs(
                tournament,
                subject,
                forecaster_ids=mine,
                public=not full_history_access(request.user),
            )
            data.update(typed_calibration(typed_inputs, n_bins))
        return Response(data)


# --- scores export ---------------------------------------------------------------------------


SCORES_EXPORT_AS_OF = OpenApiParameter(
    "as_of",
    OpenApiTypes.DATETIME,
    description=(
        "Scores of the final resolutions as they stood at this time (ISO 8601; a future time "
        "is refused). Default: now minus one second. The same as_of gives the same bytes; the "
        "response's X-Takeoff-As-Of header tells the value used."
    ),
)


def _scores_export_plan(request: Request, slug: str) -> score_exports.ScoreExport:
    tournament = visible_tournament(request, slug)
    if not full_history_access(request.user):
        raise PermissionDenied("Forecasters' scores are for staff and permitted researchers.")
    return score_exports.score_export_plan(
        tournament=tournament, as_of=param_as_of(request), recipient=request.user.pk
    )


class ScoresExportView(ApiViewMixin, GenericAPIView):
    pagination_class = None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="All scores of a tournament as CSV (staff and permitted researchers)",
        description=(
            "Scores of the final resolutions as of `as_of`, one row per question, subject, "
            "forecaster and rule, with the resolution version and outcome they were scored "
            "against; `forecaster` is a keyed-HMAC pseudonym of your own (imported "
            "forecasters keep their keys), empty for the crowd. The format of "
            "`manage.py export_scores`; the manifest is at `scores-export/manifest/`. "
            "Individual-level data: staff and researchers with the "
            "`forecasts.view_forecast` permission (docs/privacy.md); the crowd's scores are "
            "at `/api/v1/scores/?subject=crowd` for everyone."
        ),
        parameters=[SCORES_EXPORT_AS_OF],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
            **errors(400, *READ_ERRORS, 403),
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        export = _scores_export_plan(request, slug)
        response = StreamingHttpResponse(
            score_exports.render_scores_csv(
                export.tournament, recipient=export.recipient, as_of=export.as_of
            ),
            content_type=exports.CONTENT_TYPES["csv"],
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{export.tournament.slug}-scores.csv"'
        )
        response["X-Takeoff-As-Of"] = exports.iso(export.as_of)
        return response


class ScoresManifestView(ApiViewMixin, GenericAPIView):
    pagination_class = None
    # A manifest is compared value for value by verify_export: its floats are not rounded.
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @extend_schema(
        summary="Manifest of a tournament's score export (resolutions, rows, SHA-256)",
        description=(
            "The manifest of `scores-export/` with the same `as_of`, for your pseudonyms "
            "(`pseudonyms: recipient`): compare its `output.sha256` with the file's. Staff and "
            "permitted researchers."
        ),
        parameters=[SCORES_EXPORT_AS_OF],
        responses={200: OpenApiTypes.OBJECT, **errors(400, *READ_ERRORS, 403)},
    )
    def get(self, request: Request, slug: str) -> Response:
        export = _scores_export_plan(request, slug)
        return Response(
            score_exports.build_scores_manifest(
                export, filename=f"{export.tournament.slug}-scores.csv"
            )
        )


# --- trades and market history export ---------------------------------------------------------


MARKET_EXPORT_PARAMETERS = [
    OpenApiParameter(
        "dataset",
        str,
        enum=list(market_exports.DATASETS),
        default="trades",
        description="`trades`: one row per trade (trader pseudonymised); `history`: the market "
        "price history, a row per trade and outcome.",
    ),
    OpenApiParameter(
        "format",
        str,
        enum=list(market_exports.FORMATS),
        default="csv",
        description="File format.",
    ),
    OpenApiParameter(
        "as_of",
        OpenApiTypes.DATETIME,
        description=(
            "Trades executed at or before this time (ISO 8601; a future time is refused). "
            "Default: now minus one second. The same as_of gives the same bytes; the "
            "response's X-Takeoff-As-Of header tells the value used."
        ),
    ),
]


def _market_export_plan(request: Request, slug: str) -> market_exports.MarketExport:
    tournament = visible_tournament(request, slug)
    if not full_history_access(request.user):
        raise PermissionDenied("Trades and market exports are for staff and permitted researchers.")
    dataset = param_choice(request, "dataset", market_exports.DATASETS, default="trades")
    fmt = param_choice(request, "format", market_exports.FORMATS, default="csv")
    return market_exports.market_export_plan(
        tournament=tournament,
        dataset=dataset or "trades",
        fmt=fmt or "csv",
        as_of=param_as_of(request),
        recipient=request.user.pk,
    )


class TradesExportView(ApiViewMixin, GenericAPIView):
    pagination_class = None

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="A tournament's trades or market price history (staff and permitted researchers)",
        description=(
            "The play-money trades of the tournament's markets as of `as_of` (`dataset=trades`: "
            "question, sequence, time, trader, outcome, outcome_label, shares, cost; `trader` "
            "is your keyed-HMAC pseudonym of the trader's forecaster, `t_…` for a trader who "
            "never forecast) or the market price history (`dataset=history`: a row per trade "
            "and outcome with the price after the trade), as CSV, JSON or Parquet. The format "
            "of `manage.py export_trades`; the manifest is at `trades-export/manifest/`. "
            "docs/methods.md §15.9, docs/researcher-guide.md."
        ),
        parameters=MARKET_EXPORT_PARAMETERS,
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV"),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.ANY, description="JSON: an array of row objects"
            ),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(
                OpenApiTypes.BINARY, description="Parquet"
            ),
            **errors(400, *READ_ERRORS, 403),
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        export = _market_export_plan(request, slug)
        response = StreamingHttpResponse(
            market_exports.render_market_export(export),
            content_type=exports.CONTENT_TYPES[export.fmt],
        )
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Takeoff-As-Of"] = exports.iso(export.as_of)
        return response


class TradesManifestView(ApiViewMixin, GenericAPIView):
    pagination_class = None
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # ``format`` names the export's file format here, not a renderer: always JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        summary="Manifest of a tournament's trades or market history export",
        description=(
            "The manifest of `trades-export/` with the same `dataset`, `format` and `as_of`, "
            "for your pseudonyms (`pseudonyms: recipient`): compare its `output.sha256` with "
            "the file's. Staff and permitted researchers."
        ),
        parameters=MARKET_EXPORT_PARAMETERS,
        responses={200: OpenApiTypes.OBJECT, **errors(400, *READ_ERRORS, 403)},
    )
    def get(self, request: Request, slug: str) -> Response:
        export = _market_export_plan(request, slug)
        return Response(market_exports.build_market_manifest(export, filename=export.filename))
