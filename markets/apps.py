from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "markets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from markets.benchmarks.signals import results_changed
        from markets.resolution import conditional, signals
        from markets.tasks import on_results_changed

        # New or revised benchmark results run the milestone rules (ingestion knows nothing of
        # questions; the resolution workflow subscribes here).
        results_changed.connect(on_results_changed, dispatch_uid="markets.milestones_after_results")
        # Every final version and withdrawal carries a conditional's branches along, in the
        # same transaction, whichever door it came through (docs/methods.md §14).
        signals.resolution_finalized.connect(
            conditional.on_resolution_finalized, dispatch_uid="markets.conditional_finalized"
        )
        signals.resolution_withdrawn.connect(
            conditional.on_resolution_finalized, dispatch_uid="markets.conditional_withdrawn"
        )
        signals.resolutions_finalized.connect(
            conditional.on_resolutions_finalized, dispatch_uid="markets.conditional_finalized_many"
        )
