"""Signed unsubscribe links: no login needed, nothing to store, impossible to forge.

The token is ``django.core.signing.dumps({"u": user id, "k": kind or ""})`` with its own salt
(HMAC-SHA256 under ``SECRET_KEY``); ``k`` empty means "no more digest emails", a kind means
"no more notifications of this kind". Tokens do not expire: an old email's link still works.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "community.unsubscribe"


@dataclass(frozen=True)
class Unsubscribe:
    user_id: int
    kind: str  # "" for the digest email as a whole


def unsubscribe_token(*, user_id: int, kind: str = "") -> str:
    """The signed token for ``user_id`` (and ``kind``; "" for the whole digest)."""
    return signing.dumps({"u": user_id, "k": kind}, salt=SALT, compress=True)


def unsubscribe_url(*, user_id: int, kind: str = "") -> str:
    """The absolute unsubscribe link (``SITE_URL`` + the view's path)."""
    path = reverse("unsubscribe", args=[unsubscribe_token(user_id=user_id, kind=kind)])
    return settings.SITE_URL + path


def unsubscribe_read(token: str) -> Unsubscribe | None:
    """What a token asks for, or None when it is malformed or its signature is wrong."""
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    kind = data.get("k", "")
    return Unsubscribe(user_id=data["u"], kind=kind if isinstance(kind, str) else "")
