"""Discussion, clarifications, follows, notifications, digests, proposals and tags."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from forecasts.models import Forecast
from markets.models import Question, Tournament

BODY_MAX = 10_000


class Comment(models.Model):
    """A comment on a question, or a reply to one (one level: a reply's parent is top-level).

    ``forecast``: set when the comment is a rationale its author chose to share when
    forecasting; the page says so but never shows the forecast's probability (docs/privacy.md).
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comments"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    body = models.TextField(help_text="Markdown; rendered through markdown-it-py and nh3.")
    forecast = models.OneToOneField(
        Forecast, null=True, blank=True, on_delete=models.SET_NULL, related_name="shared_comment"
    )
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    hidden_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    hidden_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["question", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(hidden_at__isnull=True) | ~Q(hidden_reason=""),
                name="comment_hidden_has_reason",
            )
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on q{self.question_id}"

    @property
    def is_hidden(self) -> bool:
        return self.hidden_at is not None


class CommentReport(models.Model):
    """A user's report of a comment to the moderators (one per comment and reporter)."""

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    reason = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["comment", "reporter"], name="one_report_per_user")
        ]

    def __str__(self) -> str:
        return f"report {self.pk} on comment {self.comment_id}"


class ModerationRecord(models.Model):
    """Append-only audit of moderation: who hid, restored or dismissed reports, and why."""

    class Action(models.TextChoices):
        HIDDEN = "hidden", "Hidden"
        RESTORED = "restored", "Restored"
        DISMISSED = "dismissed", "Reports dismissed"

    comment = models.ForeignKey(Comment, on_delete=models.CASCADE, related_name="moderation")
    action = models.CharField(max_length=10, choices=Action.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} comment {self.comment_id}"


class Clarification(models.Model):
    """A staff note on a question's resolution criteria: pinned above the discussion."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="clarifications")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    body = models.TextField(help_text="Markdown; rendered through markdown-it-py and nh3.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"clarification {self.pk} on q{self.question_id}"


class Follow(models.Model):
    """A user follows a question or a tournament (exactly one of the two)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows"
    )
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="follows"
    )
    tournament = models.ForeignKey(
        Tournament, null=True, blank=True, on_delete=models.CASCADE, related_name="follows"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(question__isnull=False, tournament__isnull=True)
                | Q(question__isnull=True, tournament__isnull=False),
                name="follow_one_target",
            ),
            models.UniqueConstraint(
                fields=["user", "question"],
                condition=Q(question__isnull=False),
                name="follow_question_once",
            ),
            models.UniqueConstraint(
                fields=["user", "tournament"],
                condition=Q(tournament__isnull=False),
                name="follow_tournament_once",
            ),
        ]
        indexes = [models.Index(fields=["question", "user"])]

    def __str__(self) -> str:
        target = f"q{self.question_id}" if self.question_id else f"t{self.tournament_id}"
        return f"{self.user_id} follows {target}"


class Kind(models.TextChoices):
    RESOLVED = "resolved", "A question you follow resolved"
    CLOSING = "closing", "A question you follow closes within 24 hours"
    CROWD_MOVED = "crowd_moved", "The crowd moved since your last forecast"
    CLARIFICATION = "clarification", "A clarification on a question you follow"
    REPLY = "reply", "A reply to your comment"
    EVIDENCE = "evidence", "A new benchmark result on a question you follow"
    STALE = "stale", "Your forecast has not been updated for a while"


class NotificationSettings(models.Model):
    """A person's notification settings; no row means the defaults."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    email_digest = models.BooleanField(default=True, help_text="A daily email digest.")
    # Kinds switched off (site and email alike); empty: every kind on.
    muted_kinds = models.JSONField(default=list, blank=True)
    stale_days = models.PositiveIntegerField(default=30)
    crowd_move_points = models.FloatField(
        default=10.0, help_text="Percentage points the crowd must move to notify you."
    )

    class Meta:
        verbose_name_plural = "notification settings"
        constraints = [
            models.CheckConstraint(condition=Q(stale_days__gte=1), name="stale_days_positive"),
            models.CheckConstraint(
                condition=Q(crowd_move_points__gt=0) & Q(crowd_move_points__lte=100),
                name="crowd_move_points_range",
            ),
        ]

    def __str__(self) -> str:
        return f"notification settings of {self.user_id}"

    def wants(self, kind: str) -> bool:
        return kind not in self.muted_kinds


class Digest(models.Model):
    """One daily email digest of one person, and its outbox row: at most one per (user, day).

    Built in one transaction (the row, its notifications attached, the rendered email stored);
    the send step sends rows in ``pending`` under a lease and marks them ``sent``. A run killed
    before its send leaves the row pending: the redelivered task, or beat's digest sweep once
    the lease expired, sends it (docs/operations.md "Worker killed while sending digests").
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending (in the outbox)"
        SENT = "sent", "Sent"
        EMPTY = "empty", "Nothing to send (all muted or hidden)"
        # Rows claimed before the outbox existed: no stored email, never resent.
        UNKNOWN = "unknown", "Unknown (claimed before the outbox)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    # The token of the job run that inserted the row (INSERT … ON CONFLICT DO NOTHING): a run
    # builds exactly the digests it inserted, even beside a concurrent run on the same people.
    claim = models.CharField(max_length=32, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The stored email (rendered when built): what is sent, and sent again after a crash.
    to_email = models.CharField(max_length=254, blank=True, default="")
    subject = models.CharField(max_length=300, blank=True, default="")
    body_text = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="")
    headers = models.JSONField(default=dict, blank=True)
    # The send step's lease: who holds the row (a Celery task id, kept on redelivery) and
    # until when; another run may take it once expired.
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="one_digest_per_day")]
        indexes = [
            models.Index(fields=["day"], condition=Q(state="pending"), name="digest_outbox_unsent")
        ]

    def __str__(self) -> str:
        return f"digest of {self.user_id} on {self.day}"


class Notification(models.Model):
    """One notification. ``key`` makes every producer idempotent: one per (user, key)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    key = models.CharField(max_length=120)
    question = models.ForeignKey(
        Question, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # Plain text (escaped wherever it is shown, pages and emails alike).
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    digest = models.ForeignKey(
        Digest, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="notification_key_once")
        ]
        indexes = [
            models.Index(
                fields=["user"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
            models.Index(
                fields=["user"], condition=Q(digest__isnull=True), name="notification_undigested"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.title}"


class Tag(models.Model):
    slug = models.SlugField(max_length=60, unique=True)
    name = models.CharField(max_length=60)
    questions = models.ManyToManyField(Question, blank=True, related_name="tags")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Proposal(models.Model):
    """A question proposed by a forecaster, reviewed by staff."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="proposals"
    )
    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    resolution_criteria = models.TextField()
    open_time = models.DateTimeField()
    close_time = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    reject_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    question = models.OneToOneField(
        Question, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposal"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="rejected") | ~Q(reject_reason=""),
                name="proposal_rejected_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(state="approved") | Q(question__isnull=False),
                name="proposal_approved_has_question",
            ),
        ]

    def __str__(self) -> str:
        return self.title
