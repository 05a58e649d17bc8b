from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from markets.resolution.signals import resolution_finalized
        from scoring.receivers import on_resolution_finalized

        # A final resolution version is scored after commit (markets never imports scoring).
        resolution_finalized.connect(on_resolution_finalized, dispatch_uid="scoring.score_final")
