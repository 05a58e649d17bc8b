from django.apps import AppConfig


class CommunityConfig(AppConfig):
    """Discussion, clarifications, following, notifications, digests, proposals and discovery.

    Sits under web and api and above scoring (it reads scores for "resolved, with your
    scores"). Forecasts never imports it: following on forecast is a receiver of
    ``forecasts.signals.forecast_recorded``.
    """

    name = "community"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from community.receivers import follow_on_forecast
        from forecasts.signals import forecast_recorded

        forecast_recorded.connect(follow_on_forecast, dispatch_uid="community.follow_on_forecast")
