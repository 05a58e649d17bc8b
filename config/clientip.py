"""The client's IP address, by one rule for every limit keyed on it.

The API's anonymous throttle (``api.throttling``), the login lockout (django-axes, through
``AXES_CLIENT_IP_CALLABLE``) and the password-reset limit (``web.views.accounts``) all ask this
function, so a client cannot be one address for one limit and another for the next.

The rule is Django REST framework's ``NUM_PROXIES`` rule, driven by the ``NUM_PROXIES`` setting
(environment variable of the same name; the number of reverse proxies in front of the app that
append to ``X-Forwarded-For``):

- ``0`` (the default): ``X-Forwarded-For`` is ignored, the address is ``REMOTE_ADDR``. Any
  client can send that header, so trusting it by default let one client pass as many (issue 13:
  10 of 10 requests passed a limit of 5 per minute).
- ``N > 0``: the N-th address from the right of ``X-Forwarded-For``, the one the outermost
  trusted proxy saw; addresses further left were written by the client and are not trusted.
  Without the header, ``REMOTE_ADDR``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings


def client_ip(request: Any) -> str | None:
    """The client address of ``request`` (a Django ``HttpRequest`` or a DRF ``Request``).

    Returns ``REMOTE_ADDR`` (None if the server gave none) unless ``settings.NUM_PROXIES`` is
    positive and the request carries ``X-Forwarded-For``; then the ``NUM_PROXIES``-th entry from
    the right, stripped (the leftmost when the header has fewer entries).
    """
    meta = request.META
    remote_addr = meta.get("REMOTE_ADDR")
    num_proxies = int(getattr(settings, "NUM_PROXIES", 0) or 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if num_proxies <= 0 or not forwarded:
        return remote_addr
    addresses = forwarded.split(",")
    return addresses[-min(num_proxies, len(addresses))].strip() or remote_addr
