"""Which secret keys the settings accept: the rule behind refusing to start with a weak one.

``SECRET_KEY`` signs sessions, password-reset links and CSRF tokens; ``PSEUDONYM_KEY`` keys
the HMAC behind forecaster pseudonyms in exports (``forecasts.pseudonyms``). Forecaster ids are
small integers, so anyone who can guess the pseudonym key reverses every pseudonym by hashing
1, 2, 3 … (issue 13: an empty key from ``.env.example`` was reversed that way). Hence, with
``DEBUG`` off, ``config.settings`` refuses to start (``ImproperlyConfigured``) unless each key
is set, at least ``MIN_LENGTH`` characters long, and neither a development key nor a
placeholder. A key that is *set but empty* is refused in every mode: it would otherwise give
empty-key HMACs silently.
"""

from __future__ import annotations

# Development keys: used when DEBUG is on and the variable is unset. Never valid in production.
DEVELOPMENT_SECRET_KEY = "django-insecure-takeoff-development-key-change-me"
DEVELOPMENT_PSEUDONYM_KEY = "takeoff-development-pseudonym-key-change-me"
# The placeholders in .env.example, and any value containing "change-me" (how placeholders
# say so); a real random key never does.
PLACEHOLDER_MARK = "change-me"
PLACEHOLDERS = frozenset(
    {
        "change-me-to-a-long-random-string",
        "change-me-to-another-long-random-string",
        DEVELOPMENT_SECRET_KEY,
        DEVELOPMENT_PSEUDONYM_KEY,
    }
)
# 32 characters of secrets.token_urlsafe carry 192 bits: far beyond an offline search.
MIN_LENGTH = 32
GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


def key_problem(name: str, value: str | None, *, debug: bool) -> str | None:
    """Why the key ``value`` of setting ``name`` is refused, or None when it is accepted.

    ``value`` is None when the variable is unset (development keys are used then, DEBUG only).
    Refused in every mode: a set but empty (or blank) value. Refused with ``debug`` False: an
    unset value, a development key or placeholder (any value containing ``"change-me"``), and a
    value shorter than ``MIN_LENGTH`` characters. The message names the variable and says how to
    generate a key; it never repeats the value.
    """
    how = f"Generate one with: {GENERATE}"
    if value is not None and not value.strip():
        return (
            f"{name} is set but empty: an empty key is never used. Remove the line to use the "
            f"development key (DEBUG on only), or set a real key. {how}"
        )
    if debug:
        return None
    if value is None:
        return f"{name} must be set when DEBUG is off. {how}"
    if value in PLACEHOLDERS or PLACEHOLDER_MARK in value.lower():
        return f"{name} is a placeholder or development key: set a real key. {how}"
    if len(value) < MIN_LENGTH:
        return f"{name} must be at least {MIN_LENGTH} characters long when DEBUG is off. {how}"
    return None
