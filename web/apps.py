from django.apps import AppConfig


class WebConfig(AppConfig):
    """Pages, charts, template tags, the staff desk, token pages, signup, the admin and the demo
    loader: the user interface above the domain apps. No models."""

    name = "web"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save, pre_save

        from web.tokens import remember_password_hash, revoke_tokens_on_password_change

        pre_save.connect(
            remember_password_hash,
            sender=get_user_model(),
            dispatch_uid="web.tokens.remember_password_hash",
        )
        post_save.connect(
            revoke_tokens_on_password_change,
            sender=get_user_model(),
            dispatch_uid="web.tokens.revoke_tokens_on_password_change",
        )
