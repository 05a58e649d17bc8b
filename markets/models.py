"""Tournaments, questions, resolutions and their audit trail.

The benchmark models (``Benchmark``, ``FeedSnapshot``, ``BenchmarkResult``) live in
``markets.benchmarks.models``, which knows nothing about questions; they are re-exported here
so that Django and callers find every model of the app in ``markets.models``.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Least
from django.urls import reverse
from django.utils import timezone

from markets.benchmarks.models import Benchmark, BenchmarkResult, FeedSnapshot

__all__ = [
    "AuditRecord",
    "Benchmark",
    "BenchmarkResult",
    "Comparator",
    "Conditional",
    "FeedSnapshot",
    "Question",
    "Resolution",
    "Tournament",
]


class TournamentQuerySet(models.QuerySet["Tournament"]):
    def visible_to(self, user) -> TournamentQuerySet:
        """Public tournaments, plus private ones the user is a member of (staff see all)."""
        if user.is_authenticated and user.is_staff:
            return self
        public = Q(visibility=Tournament.Visibility.PUBLIC)
        if not user.is_authenticated:
            return self.filter(public)
        return self.filter(public | Q(members=user)).distinct()


class Tournament(models.Model):
    class Visibility(models.TextChoices):
        PUBLIC = "public", "Public"
        PRIVATE = "private", "Private to members"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="tournaments"
    )
    # Reveal rules for the crowd forecast.
    min_forecasters = models.PositiveIntegerField(
        default=3,
        help_text="Forecasters needed before the crowd forecast is shown (docs/methods.md §9).",
    )
    hide_until_forecast = models.BooleanField(
        default=False,
        help_text="Show the crowd forecast only to those who have forecast (docs/methods.md §9).",
    )
    reveal_time = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Hide the crowd forecast from non-staff until then (docs/methods.md §9).",
    )
    # Aggregation parameters (docs/methods.md §2.2).
    extremize = models.FloatField(
        default=1.0, help_text="Extremizing factor d ≥ 1 (docs/methods.md §3.1)."
    )
    base_rate = models.FloatField(
        default=0.5,
        help_text="Base rate b as a probability (0.5 is logit 0; docs/methods.md §2.2).",
    )
    half_life_hours = models.FloatField(
        null=True,
        blank=True,
        help_text="Recency half-life h in hours; empty turns it off (docs/methods.md §2.3).",
    )
    track_record_weighting = models.BooleanField(
        default=False, help_text="Weight forecasters by their track record (docs/methods.md §6)."
    )
    bots_in_crowd = models.BooleanField(
        default=False,
        db_default=False,
        help_text=(
            "Count bots' forecasts in the default crowd forecast; the humans, bots and everyone "
            "cohorts are always available (docs/methods.md §16.2)."
        ),
    )
    fit_extremize = models.BooleanField(
        default=False,
        help_text="Use the extremizing factor fitted on resolved questions (docs/methods.md §3.2).",
    )
    fitted_extremize = models.FloatField(null=True, blank=True, editable=False)
    fitted_extremize_log_loss = models.FloatField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TournamentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(extremize__gte=1.0), name="tournament_extremize_ge_1"
            ),
            models.CheckConstraint(
                condition=Q(base_rate__gt=0.0) & Q(base_rate__lt=1.0),
                name="tournament_base_rate_open",
            ),
            models.CheckConstraint(
                condition=Q(half_life_hours__isnull=True) | Q(half_life_hours__gt=0),
                name="tournament_half_life_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tournament-detail", args=[self.slug])

    @property
    def base_logit(self) -> float:
        return math.log(self.base_rate) - math.log1p(-self.base_rate)

    @property
    def effective_extremize(self) -> float:
        if self.fit_extremize and self.fitted_extremize is not None:
            return self.fitted_extremize
        return self.extremize

    @property
    def half_life_seconds(self) -> float | None:
        return None if self.half_life_hours is None else self.half_life_hours * 3600.0

    def is_visible_to(self, user) -> bool:
        if self.visibility == self.Visibility.PUBLIC:
            return True
        if not user.is_authenticated:
            return False
        return user.is_staff or self.members.filter(pk=user.pk).exists()


class Comparator(models.TextChoices):
    GE = ">=", "≥"
    GT = ">", ">"
    LE = "<=", "≤"
    LT = "<", "<"


MAX_ID = 2**63 - 1  # BIGINT: a larger number cannot be an id (and SQLite cannot even bind it)


class QuestionQuerySet(models.QuerySet["Question"]):
    def visible_to(self, user) -> QuestionQuerySet:
        """Questions of the tournaments ``user`` may see (public ones, and private ones they are
        a member of; staff see all)."""
        return self.filter(tournament__in=Tournament.objects.visible_to(user))

    def visible_one(self, user, pk: object) -> Question | None:
        """The question ``pk`` with its tournament and benchmark if ``user`` may see it, else
        None — also for a malformed or out-of-range ``pk``, so callers answer 404 alike. One
        query by primary key; membership is looked up only for a private tournament."""
        try:
            number = int(pk)  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return None
        if not 1 <= number <= MAX_ID:
            return None
        question = self.select_related("tournament", "benchmark").filter(pk=number).first()
        if question is None or not question.tournament.is_visible_to(user):
            return None
        return question


class Question(models.Model):
    class Type(models.TextChoices):
        BINARY = "binary", "Yes/no"
        MULTIPLE_CHOICE = "multiple_choice", "Multiple choice"
        NUMERIC = "numeric", "Numeric"
        DATE = "date", "Date"
        DISCRETE = "discrete", "Discrete"

    class Status(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        RESOLVED = "resolved", "Resolved"
        ANNULLED = "annulled", "Annulled"

    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="questions")
    key = models.CharField(
        max_length=100, help_text="Stable key within the tournament (an import's own key)."
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    resolution_criteria = models.TextField(blank=True)
    open_time = models.DateTimeField()
    close_time = models.DateTimeField(help_text="Scheduled close.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPCOMING)
    # The question type and its configuration (markets.question_types, docs/methods.md §13).
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.BINARY)
    options = models.JSONField(
        default=list, blank=True, help_text="Multiple choice: the option labels, in order."
    )
    range_min = models.FloatField(
        null=True, blank=True, help_text="Continuous: the range's lower end (dates: Unix seconds)."
    )
    range_max = models.FloatField(
        null=True, blank=True, help_text="Continuous: the range's upper end (dates: Unix seconds)."
    )
    open_lower_bound = models.BooleanField(
        default=False, help_text="Continuous: the value may fall below the range."
    )
    open_upper_bound = models.BooleanField(
        default=False, help_text="Continuous: the value may fall above the range."
    )
    zero_point = models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Continuous, log scale: the zero point z outside the range (docs/methods.md §13.1)."
        ),
    )
    # Optional milestone criterion: resolves from benchmark results.
    benchmark = models.ForeignKey(
        Benchmark, null=True, blank=True, on_delete=models.PROTECT, related_name="questions"
    )
    comparator = models.CharField(max_length=2, choices=Comparator.choices, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    deadline = models.DateField(
        null=True, blank=True, help_text="Inclusive (docs/methods.md §8.1)."
    )
    grace_days = models.PositiveIntegerField(default=30)
    needs_review = models.BooleanField(
        default=False, help_text="Evidence of a final resolution was revised; an admin must look."
    )
    # When the sweep last evaluated the milestone: it takes the least recently checked questions
    # first, so a bounded batch still reaches every question in turn.
    milestone_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = QuestionQuerySet.as_manager()

    class Meta:
        ordering = ["close_time", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tournament", "key"], name="question_key_per_tournament"
            ),
            models.CheckConstraint(
                condition=Q(close_time__gt=models.F("open_time")), name="question_closes_after_open"
            ),
            # A milestone rule's parts (docs/methods.md §8.1, §8.8–§8.10): yes/no needs the
            # comparator, threshold and deadline; numeric, discrete and multiple choice an as-of
            # deadline; a date question the comparator and threshold (its range ends the watch).
            models.CheckConstraint(
                condition=Q(benchmark__isnull=True)
                | (
                    Q(type="binary")
                    & Q(threshold__isnull=False, deadline__isnull=False)
                    & ~Q(comparator="")
                )
                | (
                    Q(type__in=["numeric", "discrete", "multiple_choice"])
                    & Q(deadline__isnull=False)
                )
                | (Q(type="date") & Q(threshold__isnull=False) & ~Q(comparator="")),
                name="milestone_complete",
                violation_error_message=(
                    "A milestone rule needs its parts: a yes/no question the comparator, "
                    "threshold and deadline; a numeric, discrete or multiple-choice question "
                    "the deadline (its as-of date); a date question the comparator and threshold."
                ),
            ),
            models.CheckConstraint(
                condition=Q(type__in=["binary", "multiple_choice", "numeric", "date", "discrete"]),
                name="question_type_known",
            ),
            # Yes/no and multiple choice have no range; continuous questions have min < max and
            # a zero point (if any) outside [min, max]. The option list is checked by
            # markets.question_types (JSON length has no portable SQL).
            models.CheckConstraint(
                condition=(
                    Q(type__in=["binary", "multiple_choice"])
                    & Q(range_min__isnull=True, range_max__isnull=True, zero_point__isnull=True)
                    & Q(open_lower_bound=False, open_upper_bound=False)
                )
                | (
                    Q(type__in=["numeric", "date", "discrete"])
                    & Q(range_min__isnull=False, range_max__isnull=False)
                    & Q(range_min__lt=models.F("range_max"))
                    & (
                        Q(zero_point__isnull=True)
                        | Q(zero_point__lt=models.F("range_min"))
                        | Q(zero_point__gt=models.F("range_max"))
                    )
                ),
                name="question_type_range",
            ),
        ]
        indexes = [models.Index(fields=["status", "close_time"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("question-detail", args=[self.pk])

    def clean(self) -> None:
        """Model validation (admin forms): the type configuration (markets.question_types), and
        no change to it once the question has forecasts."""
        from django.core.exceptions import ValidationError

        from markets.errors import QuestionTypeError
        from markets.question_types import CONFIG_FIELDS, question_type_validate

        super().clean()
        try:
            question_type_validate(self)
        except QuestionTypeError as exc:
            raise ValidationError(str(exc)) from exc
        if self.pk is not None:
            stored = Question.objects.filter(pk=self.pk).values(*CONFIG_FIELDS).first()
            changed = stored is not None and any(
                stored[name] != getattr(self, name) for name in CONFIG_FIELDS
            )
            if changed and self.forecasts.exists():
                raise ValidationError(
                    "This question already has forecasts: its type and its options or range "
                    "can no longer change."
                )

    @property
    def is_binary(self) -> bool:
        return self.type == self.Type.BINARY

    @property
    def is_continuous(self) -> bool:
        return self.type in (self.Type.NUMERIC, self.Type.DATE, self.Type.DISCRETE)

    @property
    def has_milestone(self) -> bool:
        return self.benchmark_id is not None

    @property
    def is_settled(self) -> bool:
        return self.status in (self.Status.RESOLVED, self.Status.ANNULLED)

    def is_open_at(self, t: dt.datetime) -> bool:
        """Whether a forecast made at ``t`` is accepted: by the clock, not by a sweep's lag.

        The window is closed at both ends, [open_time, close_time], like the scoring cutoff
        (points at or before min(close, resolution); docs/methods.md §4.5): a forecast at the
        close instant is in the log and counts."""
        return (
            self.status in (self.Status.UPCOMING, self.Status.OPEN)
            and self.open_time <= t <= self.close_time
        )

    def milestone_text(self) -> str:
        """The milestone rule in words (docs/methods.md §8.1, §8.8–§8.10); "" without one."""
        if self.benchmark is None:
            return ""
        if self.type != self.Type.BINARY:
            return self._typed_milestone_text(self.benchmark)
        return (
            f"Resolves YES if a {self.benchmark.name} result {self.get_comparator_display()} "
            f"{self.threshold:g} {self.benchmark.unit} is recorded with an achievement date on or "
            f"before {self.deadline:%d %B %Y} (a result without a date counts if first seen "
            f"within {self.grace_days} days after). Resolves NO once {self.grace_days} days after "
            f"the deadline pass without one."
        )

    def _typed_milestone_text(self, benchmark: Benchmark) -> str:
        best = "highest" if benchmark.higher_is_better else "lowest"
        undated = (
            f"a result without an achievement date counts if first seen within "
            f"{self.grace_days} days after"
        )
        if self.type == self.Type.DATE:
            beyond = (
                " Resolves “above the range” if none is by then."
                if self.open_upper_bound
                else " If none is by then, staff resolve it."
            )
            return (
                f"Resolves to the date on which a {benchmark.name} result "
                f"{self.get_comparator_display()} {self.threshold:g} {benchmark.unit} is first "
                f"achieved (or, without an achievement date, first seen), once one is recorded; "
                f"watched until {self.grace_days} days after the range ends.{beyond}"
            )
        if self.type == self.Type.MULTIPLE_CHOICE:
            return (
                f"Resolves to the organisation holding the best ({best}) {benchmark.name} "
                f"result achieved on or before {self.deadline:%d %B %Y} ({undated}); decided "
                f"{self.grace_days} days after that date."
            )
        return (
            f"Resolves to the best ({best}) {benchmark.name} result, in {benchmark.unit}, "
            f"achieved on or before {self.deadline:%d %B %Y} ({undated}); decided "
            f"{self.grace_days} days after that date."
        )

    def milestone_met_by(self, value: float) -> bool:
        threshold = self.threshold
        assert threshold is not None
        return {
            Comparator.GE: value >= threshold,
            Comparator.GT: value > threshold,
            Comparator.LE: value <= threshold,
            Comparator.LT: value < threshold,
        }[Comparator(self.comparator)]


class ResolutionQuerySet(models.QuerySet["Resolution"]):
    def scored_finals(self) -> ResolutionQuerySet:
        """Final resolutions with a YES or NO outcome: the ones that have scores."""
        return self.filter(
            state=Resolution.State.FINAL,
            outcome__in=[Resolution.Outcome.YES, Resolution.Outcome.NO],
        )

    def with_cutoff(self) -> ResolutionQuerySet:
        """Annotate ``cutoff``: the scoring cutoff min(close_time, resolved_at)
        (docs/methods.md §4.5), the instant whose forecasts are scored and shown as settled."""
        return self.annotate(cutoff=Least("question__close_time", "resolved_at"))


class Resolution(models.Model):
    """One version of a question's resolution. Versions are never edited, only superseded."""

    class Outcome(models.TextChoices):
        YES = "yes", "Yes"
        NO = "no", "No"
        ANNULLED = "annulled", "Annulled"
        # Multiple choice: the option at index ``option``.
        OPTION = "option", "Option"
        # Continuous: the value ``value`` (in the range, or beyond an open bound), or a value
        # below / above the range that is not known exactly (a date that came before the range
        # began or has not come by its end). Only an open bound admits either.
        VALUE = "value", "Value"
        BELOW = "below", "Below the range"
        ABOVE = "above", "Above the range"

    class State(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        FINAL = "final", "Final"
        WITHDRAWN = "withdrawn", "Withdrawn"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

    class Source(models.TextChoices):
        MANUAL = "manual", "Staff"
        RULE = "rule", "Milestone rule"
        IMPORT = "import", "Import"
        # A branch of a conditional question: it follows its parent and child
        # (markets.resolution.conditional).
        CONDITIONAL = "conditional", "Conditional"

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="resolutions")
    version = models.PositiveIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    option = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Multiple choice: index of the option that happened."
    )
    value = models.FloatField(
        null=True,
        blank=True,
        help_text="Continuous: the value that happened (dates: Unix seconds).",
    )
    state = models.CharField(max_length=12, choices=State.choices)
    source = models.CharField(max_length=12, choices=Source.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    evidence_result = models.ForeignKey(
        BenchmarkResult, null=True, blank=True, on_delete=models.PROTECT
    )
    evidence_snapshot = models.ForeignKey(
        FeedSnapshot, null=True, blank=True, on_delete=models.PROTECT
    )
    reason = models.TextField(blank=True)
    resolved_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the truth became known; scoring stops here (docs/methods.md §4.5).",
    )
    created_at = models.DateTimeField(default=timezone.now)
    finalizes_at = models.DateTimeField(null=True, blank=True)
    finalized_at = models.DateTimeField(null=True, blank=True)

    objects = ResolutionQuerySet.as_manager()

    class Meta:
        ordering = ["question", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["question", "version"], name="resolution_version_unique"
            ),
            models.UniqueConstraint(
                fields=["question"], condition=Q(state="final"), name="one_final_resolution"
            ),
            models.UniqueConstraint(
                fields=["question"], condition=Q(state="proposed"), name="one_proposed_resolution"
            ),
            # ``option`` exactly with an option outcome, ``value`` exactly with a value outcome.
            models.CheckConstraint(
                condition=(
                    Q(outcome="option", option__isnull=False, value__isnull=True)
                    | Q(outcome="value", option__isnull=True, value__isnull=False)
                    | (
                        Q(outcome__in=["yes", "no", "annulled", "below", "above"])
                        & Q(option__isnull=True, value__isnull=True)
                    )
                ),
                name="resolution_outcome_detail",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.question_id} v{self.version}: {self.outcome} ({self.state})"

    @property
    def scoring_cutoff(self) -> dt.datetime:
        """The scoring cutoff min(close_time, resolved_at) (docs/methods.md §4.5); querysets
        annotate the same as ``cutoff`` (``ResolutionQuerySet.with_cutoff``)."""
        return min(self.question.close_time, self.resolved_at)

    @property
    def outcome_value(self) -> int | None:
        return {self.Outcome.YES: 1, self.Outcome.NO: 0}.get(self.Outcome(self.outcome))


class AuditRecord(models.Model):
    """Append-only log of every resolution change: who, when, why and on what evidence."""

    class Action(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        CONFIRMED = "confirmed", "Confirmed"
        FINALIZED = "finalized", "Finalized after review window"
        REJECTED = "rejected", "Rejected"
        WITHDRAWN = "withdrawn", "Withdrawn (evidence revised)"
        RESOLVED = "resolved", "Resolved by staff"
        RERESOLVED = "reresolved", "Re-resolved"
        UNRESOLVED = "unresolved", "Un-resolved"
        IMPORTED = "imported", "Imported"
        FLAGGED = "flagged", "Flagged for review"
        REVIEWED = "reviewed", "Review flag cleared"
        CLOSED = "closed", "Closed"

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="audit")
    resolution = models.ForeignKey(
        Resolution, null=True, blank=True, on_delete=models.CASCADE, related_name="audit"
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )
    actor_label = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["question", "at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} q{self.question_id}"

    @property
    def who(self) -> str:
        if self.actor is not None:
            return self.actor.get_username()
        return self.actor_label or "system"


class Conditional(models.Model):
    """A conditional pair: "if ``parent`` resolves YES (NO), then ``child``?" as two ordinary
    questions, ``if_yes`` and ``if_no``, each with its own crowd (docs/methods.md §14).

    The branches resolve only from the parent and the child (``markets.resolution.conditional``):
    the branch the parent did not take is annulled, the one it took follows the child's final
    resolution; annulling the parent or the child annuls both. ``markets.questions.
    conditional_create`` checks what the constraints cannot (a yes/no parent, one tournament,
    no cycles)."""

    parent = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="conditionals_as_parent"
    )
    child = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="conditionals_as_child"
    )
    if_yes = models.OneToOneField(
        Question, on_delete=models.CASCADE, related_name="conditional_if_yes"
    )
    if_no = models.OneToOneField(
        Question, on_delete=models.CASCADE, related_name="conditional_if_no"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "child"], name="conditional_pair_unique"),
            models.CheckConstraint(
                condition=~Q(parent=models.F("child")), name="conditional_parent_not_child"
            ),
            models.CheckConstraint(
                condition=~Q(if_yes=models.F("if_no")), name="conditional_branches_differ"
            ),
            models.CheckConstraint(
                condition=~Q(if_yes=models.F("parent"))
                & ~Q(if_yes=models.F("child"))
                & ~Q(if_no=models.F("parent"))
                & ~Q(if_no=models.F("child")),
                name="conditional_branch_not_parent_or_child",
            ),
        ]

    def __str__(self) -> str:
        return f"If “{self.parent}” then “{self.child}”"

    def get_absolute_url(self) -> str:
        return reverse("conditional-detail", args=[self.pk])

    def branch_side(self, question_id: int) -> str | None:
        """ "yes" or "no" for the branch ``question_id``, else None."""
        if question_id == self.if_yes_id:
            return "yes"
        if question_id == self.if_no_id:
            return "no"
        return None
