"""Rate limits shared by the API and the site: GCRA over cache keys, and the named buckets.

The rule is GCRA (the generic cell rate algorithm; ``api.throttling.ApiThrottle`` explains
it): a rate of N per period P lets a client send N requests at once, then one every P/N. One
number per key, its theoretical arrival time (TAT). On Redis (``config.cache.RedisCache``)
every key of a request is checked and recorded in one atomic script call; other caches use
``get_many`` then ``set_many``.

Buckets used outside the API's own throttle class:

- ``submit_check``: the per-user forecast-write bucket, the same key and rate as the API's
  ``submit`` scope, so the web forecast form and the API draw on one limit per user;
- ``password_reset_checks``: password-reset emails per address and per client IP.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django.conf import settings
from django.core.cache import caches

KEY_FORMAT = "throttle:gcra:%(scope)s:%(ident)s"
CACHE_ALIAS = "throttle"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The API's scopes when REST_FRAMEWORK names no rate for them.
FALLBACK_RATES = {
    "anon": "600/min",
    "user": "6000/min",
    "token": "6000/min",
    "submit": "3000/min",
    "trade": "3000/min",
}

Check = tuple[str, int, int]
"""One bucket for one request: (cache key, N requests, per P seconds)."""


def get_cache() -> Any:
    """The cache that holds the buckets: alias ``throttle`` when configured, else ``default``."""
    return caches[CACHE_ALIAS if CACHE_ALIAS in settings.CACHES else "default"]


def parse_rate(rate: str) -> tuple[int, int]:
    """``"N/period"`` → (N, seconds), as DRF reads rates: the period's first letter counts.

    ``"5/min"`` → (5, 60), ``"3/hour"`` → (3, 3600), ``"10/d"`` → (10, 86400). Raises
    ValueError for anything else (N must be a positive integer).
    """
    try:
        num_text, period = rate.split("/")
        num = int(num_text)
        duration = PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError):
        raise ValueError(f"Not a rate: {rate!r} (expected N/s, N/min, N/hour or N/day)") from None
    if num <= 0:
        raise ValueError(f"Not a rate: {rate!r} (N must be positive)")
    return num, duration


def check(scope: str, ident: str, rate: str) -> Check:
    """The bucket of ``ident`` in ``scope`` at ``rate`` (``"N/period"``)."""
    return (KEY_FORMAT % {"scope": scope, "ident": ident}, *parse_rate(rate))


def gcra(checks: list[Check], *, cache: Any = None, now: float | None = None) -> float:
    """Check one request against every bucket; record it in all of them only if all allow it.

    Returns 0.0 when allowed (and recorded), else the seconds to wait before it would be.
    ``cache`` defaults to ``get_cache()``, ``now`` (Unix seconds) to the current time.
    """
    if not checks:
        return 0.0
    cache = get_cache() if cache is None else cache
    now = time.time() if now is None else now
    if hasattr(cache, "throttle_gcra"):  # Redis (config.cache): one atomic round trip
        return float(cache.throttle_gcra(checks, now))
    arrivals = cache.get_many([key for key, _, _ in checks])
    wait = 0.0
    updated = {}
    for key, num, duration in checks:
        # Theoretical arrival time after this request; allowed while at most `duration`
        # ahead of now (that is, while fewer than `num` requests are "in flight").
        tat = max(arrivals.get(key, now), now) + duration / num
        if tat - now > duration:
            wait = max(wait, tat - now - duration)
        updated[key] = tat
    if wait == 0:
        cache.set_many(updated, timeout=max(duration for _, _, duration in checks))
    return wait


def throttle_rate(scope: str) -> str | None:
    """The API's rate for ``scope`` from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``."""
    rates = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES") or {}
    return rates.get(scope, FALLBACK_RATES.get(scope))


def submit_check(user_id: int) -> Check | None:
    """The per-user forecast-write bucket (the API's ``submit`` scope): same key, same rate.

    None when the ``submit`` rate is set to None (no limit).
    """
    rate = throttle_rate("submit")
    return None if rate is None else check("submit", str(user_id), rate)


def _digest(text: str) -> str:
    # Cache keys show up in monitoring: no addresses in clear.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def password_reset_checks(email: str, ip: str | None) -> list[Check]:
    """Buckets for one password-reset request: per address and per client IP.

    ``email`` is compared case-insensitively; rates are ``PASSWORD_RESET_RATE_EMAIL`` and
    ``PASSWORD_RESET_RATE_IP``. The address is counted whether or not an account has it, so the
    limit reveals nothing about which addresses exist.
    """
    checks = [
        check("reset-email", _digest(email.strip().lower()), settings.PASSWORD_RESET_RATE_EMAIL)
    ]
    if ip:
        checks.append(check("reset-ip", _digest(ip), settings.PASSWORD_RESET_RATE_IP))
    return checks
