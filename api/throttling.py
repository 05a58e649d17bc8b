"""API throttling: one class for per-IP, per-user, per-token and submission limits.

Kept apart from the views: DRF imports DEFAULT_THROTTLE_CLASSES while its views module loads.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from config import ratelimit
from config.clientip import client_ip

FALLBACK_RATES = ratelimit.FALLBACK_RATES


class ApiThrottle(BaseThrottle):
    """Per-IP (anonymous), per-user and per-token limits, checked together.

    Scopes and their keys:

    - ``anon``: anonymous clients, per IP address (``config.clientip``: ``X-Forwarded-For`` counts
      only behind ``NUM_PROXIES`` trusted proxies);
    - ``user``: per user, whichever way they authenticate (session or token);
    - ``token``: per API token, so a runaway script is capped without locking its owner out;
    - ``submit`` (``SubmitThrottle`` only): forecast writes per user; the web forecast form
      draws on the same bucket (``config.ratelimit.submit_check``);
    - ``trade`` (``TradeThrottle`` only): play-money trades per user.

    The rule is GCRA (the generic cell rate algorithm): a rate of N per period P lets a client
    send N requests at once, then one every P/N — it never needs to wait longer than the
    sustained rate implies. Each scope keeps one number, its theoretical arrival time, so the
    cost per request is constant. (DRF's ``SimpleRateThrottle`` keeps the list of every
    request in the window and rewrites it on each request: at 6,000/min that list reaches
    6,000 floats.) On Redis every scope is checked and recorded in one atomic script call
    (``config.cache``), so concurrent requests cannot both take the last slot; other caches
    use ``get_many`` then ``set_many``. Rates are read at request time from
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (DRF's own classes freeze them at import), with
    ``FALLBACK_RATES`` for scopes the settings do not name. The cache alias ``throttle`` is used
    when configured, else ``default``. The rule itself is ``config.ratelimit.gcra``.
    """

    scopes: tuple[str, ...] = ("anon", "user", "token")
    key_format = ratelimit.KEY_FORMAT

    def __init__(self) -> None:
        self._wait: float | None = None

    @classmethod
    def get_cache(cls) -> Any:
        return ratelimit.get_cache()

    def get_ident(self, request: Request) -> str:  # type: ignore[override]
        """The client IP by the one rule of ``config.clientip`` (``NUM_PROXIES``)."""
        return client_ip(request) or ""

    @staticmethod
    def rate(scope: str) -> tuple[int, int] | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        rate = rates.get(scope, FALLBACK_RATES.get(scope))
        if rate is None:
            return None
        num, duration = SimpleRateThrottle.parse_rate(SimpleRateThrottle, rate)  # type: ignore[arg-type]
        if num is None or duration is None:
            return None
        return num, duration

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
        if scope in ("submit", "trade"):
            writing = request.method not in ("GET", "HEAD", "OPTIONS")
            return str(user.pk) if writing and authenticated else None
        return None

    def allow_request(self, request: Request, view: Any) -> bool:
        now = time.time()
        checks = []
        for scope in self.scopes:
            ident = self.ident_for(scope, request)
            rate = self.rate(scope) if ident is not None else None
            if rate is not None:
                checks.append((self.key_format % {"scope": scope, "ident": ident}, *rate))
        if not checks:
            return True
        wait = ratelimit.gcra(checks, cache=self.get_cache(), now=now)
        if wait > 0:
            self._wait = wait
            return False
        return True

    def wait(self) -> float | None:
        return self._wait


class SubmitThrottle(ApiThrottle):
    """``ApiThrottle`` plus the per-user limit on forecast writes."""

    scopes = ("anon", "user", "token", "submit")


class TradeThrottle(ApiThrottle):
    """``ApiThrottle`` plus the per-user limit on play-money trades (scope ``trade``)."""

    scopes = ("anon", "user", "token", "trade")


API_THROTTLES = [ApiThrottle]
