"""Forecaster identities in research data: keyed-HMAC pseudonyms (docs/privacy.md).

A site user's forecaster appears as ``f_`` + the first 16 hex digits of
HMAC-SHA256(key=settings.PSEUDONYM_KEY, message) with message ``str(forecaster.id)`` in the
server's own files (``export_scores``, the input digest of crowd manifests), and
``"<recipient user id>:<forecaster id>"`` in what the API hands a researcher: each recipient
gets their own pseudonyms, so a pseudonym is no identifier shared between two recipients' files,
and a leaked file names the account it was made for. A keyed HMAC rather than a bare hash of
the id: ids are small integers, so an unkeyed hash is reversed by hashing 1, 2, 3 … Rotating
the key changes every pseudonym. An empty key would make the HMAC as reversible as a bare hash,
so it is refused here as well as at startup (``config.keys``). 64 bits keep collisions
negligible for any realistic number of forecasters (birthday bound ≈ 2^32).

Pseudonyms keep names and ids out of the files; they do not make the files anonymous to their
recipient (docs/privacy.md: who may have them, and why).

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


def pseudonym_for_id(
    forecaster_id: int, *, key: str | None = None, recipient: int | None = None
) -> str:
    """``f_`` + 16 hex digits of HMAC-SHA256(PSEUDONYM_KEY, message): the decimal id, or
    ``"<recipient>:<id>"`` for the recipient (a user id) a file is made for.

    Raises ImproperlyConfigured when the key is empty or blank.
    """
    secret = _key_bytes(key if key is not None else settings.PSEUDONYM_KEY)
    message = str(int(forecaster_id))
    if recipient is not None:
        message = f"{int(recipient)}:{message}"
    digest = hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


TRADER_PREFIX = "t_"


def trader_pseudonym(user_id: int, *, key: str | None = None, recipient: int | None = None) -> str:
    """``t_`` + 16 hex digits of HMAC-SHA256(PSEUDONYM_KEY, ``"trader:<user id>"``, or
    ``"<recipient>:trader:<user id>"`` for a recipient): a play-money trader who never forecast,
    in the market exports (docs/methods.md §15.9; no forecaster id's message has this form).

    Raises ImproperlyConfigured when the key is empty or blank.
    """
    secret = _key_bytes(key if key is not None else settings.PSEUDONYM_KEY)
    message = f"trader:{int(user_id)}"
    if recipient is not None:
        message = f"{int(recipient)}:{message}"
    digest = hmac.new(secret, message.encode("ascii"), hashlib.sha256).hexdigest()
    return TRADER_PREFIX + digest[:HEX_DIGITS]


def pseudonym(
    forecaster_id: int, *, imported_key: str = "", source: str = "", recipient: int | None = None
) -> str:
    """The export identity: an import's own key when the forecaster came from an import
    (the dataset's identities, public already), else the keyed pseudonym for ``recipient``."""
    if source and imported_key:
        return imported_key
    return pseudonym_for_id(forecaster_id, recipient=recipient)


class PseudonymCache:
    """Pseudonyms by forecaster id for one export run (one HMAC per forecaster, not per row),
    for one ``recipient`` (a user id; None for the server's own files)."""

    def __init__(self, recipient: int | None = None) -> None:
        self._by_id: dict[int, str] = {}
        self.recipient = recipient

    def __call__(self, forecaster_id: int, imported_key: str = "", source: str = "") -> str:
        try:
            return self._by_id[forecaster_id]
        except KeyError:
            name = pseudonym(
                forecaster_id, imported_key=imported_key, source=source, recipient=self.recipient
            )
            self._by_id[forecaster_id] = name
            return name
