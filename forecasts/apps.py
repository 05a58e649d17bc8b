from django.apps import AppConfig


class ForecastsConfig(AppConfig):
    name = "forecasts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from forecasts.tasks import on_resolution_finalized, on_results_changed
        from markets.benchmarks.signals import results_changed
        from markets.resolution.signals import resolution_finalized

        # The baseline bots follow the benchmark feeds and the resolutions (forecasts.baselines).
        results_changed.connect(on_results_changed, dispatch_uid="forecasts.baselines_results")
        resolution_finalized.connect(
            on_resolution_finalized, dispatch_uid="forecasts.baselines_resolved"
        )
