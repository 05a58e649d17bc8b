from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from forecasts.signals import log_changed
        from markets.resolution.signals import resolution_finalized
        from scoring.receivers import on_log_changed, on_resolution_finalized

        # A final resolution version is scored after commit (markets never imports scoring);
        # a resolved question whose log changed (an import) is scored again.
        resolution_finalized.connect(on_resolution_finalized, dispatch_uid="scoring.score_final")
        log_changed.connect(on_log_changed, dispatch_uid="scoring.rescore_changed_log")
