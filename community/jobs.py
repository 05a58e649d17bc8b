"""The notification producers and the daily digest, run by Celery beat (community.tasks).

Every producer recomputes from the database and writes under the unique (user, key) of
``Notification``: a job that runs twice, late, or after a crash creates each notification once.
Each works question by question in bounded batches, so memory is bounded by the largest
question's followers, not by the site (bench/bench_digests.py).
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import JSONField, OuterRef, Q, Subquery
from django.template.loader import render_to_string
from django.utils import timezone

from community import audience
from community.models import Digest, Follow, Kind, Notification, NotificationSettings
from community.services import notify
from community.unsubscribe import unsubscribe_url
from forecasts.models import CrowdPoint, Forecast
from forecasts.privacy import public_threshold
from markets.models import BenchmarkResult, Question, Resolution, Tournament
from scoring.models import Rule, Score, Subject

logger = logging.getLogger("community.jobs")

LOOKBACK = dt.timedelta(days=3)
BATCH = 500


@dataclass(frozen=True)
class Prefs:
    stale_days: int = 30
    crowd_move_points: float = 10.0


def _prefs(user_ids: set[int]) -> dict[int, Prefs]:
    rows = NotificationSettings.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "stale_days", "crowd_move_points"
    )
    return {uid: Prefs(days, points) for uid, days, points in rows}


def _questions_followed(base: Q) -> Iterator[Question]:
    """Questions matching ``base`` that someone follows (directly or by tournament), by id."""
    followed = Q(follows__isnull=False) | Q(tournament__follows__isnull=False)
    ids = (
        Question.objects.filter(base)
        .filter(followed)
        .values_list("pk", flat=True)
        .distinct()
        .order_by("pk")
    )
    last = 0
    while True:
        chunk = list(ids.filter(pk__gt=last)[:BATCH])
        if not chunk:
            return
        yield from (
            Question.objects.filter(pk__in=chunk)
            .select_related("tournament", "benchmark")
            .order_by("pk")
        )
        last = chunk[-1]


def _last_events(question: Question, user_ids: set[int]) -> dict[int, tuple[int, dt.datetime, str]]:
    """{user id: (event id, time, kind)} of each follower's latest event on ``question``."""
    last: dict[int, tuple[int, dt.datetime, str]] = {}
    rows = (
        Forecast.objects.filter(question=question, forecaster__user_id__in=user_ids)
        .order_by("time", "id")
        .values_list("forecaster__user_id", "id", "time", "kind")
    )
    for uid, fid, time, kind in rows.iterator(chunk_size=2000):
        last[uid] = (fid, time, kind)
    return last


def _age(now: dt.datetime, then: dt.datetime) -> str:
    days = (now - then).days
    return "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"


def notify_question(question: Question, *, now: dt.datetime) -> int:
    """Closing soon, crowd moved, stale forecast and new evidence for one open question."""
    followers = set(audience.followers(question))
    if not followers:
        return 0
    made = 0
    url = question.get_absolute_url()
    if question.status == Question.Status.OPEN and now < question.close_time <= now + dt.timedelta(
        hours=24
    ):
        made += notify(
            user_ids=followers,
            question=question,
            kind=Kind.CLOSING,
            key=f"closing:{question.pk}",
            title=f"“{question.title}” closes within 24 hours",
            body=f"It closes on {question.close_time:%d %B %Y at %H:%M} UTC.",
            url=url,
            now=now,
        )
    last = _last_events(question, followers)
    current = {uid: ev for uid, ev in last.items() if ev[2] == Forecast.Kind.FORECAST}
    prefs = _prefs(set(current))
    default = Prefs()
    for uid, (fid, time, _kind) in current.items():
        days = prefs.get(uid, default).stale_days
        if now - time >= dt.timedelta(days=days):
            made += notify(
                user_ids=[uid],
                question=question,
                kind=Kind.STALE,
                key=f"stale:{fid}",
                title=f"Your forecast on “{question.title}” is {days}+ days old",
                body=f"You last updated it {_age(now, time)}. Has anything changed?",
                url=url,
                now=now,
            )
    made += _crowd_moved(question, current, prefs, now=now)
    made += _evidence(question, current, followers, now=now)
    return made


def _crowd_moved(
    question: Question,
    current: dict[int, tuple[int, dt.datetime, str]],
    prefs: dict[int, Prefs],
    *,
    now: dt.datetime,
) -> int:
    """The public crowd moved by the follower's threshold since their last forecast.

    Baseline: the latest public point at or before the follower's last forecast (the first
    public point when none came before it); compared with the latest public point.

    Only the public series (docs/privacy.md) is compared, and nothing while the tournament
    hides its crowd (reveal time): a notification must not tell more than the page shows.
    """
    tournament = question.tournament
    if not question.is_binary or not current:
        return 0
    if tournament.reveal_time is not None and tournament.reveal_time > now:
        return 0
    points = list(
        CrowdPoint.objects.filter(
            question=question,
            public_seq__isnull=False,
            forecasters__gte=public_threshold(tournament.min_forecasters),
            probability__isnull=False,
        )
        .order_by("public_seq")
        .values_list("time", "probability")
    )
    if len(points) < 2:
        return 0
    times = [t for t, _ in points]
    latest = float(points[-1][1] or 0.0)
    made = 0
    default = Prefs()
    for uid, (fid, time, _kind) in current.items():
        # The public crowd as it stood when you forecast; before the first public point,
        # the first one shown after your forecast.
        i = max(bisect.bisect_right(times, time) - 1, 0)
        then = float(points[i][1] or 0.0)
        moved = (latest - then) * 100
        if abs(moved) >= prefs.get(uid, default).crowd_move_points:
            made += notify(
                user_ids=[uid],
                question=question,
                kind=Kind.CROWD_MOVED,
                key=f"moved:{fid}",
                title=f"The crowd moved {moved:+.0f} points on “{question.title}”",
                body=(
                    f"The crowd forecast was {then:.0%} when you last forecast "
                    f"({_age(now, time)}); it is {latest:.0%} now."
                ),
                url=question.get_absolute_url(),
                now=now,
            )
    return made


def _evidence(
    question: Question,
    current: dict[int, tuple[int, dt.datetime, str]],
    followers: set[int],
    *,
    now: dt.datetime,
) -> int:
    """The evidence nudge: a new result on the question's benchmark, its source, and how old
    each follower's forecast is."""
    if question.benchmark_id is None or question.is_settled:
        return 0
    results = BenchmarkResult.objects.filter(
        benchmark_id=question.benchmark_id, first_seen__gte=now - LOOKBACK, is_current=True
    ).order_by("first_seen", "id")
    made = 0
    benchmark = question.benchmark
    assert benchmark is not None
    for result in results:
        text = f"{benchmark.name}: {result.system} scored {result.value:g} {benchmark.unit}"
        source = f" Source: {result.source_url}" if result.source_url else ""
        by_age: dict[str, list[int]] = {}
        for uid in followers:
            event = current.get(uid)
            age = (
                f"Your forecast is from {_age(now, event[1])}."
                if event
                else "You have no forecast on it yet."
            )
            by_age.setdefault(age, []).append(uid)
        for age, uids in by_age.items():
            made += notify(
                user_ids=uids,
                question=question,
                kind=Kind.EVIDENCE,
                key=f"evidence:{question.pk}:{result.pk}",
                title=f"New result for “{question.title}”",
                body=f"{text}.{source} {age}",
                url=question.get_absolute_url(),
                now=now,
            )
    return made


def notify_resolved(*, now: dt.datetime) -> int:
    """Followers of a question resolved in the last days hear the outcome and their scores.

    Waits for the scores of a yes/no outcome (scoring runs after the resolution commits); an
    annulled or other outcome is told at once.
    """
    since = now - LOOKBACK
    finals = (
        Resolution.objects.filter(state=Resolution.State.FINAL)
        .filter(Q(finalized_at__gte=since) | Q(created_at__gte=since))
        .select_related("question__tournament")
        .order_by("pk")
    )
    made = 0
    for resolution in finals.iterator(chunk_size=BATCH):
        question = resolution.question
        scored = resolution.outcome_value is not None
        if scored and not Score.objects.filter(resolution=resolution).exists():
            continue  # next run, once scored
        followers = set(audience.followers(question))
        if not followers:
            continue
        scores: dict[int, dict[str, float]] = {}
        rows = Score.objects.filter(
            resolution=resolution,
            subject=Subject.FORECASTER,
            forecaster__user_id__in=followers,
            rule__in=[Rule.BRIER, Rule.PEER],
        ).values_list("forecaster__user_id", "rule", "score")
        for uid, rule, score in rows:
            if score is not None:
                scores.setdefault(uid, {})[rule] = float(score)
        outcome = resolution.get_outcome_display()
        groups: dict[str, list[int]] = {}
        for uid in followers:
            mine = scores.get(uid)
            text = f"It resolved {outcome}."
            if mine:
                parts = [f"Brier {mine[Rule.BRIER]:.3f}" if Rule.BRIER in mine else ""]
                parts.append(f"peer {mine[Rule.PEER]:+.1f}" if Rule.PEER in mine else "")
                text += " Your scores: " + ", ".join(p for p in parts if p) + "."
            groups.setdefault(text, []).append(uid)
        for text, uids in groups.items():
            made += notify(
                user_ids=uids,
                question=question,
                kind=Kind.RESOLVED,
                key=f"resolved:{question.pk}:{resolution.pk}",
                title=f"“{question.title}” resolved {outcome}",
                body=text,
                url=question.get_absolute_url(),
                now=now,
            )
    return made


def notify_all(*, now: dt.datetime | None = None) -> int:
    """Every producer once; returns the number of new notifications."""
    now = now or timezone.now()
    made = notify_resolved(now=now)
    unsettled = Q(status__in=[Question.Status.OPEN, Question.Status.UPCOMING])
    for question in _questions_followed(unsettled):
        made += notify_question(question, now=now)
    return made


# --- The daily digest -----------------------------------------------------------------------


def digest_recipients(*, day: dt.date) -> Iterator[int]:
    """Ids of people due a digest on ``day``: notifications not yet in a digest, digest email
    on, an address, and no digest that day yet. Streamed in id order (bounded memory)."""
    user_model = get_user_model()
    opted_out = NotificationSettings.objects.filter(email_digest=False).values("user_id")
    done = Digest.objects.filter(day=day).values("user_id")
    pending = Notification.objects.filter(digest__isnull=True).values("user_id")
    ids = (
        user_model.objects.filter(is_active=True, pk__in=pending)
        .exclude(email="")
        .exclude(pk__in=opted_out)
        .exclude(pk__in=done)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    last = 0
    while True:
        chunk = list(ids.filter(pk__gt=last)[:BATCH])
        if not chunk:
            return
        yield from chunk
        last = chunk[-1]


def _member_pairs(notifications: list[Notification], user_ids: set[int]) -> set[tuple[int, int]]:
    """(tournament id, user id) memberships among the private tournaments in play: one query."""
    private = {
        n.question.tournament_id
        for n in notifications
        if n.question is not None
        and n.question.tournament.visibility == Tournament.Visibility.PRIVATE
    }
    if not private:
        return set()
    through = Tournament.members.through
    return set(
        through.objects.filter(tournament_id__in=private, user_id__in=user_ids).values_list(
            "tournament_id", "user_id"
        )
    )


def _may_see(n: Notification, user: Any, members: set[tuple[int, int]]) -> bool:
    if n.question is None:
        return True
    tournament = n.question.tournament
    if tournament.visibility == Tournament.Visibility.PUBLIC or user.is_staff:
        return True
    return (tournament.pk, user.pk) in members  # left a private tournament since: tell nothing


def digests_claim(*, user_ids: list[int], day: dt.date, now: dt.datetime) -> dict[int, int]:
    """Insert the day's digest rows of those of ``user_ids`` with pending notifications and
    attach those notifications, in one committed transaction; returns {user id: digest id}
    of the rows this call inserted.

    A person who already has a digest that day (sent, or claimed by a run that may have died
    mid-send) is skipped: at most one digest a day, never two. Five queries for any number of
    people.
    """
    token = uuid.uuid4().hex
    with transaction.atomic():
        pending = set(
            Notification.objects.filter(
                user_id__in=user_ids, digest__isnull=True, created_at__lte=now
            ).values_list("user_id", flat=True)
        )
        if not pending:
            return {}
        Digest.objects.bulk_create(
            [Digest(user_id=uid, day=day, claim=token, created_at=now) for uid in sorted(pending)],
            ignore_conflicts=True,
        )
        claimed = dict(
            Digest.objects.filter(day=day, claim=token, user_id__in=pending).values_list(
                "user_id", "pk"
            )
        )
        if claimed:
            Notification.objects.filter(
                user_id__in=claimed, digest__isnull=True, created_at__lte=now
            ).update(
                digest_id=Subquery(
                    Digest.objects.filter(user_id=OuterRef("user_id"), day=day).values("pk")[:1]
                )
            )
    return claimed


def digest_message(
    user: Any, notifications: list[Notification], muted: list[str] | None, day: dt.date
) -> EmailMultiAlternatives | None:
    """The email of one digest (text and HTML, every notification escaped), or None when
    nothing in it may be shown (all muted since)."""
    shown = [n for n in notifications if n.kind not in (muted or [])]
    if not shown:
        return None
    kinds = sorted({n.kind for n in shown})
    unsubscribe = unsubscribe_url(user_id=user.pk)
    context = {
        "user": user,
        "notifications": shown,
        "site_url": settings.SITE_URL,
        "unsubscribe_url": unsubscribe,
        "kind_links": [
            (Kind(kind).label, unsubscribe_url(user_id=user.pk, kind=kind)) for kind in kinds
        ],
        "day": day,
    }
    subject = f"Takeoff: {len(shown)} update{'s' if len(shown) != 1 else ''} on your questions"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("community/email/digest.txt", context),
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(
        render_to_string("community/email/digest.html", context), "text/html"
    )
    return message


def digests_send(*, user_ids: list[int], day: dt.date, now: dt.datetime | None = None) -> int:
    """Send the day's digest of each of ``user_ids`` at most once; returns the emails sent.

    Claim (committed: ``digests_claim``), render, send over one connection of Django's email
    backend, then mark sent. A worker killed after the claim leaves its rows in ``sending``:
    a redelivered task finds them and does not send again. Memory is bounded by the batch.
    """
    now = now or timezone.now()
    claimed = digests_claim(user_ids=user_ids, day=day, now=now)
    if not claimed:
        return 0
    muted_kinds = NotificationSettings.objects.filter(user_id=OuterRef("pk")).values("muted_kinds")[
        :1
    ]
    users = {
        u.pk: u
        for u in get_user_model()
        .objects.filter(pk__in=claimed)
        .annotate(muted=Subquery(muted_kinds, output_field=JSONField()))
    }
    notifications = list(
        Notification.objects.filter(digest_id__in=claimed.values())
        .select_related("question__tournament")
        .order_by("user_id", "created_at", "id")
    )
    members = _member_pairs(notifications, set(claimed))
    by_user: dict[int, list[Notification]] = {}
    for n in notifications:
        by_user.setdefault(n.user_id, []).append(n)
    messages = []
    for uid, user in users.items():
        shown = [n for n in by_user.get(uid, []) if _may_see(n, user, members)]
        message = digest_message(user, shown, user.muted, day)
        if message is not None:
            messages.append(message)
    sent = get_connection().send_messages(messages) if messages else 0
    Digest.objects.filter(pk__in=claimed.values(), state=Digest.State.SENDING).update(
        state=Digest.State.SENT, sent_at=timezone.now()
    )
    return sent or 0


def digest_send(*, user_id: int, day: dt.date, now: dt.datetime | None = None) -> bool:
    """One person's digest for ``day``, at most once (``digests_send`` for one)."""
    return digests_send(user_ids=[user_id], day=day, now=now) > 0


def follows_count() -> int:
    """How many follows exist (a figure for the operations page)."""
    return Follow.objects.count()
