"""The unread-notification count in the header."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def notifications(request: HttpRequest) -> dict[str, Any]:
    """``unread_notifications``: a lazy count (one indexed query, only if the header uses it)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from community.services import notifications_visible

    def count() -> int:
        return notifications_visible(user).filter(read_at__isnull=True).count()

    return {"unread_notifications": count}
