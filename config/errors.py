"""The one base class of domain errors.

Services raise a subclass when a request cannot be carried out; the message is meant for the
person who made the request. ``status_code`` is the HTTP status the API answers with (mapped in
one place, ``api.errors.exception_handler``); web views show the message instead.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``str(error)`` says why, in words for the requester."""

    status_code: int = 400
    field: str | None = None
    """The input field the error is about, if one: the API answers ``{field: [message]}`` like
    a validation error instead of ``{"detail": message}``."""
