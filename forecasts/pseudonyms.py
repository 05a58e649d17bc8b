"""Forecaster identities in exports: keyed-HMAC pseudonyms (docs/researcher-guide.md).

A site user's forecaster appears as ``f_`` + the first 16 hex digits of
HMAC-SHA256(key=settings.PSEUDONYM_KEY, message=str(forecaster.id)). A keyed HMAC rather than a
bare hash of the id: ids are small integers, so an unkeyed hash is reversed by hashing 1, 2, 3 …
Without the key nobody can link a pseudonym to an account; rotating the key changes every
pseudonym. An empty key would make the HMAC as reversible as a bare hash, so it is refused here
as well as at startup (``config.keys``: with DEBUG off the key must be real). 64 bits keep
collisions negligible for any realistic number of forecasters (birthday bound ≈ 2^32).

An imported forecaster keeps the researcher's own key as given (``Forecaster.key``), so a
researcher can join exports back to their data.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "f_"
HEX_DIGITS = 16


@lru_cache(maxsize=4)
def _key_bytes(key: str) -> bytes:
    if not key.strip():
        raise ImproperlyConfigured("PSEUDONYM_KEY is empty: pseudonyms would be reversible.")
    return key.encode("utf-8")


def pseudonym_for_id(forecaster_id: int, *, key: str | None = None) -> str:
    """``f_`` + 16 hex digits of HMAC-SHA256(PSEUDONYM_KEY, decimal id).

    Raises ImproperlyConfigured when the key is empty or blank.
    """
    secret = _key_bytes(key if key is not None else settings.PSEUDONYM_KEY)
    digest = hmac.new(secret, str(int(forecaster_id)).encode("ascii"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


def pseudonym(forecaster_id: int, *, imported_key: str = "", source: str = "") -> str:
    """The export identity: an import's own key when the forecaster came from an import."""
    if source and imported_key:
        return imported_key
    return pseudonym_for_id(forecaster_id)


class PseudonymCache:
    """Pseudonyms by forecaster id for one export run (one HMAC per forecaster, not per row)."""

    def __init__(self) -> None:
        self._by_id: dict[int, str] = {}

    def __call__(self, forecaster_id: int, imported_key: str = "", source: str = "") -> str:
        try:
            return self._by_id[forecaster_id]
        except KeyError:
            name = pseudonym(forecaster_id, imported_key=imported_key, source=source)
            self._by_id[forecaster_id] = name
            return name
