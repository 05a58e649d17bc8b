from django.contrib import admin
from django.http import HttpRequest

from forecasts.models import (
    CrowdPoint,
    CrowdState,
    Forecast,
    Forecaster,
    FrozenWeights,
    TrackRecordWeight,
)
from web.admin.readonly import ReadOnlyAdmin


@admin.register(Forecaster)
class ForecasterAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "source", "key", "created_at"]
    list_filter = ["source"]
    search_fields = ["key", "user__username"]
    readonly_fields = ["user", "source", "key"]

    # A forecaster with forecasts is part of the log: deleting them would rewrite the crowd.
    def has_delete_permission(self, request: HttpRequest, obj: Forecaster | None = None) -> bool:
        if obj is None or obj.forecasts.exists():
            return False
        return super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Forecast)
class ForecastAdmin(ReadOnlyAdmin):
    """The forecast log is append-only: staff can read it, not edit or delete it."""

    list_display = ["time", "question", "forecaster", "kind", "probability"]
    list_filter = ["kind", "question__tournament"]
    search_fields = ["question__title", "forecaster__key", "forecaster__user__username"]
    list_select_related = ["question", "forecaster__user"]
    raw_id_fields = ["question", "forecaster"]


@admin.register(CrowdState)
class CrowdStateAdmin(ReadOnlyAdmin):
    list_display = ["question", "probability", "median", "mean", "forecasters", "events"]


@admin.register(CrowdPoint)
class CrowdPointAdmin(ReadOnlyAdmin):
    list_display = ["question", "seq", "time", "probability", "median", "mean", "forecasters"]
    list_filter = ["question__tournament"]
    raw_id_fields = ["question", "forecast"]
    # The model's ("question", "seq") orders by the question's own ordering (close time):
    # a sort of every point. By id, it is the unique (question, seq) index.
    ordering = ["question_id", "seq"]


@admin.register(TrackRecordWeight)
class TrackRecordWeightAdmin(ReadOnlyAdmin):
    list_display = ["forecaster", "tournament", "weight", "questions", "updated_at"]
    list_filter = ["tournament"]


@admin.register(FrozenWeights)
class FrozenWeightsAdmin(ReadOnlyAdmin):
    """The weights a settled question's crowd keeps (docs/methods.md §6.2): a record, not a
    setting."""

    list_display = ["question", "frozen_at"]
    list_filter = ["question__tournament"]
    raw_id_fields = ["question"]
