from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from markets.errors import ResolutionError
from markets.models import (
    AuditRecord,
    Benchmark,
    BenchmarkResult,
    FeedSnapshot,
    Question,
    Resolution,
    Tournament,
)
from markets.services import question_resolve


@admin.register(Tournament)
class TournamentAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "visibility", "min_forecasters", "extremize", "created_at"]
    list_filter = ["visibility"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["members"]
    readonly_fields = ["fitted_extremize", "fitted_extremize_log_loss"]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "visibility", "members"]}),
        ("Reveal", {"fields": ["min_forecasters", "hide_until_forecast", "reveal_time"]}),
        (
            "Aggregation",
            {
                "fields": [
                    "extremize",
                    "base_rate",
                    "half_life_hours",
                    "track_record_weighting",
                    "fit_extremize",
                    "fitted_extremize",
                    "fitted_extremize_log_loss",
                ]
            },
        ),
    ]


class AuditInline(admin.TabularInline):
    model = AuditRecord
    extra = 0
    can_delete = False
    fields = ["at", "action", "who", "reason", "resolution"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


def _resolve_action(outcome: str, label: str):
    def action(modeladmin: QuestionAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for question in queryset:
            try:
                question_resolve(
                    question_id=question.pk,
                    outcome=outcome,
                    reason=f"Resolved {label} from the admin list by {request.user}",
                    user=request.user,
                )
                done += 1
            except ResolutionError as exc:
                modeladmin.message_user(request, f"{question}: {exc}", messages.ERROR)
        if done:
            modeladmin.message_user(request, f"Resolved {done} question(s) {label}.")

    action.__name__ = f"resolve_{outcome}"
    action.short_description = f"Resolve selected questions {label}"  # type: ignore[attr-defined]
    return action


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["title", "tournament", "status", "open_time", "close_time", "needs_review"]
    list_filter = ["status", "tournament", "needs_review", "benchmark"]
    search_fields = ["title", "key"]
    inlines = [AuditInline]
    actions = [
        _resolve_action("yes", "YES"),
        _resolve_action("no", "NO"),
        _resolve_action("annulled", "ANNULLED"),
    ]
    fieldsets = [
        (None, {"fields": ["tournament", "key", "title", "description", "resolution_criteria"]}),
        ("Lifecycle", {"fields": ["open_time", "close_time", "status", "needs_review"]}),
        (
            "Milestone criterion",
            {"fields": ["benchmark", "comparator", "threshold", "deadline", "grace_days"]},
        ),
    ]


@admin.register(Resolution)
class ResolutionAdmin(admin.ModelAdmin):
    list_display = ["question", "version", "outcome", "state", "source", "decided_by", "created_at"]
    list_filter = ["state", "outcome", "source"]
    search_fields = ["question__title", "reason"]
    inlines = [AuditInline]

    # Versions are created by services only; the admin shows them.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin):
    list_display = ["at", "question", "action", "who", "reason"]
    list_filter = ["action"]
    search_fields = ["question__title", "reason"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Benchmark)
class BenchmarkAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "unit", "higher_is_better"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(BenchmarkResult)
class BenchmarkResultAdmin(admin.ModelAdmin):
    list_display = ["benchmark", "system", "value", "achieved_on", "first_seen", "is_current"]
    list_filter = ["benchmark", "is_current"]
    search_fields = ["system"]
    readonly_fields = ["snapshot", "revision_of", "is_current", "entered_by"]

    def save_model(self, request: HttpRequest, obj: BenchmarkResult, form, change: bool) -> None:
        if not change:
            obj.entered_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(FeedSnapshot)
class FeedSnapshotAdmin(admin.ModelAdmin):
    list_display = ["fetched_at", "feed", "source", "outcome", "results_added", "results_revised"]
    list_filter = ["feed", "outcome"]
    exclude = ["raw"]
    readonly_fields = [
        "feed", "source", "fetched_at", "etag", "last_modified", "sha256", "size",
        "parser_version", "outcome", "error", "results_added", "results_revised",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
