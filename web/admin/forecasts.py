from django.contrib import admin
from django.http import HttpRequest

from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster


@admin.register(Forecaster)
class ForecasterAdmin(admin.ModelAdmin):
    list_display = ["display_name", "user", "source", "key", "created_at"]
    list_filter = ["source"]
    search_fields = ["key", "user__username"]


@admin.register(Forecast)
class ForecastAdmin(admin.ModelAdmin):
    """The forecast log is append-only: staff can read it, not edit it."""

    list_display = ["time", "question", "forecaster", "kind", "probability"]
    list_filter = ["kind", "question__tournament"]
    search_fields = ["question__title", "forecaster__key", "forecaster__user__username"]
    list_select_related = ["question", "forecaster__user"]
    raw_id_fields = ["question", "forecaster"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CrowdState)
class CrowdStateAdmin(admin.ModelAdmin):
    list_display = ["question", "probability", "median", "mean", "forecasters", "events"]
    readonly_fields = [f.name for f in CrowdState._meta.fields]


@admin.register(CrowdPoint)
class CrowdPointAdmin(admin.ModelAdmin):
    list_display = ["question", "seq", "time", "probability", "median", "mean", "forecasters"]
    list_filter = ["question__tournament"]
    raw_id_fields = ["question", "forecast"]
