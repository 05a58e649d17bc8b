"""Bot accounts: AI forecasters owned by a user, and the built-in baselines (docs/methods.md §16).

A user's bot is a ``Forecaster`` with ``is_bot`` and an ``owner``, backed by its own user account
that cannot log in (an unusable password): the account carries the bot's API token (DRF keeps
one token per user, ``web.tokens``), so each bot has its own token, revoked without touching
the owner's. An owner may run several bots; exactly one of them — the first, until the owner
picks another — is *primary*, the one the bot leaderboards rank. A built-in baseline
(``builtin_bot``) has neither user nor owner: ``source`` "builtin" and its key.

Bots forecast through the API (and built-in ones through their tasks); the web forms refuse
them (``web.views.forecast``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.validators import validate_slug
from django.db import transaction
from rest_framework.authtoken.models import Token

from forecasts.errors import BotError
from forecasts.models import Forecaster

BUILTIN = "builtin"
MAX_BOTS_PER_OWNER = 20


@transaction.atomic
def bot_create(*, owner: Any, name: str, description: str = "") -> Forecaster:
    """Create a bot owned by ``owner`` (a user) with its own login-less account named ``name``
    (a slug, unique among usernames). The owner's first bot becomes their primary one.

    Raises ``BotError`` for a bot owner (bots do not own bots), a name that is not a slug or is
    taken, or more than ``MAX_BOTS_PER_OWNER`` bots; nothing is written then.
    """
    User = get_user_model()
    name = (name or "").strip()
    try:
        validate_slug(name)
    except Exception:
        raise BotError(
            f"{name!r} is not a valid bot name: use letters, digits, '-' and '_'."
        ) from None
    if Forecaster.objects.filter(user=owner, is_bot=True).exists():
        raise BotError("A bot cannot own bots.")
    # The owner's row serializes two creations (the primary flag, the per-owner limit).
    list(User.objects.select_for_update().filter(pk=owner.pk).values_list("pk"))
    count = Forecaster.objects.filter(owner=owner).count()
    if count >= MAX_BOTS_PER_OWNER:
        raise BotError(f"An owner may run at most {MAX_BOTS_PER_OWNER} bots.")
    if User.objects.filter(username__iexact=name).exists():
        raise BotError(f"The name {name!r} is taken.")
    account = User(username=name)
    account.set_unusable_password()
    account.save()
    return Forecaster.objects.create(
        user=account,
        is_bot=True,
        owner=owner,
        is_primary=count == 0,
        description=description.strip()[:300],
    )


@transaction.atomic
def bot_set_primary(*, owner: Any, bot_id: int) -> Forecaster:
    """Make ``bot_id`` the owner's primary bot (the one ranked on bot leaderboards); the
    previous primary one stops being primary. Raises ``BotError`` if the owner has no such bot.
    """
    bot = Forecaster.objects.select_for_update().filter(pk=bot_id, owner=owner).first()
    if bot is None:
        raise BotError("You have no such bot.")
    Forecaster.objects.filter(owner=owner, is_primary=True).exclude(pk=bot.pk).update(
        is_primary=False
    )
    if not bot.is_primary:
        bot.is_primary = True
        bot.save(update_fields=["is_primary"])
    return bot


@transaction.atomic
def bot_token_replace(*, owner: Any, bot_id: int) -> Token:
    """A new API token for the owner's bot ``bot_id`` (its previous one revoked): the token the
    bot sends, distinct from the owner's own. Raises ``BotError`` if the owner has no such bot.
    Serialized on the bot's row (as ``web.tokens.token_replace`` on a user's)."""
    bot = (
        Forecaster.objects.select_for_update(of=("self",))
        .filter(pk=bot_id, owner=owner)
        .select_related("user")
        .first()
    )
    if bot is None or bot.user is None:
        raise BotError("You have no such bot.")
    Token.objects.filter(user=bot.user).delete()
    return Token.objects.create(user=bot.user)


def builtin_bot(key: str, description: str = "") -> Forecaster:
    """The built-in baseline bot ``key`` (e.g. "trend-bot"), created on first use."""
    bot, created = Forecaster.objects.get_or_create(
        source=BUILTIN, key=key, defaults={"is_bot": True, "description": description}
    )
    if not created and (not bot.is_bot or (description and bot.description != description)):
        bot.is_bot = True
        bot.description = description or bot.description
        bot.save(update_fields=["is_bot", "description"])
    return bot


def is_bot_user(user: Any) -> bool:
    """Whether ``user`` is a bot's account (one query at most; False for anonymous users)."""
    if not getattr(user, "is_authenticated", False):
        return False
    try:
        return bool(user.forecaster.is_bot)
    except Forecaster.DoesNotExist:
        return False
