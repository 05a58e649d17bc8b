"""Finding questions: search, tags and sorts (closing soon, most active, biggest crowd move,
needs your update). Every result set starts from ``Question.objects.visible_to(user)``.

Search is PostgreSQL full-text search (``websearch_to_tsquery`` over title, description and
resolution criteria, English configuration, ranked) and, on SQLite, every word as a
case-insensitive substring of the title, description or criteria.

The crowd move is measured on the public series only (docs/privacy.md): the latest public
point against the latest public point at least ``MOVE_WINDOW`` old, both with at least
max(3, ``min_forecasters``) forecasters, and never while a tournament's reveal time is ahead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection
from django.db.models import (
    Count,
    F,
    FloatField,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Abs, Coalesce, Greatest

from community.models import Comment
from forecasts.models import CrowdPoint, Forecast
from markets.models import Question

SORTS = {
    "closing": "Closing soon",
    "active": "Most active (7 days)",
    "moved": "Biggest crowd move (7 days)",
    "update": "Needs your update",
}
MOVE_WINDOW = dt.timedelta(days=7)
ACTIVE_WINDOW = dt.timedelta(days=7)
QUERY_MAX = 200


class BadQuery(ValueError):
    """A search parameter that cannot be used (unknown sort, overlong text)."""


def search(qs: QuerySet[Question], text: str) -> QuerySet[Question]:
    """Questions of ``qs`` matching ``text`` (full-text on PostgreSQL, substrings on SQLite)."""
    text = text.strip()
    if not text:
        return qs
    if len(text) > QUERY_MAX:
        raise BadQuery(f"The search is longer than {QUERY_MAX} characters.")
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

        vector = (
            SearchVector("title", weight="A", config="english")
            + SearchVector("description", weight="B", config="english")
            + SearchVector("resolution_criteria", weight="C", config="english")
        )
        query = SearchQuery(text, search_type="websearch", config="english")
        return (
            qs.annotate(rank=SearchRank(vector, query))
            .filter(rank__gt=0)
            .order_by("-rank", "close_time", "pk")
        )
    for word in text.split()[:10]:
        qs = qs.filter(
            Q(title__icontains=word)
            | Q(description__icontains=word)
            | Q(resolution_criteria__icontains=word)
        )
    return qs


def _public_point(before: Any = None) -> Subquery:
    points = CrowdPoint.objects.filter(
        question=OuterRef("pk"),
        public_seq__isnull=False,
        probability__isnull=False,
        forecasters__gte=Greatest(Value(3), OuterRef("tournament__min_forecasters")),
    )
    if before is not None:
        points = points.filter(time__lte=before)
    return Subquery(points.order_by("-public_seq").values("probability")[:1])


def sort(qs: QuerySet[Question], name: str, *, user: Any, now: dt.datetime) -> QuerySet[Question]:
    """Order ``qs`` by one of ``SORTS`` (""/None: closing soon first, then the rest)."""
    if name in ("", "closing"):
        return qs.filter(status=Question.Status.OPEN, close_time__gt=now).order_by(
            "close_time", "pk"
        )
    if name == "active":
        since = now - ACTIVE_WINDOW
        comments = (
            Comment.objects.filter(question=OuterRef("pk"), created_at__gte=since)
            .order_by()
            .values("question")
            .annotate(n=Count("pk"))
            .values("n")
        )
        events = (
            Forecast.objects.filter(question=OuterRef("pk"), time__gte=since)
            .order_by()
            .values("question")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            qs.annotate(
                activity=Coalesce(Subquery(comments, output_field=IntegerField()), 0)
                + Coalesce(Subquery(events, output_field=IntegerField()), 0)
            )
            .filter(activity__gt=0)
            .order_by("-activity", "close_time", "pk")
        )
    if name == "moved":
        hidden = Q(tournament__reveal_time__gt=now)
        return (
            qs.exclude(hidden)
            .annotate(
                latest=_public_point(),
                before=_public_point(now - MOVE_WINDOW),
            )
            .filter(latest__isnull=False, before__isnull=False)
            .annotate(move=Abs(F("latest") - F("before"), output_field=FloatField()))
            .filter(move__gt=0)
            .order_by("-move", "pk")
        )
    if name == "update":
        # Open questions where you hold a forecast, the oldest forecast first.
        if not user.is_authenticated:
            return qs.none()
        last = Forecast.objects.filter(question=OuterRef("pk"), forecaster__user=user).order_by(
            "-time", "-id"
        )
        return (
            qs.filter(status=Question.Status.OPEN, close_time__gt=now)
            .annotate(
                your_last=Subquery(last.values("time")[:1]),
                your_kind=Subquery(last.values("kind")[:1]),
            )
            .filter(your_last__isnull=False, your_kind=Forecast.Kind.FORECAST)
            .order_by("your_last", "pk")
        )
    raise BadQuery(f"Unknown sort {name[:20]!r}: choose one of {', '.join(SORTS)}.")
