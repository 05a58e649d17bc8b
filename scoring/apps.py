from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from forecasts.signals import log_changed
        from markets.resolution.signals import (
            resolution_finalized,
            resolution_withdrawn,
            resolutions_finalized,
        )
        from scoring.receivers import (
            on_log_changed,
            on_resolution_finalized,
            on_resolution_withdrawn,
            on_resolutions_finalized,
        )

        # A final resolution version is scored after commit (markets never imports scoring);
        # an un-resolved question loses its scores; a resolved question whose log changed (an
        # import) is scored again.
        resolution_finalized.connect(on_resolution_finalized, dispatch_uid="scoring.score_final")
        resolutions_finalized.connect(on_resolutions_finalized, dispatch_uid="scoring.score_finals")
        resolution_withdrawn.connect(
            on_resolution_withdrawn, dispatch_uid="scoring.unscore_withdrawn"
        )
        log_changed.connect(on_log_changed, dispatch_uid="scoring.rescore_changed_log")

        # ``verify_export`` (forecasts) replays score manifests too, without importing scoring.
        from forecasts.exports import VERIFIERS
        from scoring.exports import KIND, verify_scores_manifest

        VERIFIERS[KIND] = verify_scores_manifest
        from scoring.market_exports import KINDS, verify_market_manifest

        for kind in KINDS:
            VERIFIERS[kind] = verify_market_manifest
