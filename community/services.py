"""The community's one door for writes: comments, moderation, clarifications, follows,
notifications and their settings. Views, admin, tasks and commands all call these.

Every function is keyword-only and raises a ``community.errors.CommunityError`` subclass (with
the HTTP status it maps to) when the request is refused; nothing is written then.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from community import audience
from community.errors import CommunityError as InvalidInput
from community.errors import Conflict, NotAllowed, NotFound, RateLimited
from community.models import (
    BODY_MAX,
    Clarification,
    Comment,
    CommentReport,
    Follow,
    Kind,
    ModerationRecord,
    Notification,
    NotificationSettings,
)
from config import ratelimit
from forecasts.models import Forecast
from markets.models import Question, Tournament

REASON_MAX = 1000


def _rate_limit(scope: str, user: Any, rates: Iterable[str]) -> None:
    checks = [ratelimit.check(scope, f"{user.pk}:{i}", rate) for i, rate in enumerate(rates)]
    wait = ratelimit.gcra(checks)
    if wait > 0:
        seconds = math.ceil(wait)
        raise RateLimited(
            f"Too many posts in a short time: try again in {seconds} s. Nothing was saved.",
            retry_after=seconds,
        )


def _clean_body(body: str, what: str = "comment") -> str:
    body = (body or "").strip()
    if not body:
        raise InvalidInput(f"The {what} is empty.")
    if len(body) > BODY_MAX:
        raise InvalidInput(f"The {what} is longer than {BODY_MAX} characters.")
    if "\x00" in body:
        raise InvalidInput(f"The {what} contains a NUL character.")
    return body


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("Give a reason.")
    if len(reason) > REASON_MAX:
        raise InvalidInput(f"The reason is longer than {REASON_MAX} characters.")
    return reason


def _require_visible(question: Question, user: Any) -> None:
    if not question.tournament.is_visible_to(user):
        raise NotFound("No such question.")


def _require_staff(user: Any) -> None:
    if not (user.is_authenticated and user.is_staff):
        raise NotAllowed("Only staff can do this.")


# --- Comments --------------------------------------------------------------------------------


@transaction.atomic
def comment_post(
    *,
    author: Any,
    question: Question,
    body: str,
    parent: Comment | None = None,
    forecast: Forecast | None = None,
    now: dt.datetime | None = None,
) -> Comment:
    """Post a comment (or, with ``parent``, a reply) on ``question`` and return it.

    A reply to a reply attaches to its top-level comment (one level of threading). The parent's
    author is notified (kind ``reply``). Counts against ``COMMENT_RATES`` per user. Raises
    ``NotFound`` (question not visible, parent elsewhere or hidden), ``CommunityError`` (empty
    or overlong body), ``RateLimited``.
    """
    _require_visible(question, author)
    body = _clean_body(body)
    if parent is not None:
        if parent.question_id != question.pk or parent.is_hidden:
            raise NotFound("No such comment to reply to.")
        if parent.parent_id is not None:
            parent = parent.parent
            if parent is None or parent.is_hidden:
                raise NotFound("No such comment to reply to.")
    _rate_limit("comment", author, settings.COMMENT_RATES)
    comment = Comment.objects.create(
        question=question,
        author=author,
        parent=parent,
        body=body,
        forecast=forecast,
        created_at=now or timezone.now(),
    )
    if parent is not None and parent.author_id != author.pk:
        notify(
            user_ids=[parent.author_id],
            question=question,
            kind=Kind.REPLY,
            key=f"reply:{comment.pk}",
            title=f"{author.get_username()} replied to your comment on “{question.title}”",
            body=body[:500],
            url=f"{question.get_absolute_url()}#comment-{comment.pk}",
        )
    return comment


def rationale_share(*, forecast: Forecast, user: Any) -> Comment | None:
    """Publish ``forecast``'s rationale as a comment by ``user`` (its forecaster's user).

    The comment links to the forecast only to say "shared when forecasting"; the pages never
    show its probability (docs/privacy.md: raw forecasts are private to their author). None
    when the forecast has no rationale. Raises ``NotAllowed`` for someone else's forecast.
    """
    if forecast.forecaster.user_id != user.pk:
        raise NotAllowed("You can only share your own rationale.")
    if not forecast.rationale.strip():
        return None
    return comment_post(
        author=user, question=forecast.question, body=forecast.rationale, forecast=forecast
    )


def comment_edit_deadline(comment: Comment) -> dt.datetime:
    """When the author's edit window closes (``COMMENT_EDIT_MINUTES`` after posting)."""
    return comment.created_at + dt.timedelta(minutes=settings.COMMENT_EDIT_MINUTES)


@transaction.atomic
def comment_edit(
    *, comment: Comment, editor: Any, body: str, now: dt.datetime | None = None
) -> Comment:
    """Replace a comment's text: its author only, within the edit window, not once hidden.

    Raises ``NotAllowed`` (not the author, window over), ``Conflict`` (hidden),
    ``CommunityError`` (empty or overlong body).
    """
    now = now or timezone.now()
    if comment.author_id != editor.pk:
        raise NotAllowed("Only its author can edit a comment.")
    if now > comment_edit_deadline(comment):
        raise NotAllowed(
            f"Comments can be edited for {settings.COMMENT_EDIT_MINUTES} minutes after posting."
        )
    body = _clean_body(body)
    updated = Comment.objects.filter(pk=comment.pk, hidden_at__isnull=True).update(
        body=body, edited_at=now
    )
    if updated != 1:
        raise Conflict("This comment was hidden by a moderator and can no longer be edited.")
    comment.body, comment.edited_at = body, now
    return comment


@transaction.atomic
def comment_hide(
    *, comment: Comment, moderator: Any, reason: str, now: dt.datetime | None = None
) -> Comment:
    """Hide a comment (staff) with a reason; audited, and its open reports are handled.

    Raises ``NotAllowed`` (not staff), ``CommunityError`` (no reason), ``Conflict`` (already
    hidden: compare-and-set, so two moderators do not both record it).
    """
    _require_staff(moderator)
    reason = _clean_reason(reason)
    now = now or timezone.now()
    updated = Comment.objects.filter(pk=comment.pk, hidden_at__isnull=True).update(
        hidden_at=now, hidden_by=moderator, hidden_reason=reason
    )
    if updated != 1:
        raise Conflict("This comment is already hidden.")
    ModerationRecord.objects.create(
        comment=comment,
        action=ModerationRecord.Action.HIDDEN,
        actor=moderator,
        reason=reason,
        at=now,
    )
    CommentReport.objects.filter(comment=comment, handled_at__isnull=True).update(handled_at=now)
    comment.hidden_at, comment.hidden_by, comment.hidden_reason = now, moderator, reason
    return comment


@transaction.atomic
def comment_restore(
    *, comment: Comment, moderator: Any, reason: str, now: dt.datetime | None = None
) -> Comment:
    """Show a hidden comment again (staff), with a reason; audited. ``Conflict`` if shown."""
    _require_staff(moderator)
    reason = _clean_reason(reason)
    updated = Comment.objects.filter(pk=comment.pk, hidden_at__isnull=False).update(
        hidden_at=None, hidden_by=None, hidden_reason=""
    )
    if updated != 1:
        raise Conflict("This comment is not hidden.")
    ModerationRecord.objects.create(
        comment=comment,
        action=ModerationRecord.Action.RESTORED,
        actor=moderator,
        reason=reason,
        at=now or timezone.now(),
    )
    comment.hidden_at, comment.hidden_by, comment.hidden_reason = None, None, ""
    return comment


@transaction.atomic
def reports_dismiss(*, comment: Comment, moderator: Any, reason: str) -> int:
    """Mark a comment's open reports handled without hiding it (staff); audited."""
    _require_staff(moderator)
    reason = _clean_reason(reason)
    count = CommentReport.objects.filter(comment=comment, handled_at__isnull=True).update(
        handled_at=timezone.now()
    )
    if count == 0:
        raise Conflict("This comment has no open reports.")
    ModerationRecord.objects.create(
        comment=comment, action=ModerationRecord.Action.DISMISSED, actor=moderator, reason=reason
    )
    return count


def comment_report(*, comment: Comment, reporter: Any, reason: str) -> CommentReport:
    """Report a comment to the moderators: once per reporter, rate limited.

    Raises ``NotFound`` (question not visible), ``CommunityError`` (no reason), ``Conflict``
    (already reported by this user), ``RateLimited``.
    """
    _require_visible(comment.question, reporter)
    reason = _clean_reason(reason)
    if comment.author_id == reporter.pk:
        raise InvalidInput("You cannot report your own comment.")
    _rate_limit("report", reporter, settings.REPORT_RATES)
    try:
        with transaction.atomic():
            return CommentReport.objects.create(comment=comment, reporter=reporter, reason=reason)
    except IntegrityError:
        raise Conflict("You have already reported this comment.") from None


# --- Clarifications --------------------------------------------------------------------------


@transaction.atomic
def clarification_post(
    *, question: Question, author: Any, body: str, now: dt.datetime | None = None
) -> Clarification:
    """Pin a staff clarification of ``question``'s resolution criteria; notify its followers
    (and its tournament's) who may see it. Raises ``NotAllowed`` (not staff), ``CommunityError``
    (empty or overlong)."""
    _require_staff(author)
    body = _clean_body(body, "clarification")
    clarification = Clarification.objects.create(
        question=question, author=author, body=body, created_at=now or timezone.now()
    )
    notify(
        user_ids=audience.followers(question),
        question=question,
        kind=Kind.CLARIFICATION,
        key=f"clarification:{clarification.pk}",
        title=f"Clarification on “{question.title}”",
        body=body[:1000],
        url=f"{question.get_absolute_url()}#clarification-{clarification.pk}",
    )
    return clarification


# --- Following -------------------------------------------------------------------------------


def follow_question(*, user: Any, question: Question) -> bool:
    """Follow ``question``; True if this created the follow (idempotent). ``NotFound`` when
    the user may not see it."""
    _require_visible(question, user)
    created = Follow.objects.bulk_create(
        [Follow(user=user, question=question)], ignore_conflicts=True
    )
    return bool(created and created[0].pk)


def follow_tournament(*, user: Any, tournament: Tournament) -> None:
    """Follow every question of ``tournament`` (idempotent). ``NotFound`` when not visible."""
    if not tournament.is_visible_to(user):
        raise NotFound("No such tournament.")
    Follow.objects.bulk_create([Follow(user=user, tournament=tournament)], ignore_conflicts=True)


def unfollow(
    *, user: Any, question: Question | None = None, tournament: Tournament | None = None
) -> int:
    """Stop following a question or a tournament; returns how many follows were removed."""
    if (question is None) == (tournament is None):
        raise InvalidInput("Unfollow a question or a tournament.")
    follows = Follow.objects.filter(user=user)
    follows = (
        follows.filter(question=question) if question else follows.filter(tournament=tournament)
    )
    return follows.delete()[0]


def follow_on_forecast(*, user_id: int, question_id: int) -> None:
    """Follow the question a user just forecast: one insert that ignores an existing row."""
    Follow.objects.bulk_create(
        [Follow(user_id=user_id, question_id=question_id)], ignore_conflicts=True
    )


# --- Notifications ---------------------------------------------------------------------------


def settings_for(user_id: int) -> NotificationSettings:
    """The user's settings (the defaults, unsaved, when they never changed them)."""
    found = NotificationSettings.objects.filter(user_id=user_id).first()
    return found or NotificationSettings(user_id=user_id)


def _muted(kind: str, user_ids: set[int]) -> set[int]:
    rows = NotificationSettings.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "muted_kinds"
    )
    return {uid for uid, muted in rows if kind in (muted or [])}


def notify(
    *,
    user_ids: Iterable[int],
    kind: str,
    key: str,
    title: str,
    body: str = "",
    url: str = "",
    question: Question | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Create one notification per user who may see ``question`` and has not muted ``kind``.

    Idempotent: at most one notification per (user, key), whatever the number of calls (a
    task that runs twice creates nothing the second time). Returns how many were new.
    """
    ids = set(user_ids)
    if question is not None:
        ids = audience.allowed(question, ids)
    ids -= _muted(kind, ids)
    if not ids:
        return 0
    now = now or timezone.now()
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            key=key[:120],
            question=question,
            title=title[:300],
            body=body,
            url=url[:300],
            created_at=now,
        )
        for uid in sorted(ids)
    ]
    before = Notification.objects.filter(user_id__in=ids, key=key[:120]).count()
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows) - before


def notifications_visible(user: Any) -> QuerySet[Notification]:
    """The user's notifications they may still see: none about a question of a private
    tournament they have left since (as the digest, ``jobs._may_see``). A QuerySet, newest
    first as the model orders them."""
    visible = Tournament.objects.visible_to(user)
    return Notification.objects.filter(user=user).filter(
        Q(question__isnull=True) | Q(question__tournament__in=visible)
    )


def notifications_mark_read(
    *, user: Any, ids: Iterable[int] | None = None, now: dt.datetime | None = None
) -> int:
    """Mark the user's notifications read: those in ``ids``, or all. Returns how many."""
    unread = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=now or timezone.now())


def settings_update(
    *,
    user_id: int,
    email_digest: bool | None = None,
    muted_kinds: Iterable[str] | None = None,
    stale_days: int | None = None,
    crowd_move_points: float | None = None,
) -> NotificationSettings:
    """Change a person's notification settings (only the arguments given).

    Raises ``CommunityError`` for an unknown kind, ``stale_days`` outside 1–365 or
    ``crowd_move_points`` outside (0, 100].
    """
    current = settings_for(user_id)
    if email_digest is not None:
        current.email_digest = email_digest
    if muted_kinds is not None:
        kinds = sorted(set(muted_kinds))
        unknown = [k for k in kinds if k not in Kind.values]
        if unknown:
            raise InvalidInput(f"Unknown notification kind: {', '.join(unknown)}.")
        current.muted_kinds = kinds
    if stale_days is not None:
        if not 1 <= stale_days <= 365:
            raise InvalidInput("The stale-forecast reminder takes 1 to 365 days.")
        current.stale_days = stale_days
    if crowd_move_points is not None:
        if not (0 < crowd_move_points <= 100) or not math.isfinite(crowd_move_points):
            raise InvalidInput("The crowd move takes more than 0 and at most 100 points.")
        current.crowd_move_points = crowd_move_points
    current.save()
    return current


# --- Tags ------------------------------------------------------------------------------------

TAG_MAX = 60


def question_tags_set(*, question: Question, names: Iterable[str], user: Any) -> list[str]:
    """Staff set ``question``'s tags to ``names`` (created as needed; at most 10, each up to
    60 characters with letters or digits). Returns the tag names in order."""
    from django.utils.text import slugify

    from community.models import Tag

    _require_staff(user)
    cleaned: dict[str, str] = {}
    for raw in names:
        name = " ".join(raw.split())
        if not name:
            continue
        slug = slugify(name)[:TAG_MAX]
        if not slug or len(name) > TAG_MAX:
            raise InvalidInput(f"Not a tag: {name[:TAG_MAX]!r} (up to {TAG_MAX} characters).")
        cleaned.setdefault(slug, name)
    if len(cleaned) > 10:
        raise InvalidInput("At most 10 tags per question.")
    with transaction.atomic():
        tags = []
        for slug, name in cleaned.items():
            tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": name})
            tags.append(tag)
        question.tags.set(tags)
    return [t.name for t in tags]
