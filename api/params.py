"""Query-parameter parsing shared by every API view.

Documented parameters are validated strictly: a typo in a filter must not silently return
everything (or nothing). Each helper raises DRF's ``ValidationError`` (HTTP 400) naming the
parameter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from forecasts.exports import ExportError, parse_as_of
from markets.models import MAX_ID

__all__ = [
    "MAX_ID",
    "POSITIVE_INT",
    "param_as_of",
    "param_bool",
    "param_choice",
    "param_int",
    "param_single",
    "param_text",
]

POSITIVE_INT = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def param_single(request: Request, name: str) -> str | None:
    """The parameter's one value, or None. Raises ValidationError (400) when it is given more
    than once. (A NUL character never gets here: ``config.middleware.InputGuardMiddleware``
    answers 400 for one in any parameter, the same ``{name: ["No NUL characters."]}``.)"""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise ValidationError({name: ["Give this parameter once."]})
    return values[0] if values else None


def param_choice(
    request: Request, name: str, choices: Any, default: str | None = None
) -> str | None:
    raw = param_single(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise ValidationError({name: [f"Use one of {', '.join(choices)}."]})
    return raw


def param_int(
    request: Request,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
) -> int | None:
    raw = param_single(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number."]}) from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValidationError({name: [f"A whole number from {minimum} to {maximum}."]})
    return value


def param_bool(request: Request, name: str) -> bool:
    raw = param_single(request, name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise ValidationError({name: ["true or false."]})
    return raw.lower() == "true"


def param_text(request: Request, name: str) -> str | None:
    """A free-text filter; empty means no filter."""
    raw = param_single(request, name)
    if raw is not None and len(raw) > 300:
        raise ValidationError({name: ["At most 300 characters."]})
    return raw or None


def param_as_of(request: Request) -> dt.datetime | None:
    """An export's ``as_of`` (ISO 8601, UTC without an offset), or None when not given. 400 when
    it is not a time or lies in the future (``forecasts.exports.parse_as_of``)."""
    raw = param_single(request, "as_of")
    if raw is None:
        return None
    try:
        return parse_as_of(raw)
    except ExportError as exc:
        raise ValidationError({"as_of": [str(exc)]}) from None
    except (ValueError, OverflowError):
        raise ValidationError({"as_of": ["An ISO 8601 time, e.g. 2026-01-31T12:00:00Z."]}) from None
