"""Scores and leaderboards are derived by scoring services: read-only here."""

from django.contrib import admin

from scoring.models import LeaderboardEntry, Score
from web.admin.readonly import ReadOnlyAdmin


@admin.register(Score)
class ScoreAdmin(ReadOnlyAdmin):
    list_display = ["question", "subject", "forecaster", "rule", "score", "coverage"]
    list_filter = ["rule", "subject", "question__tournament"]
    raw_id_fields = ["question", "resolution", "forecaster"]
    # The forecaster is nullable (the crowd), so the admin would not join it by itself: one
    # query per row otherwise.
    list_select_related = ["question", "forecaster__user"]


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(ReadOnlyAdmin):
    list_display = ["tournament", "rank", "subject", "forecaster", "questions", "total_peer"]
    list_filter = ["tournament"]
    list_select_related = ["tournament", "forecaster__user"]
