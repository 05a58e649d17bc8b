"""Who may hear about a question: the rule every notification producer goes through.

A private tournament does not exist for outsiders (docs/privacy.md, "What we protect" 3), so
nothing about its questions is sent to anyone but its members and staff — also to a
follower who has since left it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from markets.models import Question, Tournament


def may_hear(tournament: Tournament) -> Q:
    """A filter on users: those who may see ``tournament`` (everyone for a public one)."""
    if tournament.visibility == Tournament.Visibility.PUBLIC:
        return Q(is_active=True)
    return Q(is_active=True) & (Q(is_staff=True) | Q(tournaments=tournament))


def followers(question: Question) -> QuerySet:
    """Active users who follow ``question`` or its tournament and may see it (ids, distinct)."""
    user_model = get_user_model()
    following = Q(follows__question=question) | Q(follows__tournament_id=question.tournament_id)
    return (
        user_model.objects.filter(following)
        .filter(may_hear(question.tournament))
        .values_list("pk", flat=True)
        .distinct()
    )


def allowed(question: Question, user_ids: Iterable[int]) -> set[int]:
    """The subset of ``user_ids`` who may see ``question``."""
    ids = set(user_ids)
    if not ids:
        return ids
    user_model = get_user_model()
    return set(
        user_model.objects.filter(pk__in=ids)
        .filter(may_hear(question.tournament))
        .values_list("pk", flat=True)
    )
