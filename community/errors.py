"""Domain errors of the community services; ``status_code`` is the HTTP answer."""

from __future__ import annotations

from config.errors import DomainError


class CommunityError(DomainError):
    """Base class: the message is meant for the person who made the request."""


class NotFound(CommunityError):
    """The question, comment or proposal does not exist or is not visible to the requester."""

    status_code = 404


class NotAllowed(CommunityError):
    """The requester may not do this (not the author, not staff, edit window over)."""

    status_code = 403


class Conflict(CommunityError):
    """The object is not in a state that allows this (already hidden, already reviewed)."""

    status_code = 409


class RateLimited(CommunityError):
    """Too many writes in a short time; ``retry_after`` seconds to wait."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
