"""Who made a change, as recorded on audit records and hand-entered results."""

from __future__ import annotations

from typing import Any


def actor_or_none(user: Any) -> Any:
    """The user to record as the actor of a change: None for the system or an anonymous user."""
    return user if getattr(user, "is_authenticated", False) else None
