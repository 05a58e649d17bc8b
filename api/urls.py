"""REST API routes: /api/v1/, the OpenAPI schema and its docs (served from the sidecar, no CDN)."""

from typing import Any

from django.http import Http404
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.exceptions import NotAcceptable
from rest_framework.routers import DefaultRouter

from api import bots as bots_api
from api import cohorts as cohorts_api
from api import forecasts as forecasts_api
from api import markets as markets_api
from api import scoring as scoring_api
from api import trading as trading_api
from api.base import api_not_found

router = DefaultRouter()
router.register("tournaments", markets_api.TournamentViewSet, basename="tournament")
router.register("questions", markets_api.QuestionViewSet, basename="question")
router.register("conditionals", markets_api.ConditionalViewSet, basename="conditional")
router.register("benchmarks", markets_api.BenchmarkViewSet, basename="benchmark")
router.register("forecasts", forecasts_api.ForecastViewSet, basename="forecast")
router.register("scores", scoring_api.ScoreViewSet, basename="score")


class SchemaView(SpectacularAPIView):
    """The OpenAPI document: a file, like the exports, whatever the Accept header says (a
    browser's ``text/html`` got a 406). YAML unless ``?format=json`` or the Accept header
    asks for JSON."""

    def perform_content_negotiation(self, request: Any, force: bool = False) -> Any:
        try:
            return super().perform_content_negotiation(request)
        except NotAcceptable:
            renderers = self.get_renderers()
            fmt = request.query_params.get("format")
            renderers = [r for r in renderers if r.format == fmt] or renderers
            return renderers[0], renderers[0].media_type
        except Http404:  # ?format= names no renderer: DRF's 404, rendered by the first one
            if not force:
                raise
            return super().perform_content_negotiation(request, force=True)


TOURNAMENT = "tournaments/<slug:slug>/"
QUESTION = "questions/<int:pk>/"

v1 = [
    path("bots/", bots_api.BotListView.as_view(), name="bots"),
    path("bots/<str:pk>/primary/", bots_api.BotPrimaryView.as_view(), name="bot-primary"),
    path("bots/<str:pk>/token/", bots_api.BotTokenView.as_view(), name="bot-token"),
    path(f"{QUESTION}cohorts/", cohorts_api.QuestionCohortsView.as_view(), name="question-cohorts"),
    path(
        f"{QUESTION}cohorts/<str:cohort>/history/",
        cohorts_api.QuestionCohortHistoryView.as_view(),
        name="question-cohort-history",
    ),
    path(
        f"{QUESTION}cohorts/<str:cohort>/crowd-export/",
        cohorts_api.QuestionCohortExportView.as_view(),
        name="question-cohort-export",
    ),
    path(
        f"{TOURNAMENT}leaderboard/<str:board>/",
        cohorts_api.CohortLeaderboardView.as_view(),
        name="cohort-leaderboard",
    ),
    path(f"{TOURNAMENT}head-to-head/", cohorts_api.HeadToHeadView.as_view(), name="head-to-head"),
    path(
        f"{TOURNAMENT}cohorts/<str:cohort>/crowd-export/",
        cohorts_api.TournamentCohortExportView.as_view(),
        name="tournament-cohort-export",
    ),
    path(
        f"{QUESTION}history/", forecasts_api.QuestionHistoryView.as_view(), name="question-history"
    ),
    path(
        f"{QUESTION}crowd-export/",
        forecasts_api.QuestionCrowdExportView.as_view(),
        name="question-crowd-export",
    ),
    path(
        f"{QUESTION}crowd-export/manifest/",
        forecasts_api.QuestionCrowdManifestView.as_view(),
        name="question-crowd-manifest",
    ),
    path(
        f"{TOURNAMENT}crowd-export/",
        forecasts_api.TournamentCrowdExportView.as_view(),
        name="tournament-crowd-export",
    ),
    path(
        f"{TOURNAMENT}crowd-export/manifest/",
        forecasts_api.TournamentCrowdManifestView.as_view(),
        name="tournament-crowd-manifest",
    ),
    path(
        f"{TOURNAMENT}forecasts-export/",
        forecasts_api.TournamentForecastsExportView.as_view(),
        name="tournament-forecasts-export",
    ),
    path(f"{TOURNAMENT}leaderboard/", scoring_api.LeaderboardView.as_view(), name="leaderboard"),
    path(f"{TOURNAMENT}calibration/", scoring_api.CalibrationView.as_view(), name="calibration"),
    path(
        f"{TOURNAMENT}scores-export/",
        scoring_api.ScoresExportView.as_view(),
        name="tournament-scores-export",
    ),
    path(
        f"{TOURNAMENT}scores-export/manifest/",
        scoring_api.ScoresManifestView.as_view(),
        name="tournament-scores-manifest",
    ),
    path(
        f"{TOURNAMENT}trades-export/",
        scoring_api.TradesExportView.as_view(),
        name="tournament-trades-export",
    ),
    path(
        f"{TOURNAMENT}trades-export/manifest/",
        scoring_api.TradesManifestView.as_view(),
        name="tournament-trades-manifest",
    ),
    path(f"{QUESTION}market/", trading_api.MarketView.as_view(), name="question-market"),
    path(
        f"{QUESTION}market/history/",
        trading_api.MarketHistoryView.as_view(),
        name="question-market-history",
    ),
    path("trading/quote/", trading_api.QuoteView.as_view(), name="trading-quote"),
    path("trading/trades/", trading_api.TradesView.as_view(), name="trading-trades"),
    path("trading/positions/", trading_api.PositionsView.as_view(), name="trading-positions"),
    path("trading/balances/", trading_api.BalancesView.as_view(), name="trading-balances"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("api/v1/", include((v1, "api"), namespace="v1")),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api/ is a JSON 404, not the site's HTML page.
    re_path(r"^api/", api_not_found),
]
