"""The website's routes: pages, forecast writes and accounts (the API lives in api.urls)."""

from django.urls import include, path

from web import views
from web.views import accounts as accounts_views
from web.views import forecast as forecast_views
from web.views import trading as trading_views
from web.views.conditional import conditional_detail
from web.views.scoring_help import scoring_explained

urlpatterns = [
    path("", views.home, name="home"),
    path("tournaments/", views.tournament_list, name="tournament-list"),
    path("questions/", views.question_list, name="question-list"),
    path("tournaments/<slug:slug>/", views.tournament_detail, name="tournament-detail"),
    path("tournaments/<slug:slug>/leaderboard/", views.leaderboard, name="leaderboard"),
    path(
        "tournaments/<slug:slug>/market-leaderboard/",
        trading_views.market_leaderboard,
        name="market-leaderboard",
    ),
    path("questions/<int:pk>/", views.question_detail, name="question-detail"),
    path(
        "questions/<int:pk>/forecast/",
        forecast_views.forecast_submit_view,
        name="forecast-submit",
    ),
    path(
        "questions/<int:pk>/withdraw/",
        forecast_views.forecast_withdraw_view,
        name="forecast-withdraw",
    ),
    path("conditionals/<int:pk>/", conditional_detail, name="conditional-detail"),
    path("questions/<int:pk>/trade/", trading_views.trade_quote_view, name="trade-quote"),
    path(
        "questions/<int:pk>/trade/confirm/",
        trading_views.trade_confirm_view,
        name="trade-confirm",
    ),
    path("portfolio/", trading_views.portfolio, name="portfolio"),
    path("forecasters/<int:pk>/", views.track_record, name="track-record"),
    path("me/", views.my_track_record, name="my-track-record"),
    path("crowd/", views.crowd_track_record, name="crowd-track-record"),
    path("scoring/", scoring_explained, name="scoring"),
    path("benchmarks/", views.benchmark_list, name="benchmark-list"),
    path("benchmarks/<slug:slug>/", views.benchmark_detail, name="benchmark-detail"),
    # Pages to create and revoke API tokens (session login).
    path("account/tokens/", include("web.views.tokens")),
    path("accounts/signup/", views.signup, name="signup"),
    # Before django.contrib.auth.urls: the same name, with a limit on reset emails.
    path(
        "accounts/password_reset/",
        accounts_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    # login, logout, password_change(_done), password_reset(_done|_confirm|_complete)
    path("accounts/", include("django.contrib.auth.urls")),
]
