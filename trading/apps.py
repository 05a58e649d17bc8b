from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Play-money markets"

    def ready(self) -> None:
        from markets.resolution.signals import (
            resolution_finalized,
            resolution_withdrawn,
            resolutions_finalized,
        )
        from trading.receivers import on_resolution_changed, on_resolutions_finalized

        # A market settles (or un-settles) after commit when its question's final resolution
        # changes; the sweep (settlements_repair) catches a lost message or a crash.
        resolution_finalized.connect(on_resolution_changed, dispatch_uid="trading.settle_final")
        resolution_withdrawn.connect(on_resolution_changed, dispatch_uid="trading.unsettle")
        resolutions_finalized.connect(
            on_resolutions_finalized, dispatch_uid="trading.settle_finals"
        )
