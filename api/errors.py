"""Error responses of the API: their OpenAPI documentation, and the one exception handler that
maps domain errors (``config.errors.DomainError`` and its subclasses) to HTTP.

Views raise domain errors from the services as they are; ``exception_handler`` turns each into
``{"detail": message}`` with the status its class declares, after DRF's own handling of its
exceptions (validation, authentication, throttling).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import DomainError


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


VALIDATION_ERROR = OpenApiResponse(
    OpenApiTypes.OBJECT, description="Invalid input: field names map to lists of messages."
)
COMMON_ERRORS = {
    401: _error("Invalid or revoked token, or authentication required."),
    403: _error("Not allowed."),
    404: _error("Not found, or not visible to you (private tournament)."),
    413: _error("The request body is larger than the server accepts (2.5 MB by default)."),
    429: _error("Throttled: retry after the number of seconds in Retry-After."),
}


def errors(*codes: int, **extra: Any) -> dict[int, Any]:
    """The documented error responses of an operation (plus 400 when asked for)."""
    out: dict[int, Any] = {code: COMMON_ERRORS[code] for code in codes if code in COMMON_ERRORS}
    if 400 in codes:
        out[400] = VALIDATION_ERROR
    out.update({int(k.lstrip("_")): v for k, v in extra.items()})
    return out


READ_ERRORS = (400, 401, 404, 429)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus domain errors: ``DomainError.status_code`` with ``{"detail": msg}``
    (or ``{field: [msg]}`` when the error names an input field).

    Anything else (a bug) is left to Django, which answers 500 and logs it.
    """
    response = drf_exception_handler(exc, context)
    if response is None and isinstance(exc, DomainError):
        body = {exc.field: [str(exc)]} if exc.field else {"detail": str(exc)}
        response = Response(body, status=exc.status_code)
    return response
