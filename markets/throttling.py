"""API throttling: one class for per-IP, per-user, per-token and submission limits.

Kept apart from the views: DRF imports DEFAULT_THROTTLE_CLASSES while its views module loads.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.core.cache import caches
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

FALLBACK_RATES = {"anon": "600/min", "user": "6000/min", "token": "6000/min", "submit": "3000/min"}


class ApiThrottle(BaseThrottle):
    """Per-IP (anonymous), per-user and per-token limits, checked together.

    Scopes and their keys:

    - ``anon``: anonymous clients, per IP address;
    - ``user``: per user, whichever way they authenticate (session or token);
    - ``token``: per API token, so a runaway script is capped without locking its owner out;
    - ``submit`` (``SubmitThrottle`` only): forecast writes per user.

    Same sliding-window rule as DRF's ``SimpleRateThrottle``, but every scope's history is read
    with one ``get_many`` and written with one ``set_many``: two cache round trips a request
    instead of two per scope. Rates are read at request time from
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (DRF's own classes freeze them at import), with
    ``FALLBACK_RATES`` for scopes the settings do not name. The cache alias ``throttle`` is used
    when configured, else ``default``.
    """

    scopes: tuple[str, ...] = ("anon", "user", "token")
    cache_alias = "throttle"
    key_format = "throttle_%(scope)s_%(ident)s"

    def __init__(self) -> None:
        self._wait: float | None = None

    @classmethod
    def get_cache(cls) -> Any:
        from django.conf import settings

        return caches[cls.cache_alias if cls.cache_alias in settings.CACHES else "default"]

    @staticmethod
    def rate(scope: str) -> tuple[int, int] | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(scope, FALLBACK_RATES.get(scope))
        if rate is None:
            return None
        return SimpleRateThrottle.parse_rate(SimpleRateThrottle, rate)  # type: ignore[arg-type]

    def ident_for(self, scope: str, request: Request) -> str | None:
        user = request.user
        authenticated = bool(user and user.is_authenticated)
        if scope == "anon":
            return None if authenticated else self.get_ident(request)
        if scope == "user":
            return str(user.pk) if authenticated else None
        if scope == "token":
            if not isinstance(request.auth, Token):
                return None
            # Hashed: cache keys show up in monitoring, tokens must not.
            return hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        if scope == "submit":
            writing = request.method not in ("GET", "HEAD", "OPTIONS")
            return str(user.pk) if writing and authenticated else None
        return None

    def allow_request(self, request: Request, view: Any) -> bool:
        now = time.time()
        checks = []
        for scope in self.scopes:
            ident = self.ident_for(scope, request)
            rate = self.rate(scope) if ident is not None else None
            if rate is not None and rate[0] is not None:
                checks.append((self.key_format % {"scope": scope, "ident": ident}, *rate))
        if not checks:
            return True
        cache = self.get_cache()
        histories = cache.get_many([key for key, _, _ in checks])
        wait = 0.0
        updated = {}
        for key, num, duration in checks:
            history = [t for t in histories.get(key, []) if t > now - duration]
            if len(history) >= num:
                # The oldest request in the window must expire first (newest first, as DRF).
                wait = max(wait, duration - (now - history[num - 1]))
            updated[key] = [now, *history]
        if wait > 0:
            self._wait = wait
            return False
        cache.set_many(updated, timeout=max(duration for _, _, duration in checks))
        return True

    def wait(self) -> float | None:
        return self._wait


class SubmitThrottle(ApiThrottle):
    """``ApiThrottle`` plus the per-user limit on forecast writes."""

    scopes = ("anon", "user", "token", "submit")


API_THROTTLES = [ApiThrottle]
