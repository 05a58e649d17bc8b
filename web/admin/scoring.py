from django.contrib import admin

from scoring.models import LeaderboardEntry, Score


@admin.register(Score)
class ScoreAdmin(admin.ModelAdmin):
    list_display = ["question", "subject", "forecaster", "rule", "score", "coverage"]
    list_filter = ["rule", "subject", "question__tournament"]
    raw_id_fields = ["question", "resolution", "forecaster"]


@admin.register(LeaderboardEntry)
class LeaderboardEntryAdmin(admin.ModelAdmin):
    list_display = ["tournament", "rank", "subject", "forecaster", "questions", "total_peer"]
    list_filter = ["tournament"]
