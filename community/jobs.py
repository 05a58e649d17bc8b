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
from django.core.mail.message import make_msgid
from django.core.mail.utils import DNS_NAME
from django.db import transaction
from django.db.models import F, JSONField, OuterRef, Q, Subquery
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


def digests_build(*, user_ids: list[int], day: dt.date, now: dt.datetime) -> dict[int, int]:
    """Put the day's digest of each of ``user_ids`` with pending notifications in the outbox;
    returns {user id: digest id} of the rows this call inserted.

    One transaction: insert the rows (``pending``, unique per (user, day), INSERT … ON
    CONFLICT DO NOTHING under this run's token), attach the pending notifications, render each
    email (privacy and muted kinds checked now) and store it in its row. A run killed here
    leaves nothing; a person who already has that day's row is skipped (one digest a day).
    A row with nothing to show is stored ``empty``. Memory is bounded by the batch.
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
            [
                Digest(
                    user_id=uid, day=day, claim=token, created_at=now, state=Digest.State.PENDING
                )
                for uid in sorted(pending)
            ],
            ignore_conflicts=True,
        )
        claimed = dict(
            Digest.objects.filter(day=day, claim=token, user_id__in=pending).values_list(
                "user_id", "pk"
            )
        )
        if not claimed:
            return {}
        Notification.objects.filter(
            user_id__in=claimed, digest__isnull=True, created_at__lte=now
        ).update(
            digest_id=Subquery(
                Digest.objects.filter(user_id=OuterRef("user_id"), day=day).values("pk")[:1]
            )
        )
        _render_into(claimed, day)
    return claimed


def _render_into(claimed: dict[int, int], day: dt.date) -> None:
    """Render the email of each claimed digest and store it in its row (inside the build)."""
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
    rows = []
    for uid, user in users.items():
        shown = [n for n in by_user.get(uid, []) if _may_see(n, user, members)]
        digest = Digest(pk=claimed[uid])
        message = digest_message(user, shown, user.muted, day)
        if message is None:
            digest.state = Digest.State.EMPTY
            digest.subject, digest.to_email, digest.body_text, digest.body_html = "", "", "", ""
            digest.headers = {}
        else:
            digest.state = Digest.State.PENDING
            digest.to_email = message.to[0]
            digest.subject = str(message.subject)
            digest.body_text = str(message.body)
            digest.body_html = str(message.alternatives[0][0])
            # A stable Message-ID: a copy sent again in the duplicate window is the same
            # message to the receiving side (docs/operations.md).
            digest.headers = {
                **message.extra_headers,
                "Message-ID": make_msgid(idstring=f"digest-{digest.pk}", domain=DNS_NAME),
            }
        rows.append(digest)
    Digest.objects.bulk_update(
        rows, ["state", "to_email", "subject", "body_text", "body_html", "headers"]
    )


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


def _stored_message(digest: Digest) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=digest.subject,
        body=digest.body_text,
        to=[digest.to_email],
        headers=dict(digest.headers),
    )
    message.attach_alternative(digest.body_html, "text/html")
    return message


def _unsent(now: dt.datetime, owner: str) -> Q:
    """Pending rows free to send: no lease, an expired lease, or one held by ``owner`` (the
    same Celery task, redelivered or retried after its worker died)."""
    return Q(state=Digest.State.PENDING) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    )


def digests_deliver(*, digest_ids: list[int], owner: str | None = None) -> int:
    """Send the outbox rows ``digest_ids`` that are still unsent; returns the emails sent.

    Takes a lease on the free rows (one committed UPDATE: a concurrent run skips them until
    ``DIGEST_LEASE_SECONDS`` pass), then for each row: send over one connection of Django's
    email backend, and commit ``sent`` at once. ``owner`` is the Celery task id when run by a
    task, so that its redelivery takes its own lease back; a fresh token otherwise.

    Delivery is at least once: a run killed before a row's send leaves it pending and it is
    sent later; one killed between the backend's accept and the ``sent`` commit sends that
    one email twice (the same Message-ID). Memory is bounded by the batch.
    """
    owner = owner or uuid.uuid4().hex
    now = timezone.now()
    until = now + dt.timedelta(seconds=settings.DIGEST_LEASE_SECONDS)
    with transaction.atomic():
        free = list(
            Digest.objects.select_for_update(skip_locked=True)
            .filter(_unsent(now, owner), pk__in=digest_ids)
            .values_list("pk", flat=True)
        )
        Digest.objects.filter(_unsent(now, owner), pk__in=free).update(
            lease_owner=owner, lease_until=until, attempts=F("attempts") + 1
        )
    rows = list(
        Digest.objects.filter(pk__in=free, state=Digest.State.PENDING, lease_owner=owner).order_by(
            "user_id", "pk"
        )
    )
    if not rows:
        return 0
    sent = 0
    with get_connection() as connection:
        for digest in rows:
            if not connection.send_messages([_stored_message(digest)]):
                logger.warning("digest %s not accepted by the email backend", digest.pk)
                continue  # stays pending: the sweep tries again once the lease expires
            sent += 1
            Digest.objects.filter(pk=digest.pk, state=Digest.State.PENDING).update(
                state=Digest.State.SENT, sent_at=timezone.now(), lease_until=None
            )
    return sent


def digests_unsent(*, now: dt.datetime, days: int = 1) -> Iterator[int]:
    """Ids of outbox rows left unsent with no live lease (a run died before sending), of
    the last ``days`` days and today: beat's digest sweep sends them again. Streamed by id."""
    since = now.date() - dt.timedelta(days=days)
    ids = (
        Digest.objects.filter(state=Digest.State.PENDING, day__gte=since)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
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


def digests_send(
    *,
    user_ids: list[int],
    day: dt.date,
    now: dt.datetime | None = None,
    owner: str | None = None,
) -> int:
    """Build the day's digest of each of ``user_ids`` (``digests_build``) and send what of
    theirs is unsent that day (``digests_deliver``); returns the emails sent.

    Run again (a redelivered task, ``owner`` its task id), it builds nothing new and sends
    only the rows the first run did not mark sent: one digest a day, delivered once except in
    the documented window (``digests_deliver``).
    """
    now = now or timezone.now()
    digests_build(user_ids=user_ids, day=day, now=now)
    ids = list(
        Digest.objects.filter(
            user_id__in=user_ids, day=day, state=Digest.State.PENDING
        ).values_list("pk", flat=True)
    )
    return digests_deliver(digest_ids=ids, owner=owner) if ids else 0


def digest_send(
    *, user_id: int, day: dt.date, now: dt.datetime | None = None, owner: str | None = None
) -> bool:
    """One person's digest for ``day`` (``digests_send`` for one); True when an email left."""
    return digests_send(user_ids=[user_id], day=day, now=now, owner=owner) > 0


def follows_count() -> int:
    """How many follows exist (a figure for the operations page)."""
    return Follow.objects.count()
