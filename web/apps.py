from django.apps import AppConfig


class WebConfig(AppConfig):
    """Pages, charts, template tags, the staff desk, token pages, signup, the admin and the demo
    loader: the user interface above the domain apps. No models."""

    name = "web"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from web.tokens import revoke_tokens_on_password_change

        post_save.connect(
            revoke_tokens_on_password_change,
            sender=get_user_model(),
            dispatch_uid="web.tokens.revoke_tokens_on_password_change",
        )
