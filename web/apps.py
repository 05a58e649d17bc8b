from django.apps import AppConfig


class WebConfig(AppConfig):
    """Pages, charts, template tags, the staff desk, token pages, signup, the admin and the demo
    loader: the user interface above the domain apps. No models."""

    name = "web"
