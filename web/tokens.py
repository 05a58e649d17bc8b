"""API tokens: create (replacing the old one), revoke, and revoke on a password change.

One token per user (DRF authtoken: ``Token.user`` is unique). Every door that changes a user's
token comes through here: the token pages (``web.views.tokens``) and every password change. A
password change or reset revokes the user's API token, whichever door changed it (the site's
password change and reset pages, the admin's password form, ``manage.py changepassword``): the
``post_save`` receiver below, connected in ``WebConfig.ready``. A token is a second credential;
whoever changes a password because it may have leaked must not leave a working token behind.
Django already ends the user's other sessions then (the session auth hash).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework.authtoken.models import Token

ATTEMPTS = 3


def token_replace(user: Any) -> tuple[Token, bool]:
    """Revoke ``user``'s API token, if any, and create a new one: (new token, replaced one).

    Safe to double-click: concurrent calls for one user are serialized on the user's row
    (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time), so each replaces
    the token made by the one before and none fails. Should the insert still meet a token
    committed in between (the unique constraint on ``Token.user``), the whole step is retried
    in a fresh savepoint, up to ``ATTEMPTS`` times; IntegrityError only after that.
    """
    User = get_user_model()
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
                replaced = Token.objects.filter(user=user).delete()[0] > 0
                return Token.objects.create(user=user), replaced
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def tokens_revoke(user: Any) -> int:
    """Delete ``user``'s API token: every request that sends it gets 401 at once.

    Returns the number of tokens deleted (0 or 1).
    """
    return Token.objects.filter(user=user).delete()[0]


def revoke_tokens_on_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any):
    """``post_save`` receiver for the user model: a changed password revokes the API token.

    A changed password is a save after ``set_password`` (Django's ``AbstractBaseUser`` keeps
    the new raw password in ``_password`` until the save completes, and calls the validators'
    ``password_changed`` from it the same way). A hash upgrade at login is not a change:
    Django clears ``_password`` before that save, so tokens survive it.
    """
    if created:
        return
    changed = getattr(instance, "_password", None) is not None
    # "Disable password-based authentication" (set_unusable_password) sets no raw password:
    # compare with the hash before the save (kept by ``remember_password_hash``).
    disabled = not instance.has_usable_password() and getattr(instance, "_usable_before", False)
    if changed or disabled:
        tokens_revoke(instance)


def remember_password_hash(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_save`` receiver: whether the stored password was usable before this save (one
    query, only for a save that may write the password)."""
    fields = kwargs.get("update_fields")
    if instance.pk is None or (fields is not None and "password" not in fields):
        return
    from django.contrib.auth.hashers import is_password_usable

    stored = type(instance).objects.filter(pk=instance.pk).values_list("password", flat=True)
    before = stored.first()
    instance._usable_before = before is not None and is_password_usable(before)
