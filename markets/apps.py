from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "markets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from markets.benchmarks.signals import results_changed
        from markets.tasks import on_results_changed

        # New or revised benchmark results run the milestone rules (ingestion knows nothing of
        # questions; the resolution workflow subscribes here).
        results_changed.connect(on_results_changed, dispatch_uid="markets.milestones_after_results")
