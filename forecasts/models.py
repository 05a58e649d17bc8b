"""Forecasters, the append-only forecast log, and the crowd forecast with its history."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from markets.models import Question, Tournament

# docs/methods.md §1.1: allowed probabilities are [0.001, 0.999]; forecasts.pooling.EPS is the
# same value (a test checks), kept here so the schema does not depend on the math module.
EPS = 0.001


BOT_MARK = " [bot]"


class Forecaster(models.Model):
    """Whoever forecasts: a site user, or an identity brought in by an import (kept by its key)."""

    # PROTECT: deleting a user (the auth admin's "delete") must not delete their forecasts from
    # the log behind the crowd's and the scores' back.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="forecaster",
    )
    source = models.CharField(
        max_length=100, blank=True, help_text="Import source (tournament slug); empty for users."
    )
    key = models.CharField(max_length=150, blank=True, help_text="The import's own key.")
    created_at = models.DateTimeField(auto_now_add=True)
    # Bots (forecasts.bots, docs/methods.md §16): an AI forecaster. A user's bot has its own
    # (login-less) user account, so it has its own API token; ``owner`` is the person answerable
    # for it. A built-in baseline (source "builtin") has no user and no owner.
    # Database defaults too: imports and benches COPY forecaster rows without these columns.
    is_bot = models.BooleanField(
        default=False, db_default=False, help_text="An AI forecaster, shown as a bot."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="bots",
        help_text="The user who runs this bot.",
    )
    is_primary = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The owner's bot that counts on the bot leaderboards.",
    )
    description = models.CharField(max_length=300, blank=True, default="", db_default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "key"], condition=~Q(source=""), name="imported_key_unique"
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False) | ~Q(source=""), name="forecaster_has_identity"
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(is_bot=True), name="only_bots_have_owners"
            ),
            models.CheckConstraint(
                condition=Q(is_primary=False) | Q(owner__isnull=False),
                name="primary_bot_has_owner",
            ),
            models.UniqueConstraint(
                fields=["owner"], condition=Q(is_primary=True), name="one_primary_bot_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def name(self) -> str:
        """The username, else an imported (or built-in) forecaster's key."""
        if self.user is not None:
            return self.user.get_username()
        return self.key

    @property
    def display_name(self) -> str:
        """The public label: the name, with `` [bot]`` after a bot's (``BOT_MARK``)."""
        return f"{self.name}{BOT_MARK}" if self.is_bot else self.name


class TrackRecordWeight(models.Model):
    """A forecaster's track-record weight a_i in a tournament (docs/methods.md §6), precomputed.

    Scoring writes it in the same transaction as the scores it derives from
    (``scoring.track_record.track_record_weights_refresh``); a submission reads one row instead
    of aggregating scores inside the question lock. No row means a_i = 1.
    """

    forecaster = models.ForeignKey(
        Forecaster, on_delete=models.CASCADE, related_name="track_record_weights"
    )
    tournament = models.ForeignKey(
        Tournament, on_delete=models.CASCADE, related_name="track_record_weights"
    )
    weight = models.FloatField(default=1.0)
    questions = models.PositiveIntegerField(default=0, help_text="Resolved questions counted.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["forecaster", "tournament"], name="one_track_record_weight"
            ),
            models.CheckConstraint(condition=Q(weight__gt=0), name="track_record_weight_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.forecaster} in t{self.tournament_id}: a = {self.weight:.4f}"


class FrozenWeights(models.Model):
    """The track-record weights a settled question's crowd keeps (docs/methods.md §6.2).

    An unsettled question's crowd uses every forecaster's current a_i. When the weights of a
    settled question's forecasters are about to change (``forecasts.services.crowd_weights_freeze``,
    called before the change is written), the weights its crowd was built with are kept here,
    once: its crowd, its scores and any later recompute then agree without using what was
    learned after it settled, its own outcome included. No row: the question still follows the
    current weights (nothing has changed them since it settled).
    """

    question = models.OneToOneField(
        Question, primary_key=True, on_delete=models.CASCADE, related_name="frozen_weights"
    )
    weights = models.JSONField(
        default=dict,
        help_text="{forecaster id: a_i} of the question's forecasters; one not listed counts 1.",
    )
    frozen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "frozen weights"
        verbose_name_plural = "frozen weights"

    def __str__(self) -> str:
        return f"weights of q{self.question_id} frozen {self.frozen_at:%Y-%m-%d %H:%M}"

    def weight_of(self, forecaster_id: int) -> float:
        """a_i of one forecaster in this snapshot (1 for one not listed)."""
        return float(self.weights.get(str(forecaster_id), 1.0))


class Forecast(models.Model):
    """One event in the log: a forecast, or (probability NULL) a withdrawal. Never updated."""

    class Kind(models.TextChoices):
        FORECAST = "forecast", "Forecast"
        WITHDRAWAL = "withdrawal", "Withdrawal"

    # No index of its own: the (question, time, id) index below leads with it.
    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="forecasts", db_index=False
    )
    forecaster = models.ForeignKey(Forecaster, on_delete=models.CASCADE, related_name="forecasts")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.FORECAST)
    probability = models.FloatField(null=True, blank=True)
    # Multiple choice and continuous questions (docs/methods.md §13): the option probabilities
    # (float64[k]) or the standardised CDF at the 201 grid locations (float64[201]), as
    # little-endian float64 bytes. NULL for a yes/no forecast and for a withdrawal.
    values = models.BinaryField(null=True, blank=True)
    time = models.DateTimeField(default=timezone.now, db_index=True)
    rationale = models.TextField(blank=True)
    # Track-record factor a_i in force when the forecast was made: a record. The crowd pools
    # with the forecaster's current a_i, or the frozen one once the question settled
    # (docs/methods.md §6.2), so a weight can change without an edit to the log.
    track_record_weight = models.FloatField(default=1.0)

    class Meta:
        ordering = ["time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    # ``probability__isnull=False`` spelled out: a comparison with NULL is
                    # unknown, and a CHECK passes on unknown (a forecast without any value got
                    # through the old constraint).
                    Q(
                        kind="forecast",
                        probability__isnull=False,
                        probability__gte=EPS,
                        probability__lte=1 - EPS,
                        values__isnull=True,
                    )
                    | Q(kind="forecast", probability__isnull=True, values__isnull=False)
                    | Q(kind="withdrawal", probability__isnull=True, values__isnull=True)
                ),
                name="forecast_probability_in_bounds",
            ),
            models.CheckConstraint(
                condition=Q(track_record_weight__gt=0), name="forecast_track_record_weight_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["question", "time", "id"]),
            models.Index(fields=["question", "forecaster", "-time", "-id"]),
        ]

    def __str__(self) -> str:
        if self.kind == self.Kind.WITHDRAWAL:
            return f"{self.forecaster} withdrew on q{self.question_id}"
        if self.probability is None:
            return f"{self.forecaster}: a distribution on q{self.question_id}"
        return f"{self.forecaster}: {self.probability:.3f} on q{self.question_id}"


class CrowdState(models.Model):
    """Running sums of the log pool for one question, maintained in O(1) per forecast event.

    S = Σ w'_i ℓ_i and W = Σ w'_i with w'_i = a_i · 2^((t_i − t0)/h); P = Σ p_i for the mean.
    The question row is locked while these are read and written.

    Multiple choice and continuous questions (docs/methods.md §13.3) keep W in ``sum_w`` and
    vectors instead of S and P: ``sums`` Σ w'_i ln p_ik per option or PMF bucket (a bucket that
    is zero in every forecast — beyond a closed bound — holds 0), ``linear_sums`` Σ w'_i p_ik
    for the linear pool, and ``vector`` the crowd itself (option probabilities float64[k], or
    the pooled CDF float64[201]); all little-endian float64 bytes, NULL for yes/no questions.
    """

    question = models.OneToOneField(
        Question, primary_key=True, on_delete=models.CASCADE, related_name="crowd"
    )
    sum_wl = models.FloatField(default=0.0)
    sum_w = models.FloatField(default=0.0)
    sum_p = models.FloatField(default=0.0)
    t0 = models.DateTimeField(null=True, blank=True)
    forecasters = models.PositiveIntegerField(default=0)
    probability = models.FloatField(null=True, blank=True)
    median = models.FloatField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    events = models.PositiveIntegerField(default=0)
    last_time = models.DateTimeField(null=True, blank=True, help_text="Time of the last event.")
    sums = models.BinaryField(null=True, blank=True)
    linear_sums = models.BinaryField(null=True, blank=True)
    vector = models.BinaryField(null=True, blank=True)
    # Batched publication of the history (forecasts.privacy, docs/privacy.md): how many points
    # are public so far, the time of the last public point, and how many distinct forecasters
    # have had an event since then (counted conservatively on a tie of times).
    public_points = models.PositiveIntegerField(default=0)
    batch_since = models.DateTimeField(null=True, blank=True)
    batch_forecasters = models.PositiveIntegerField(default=0)
    # Parameters the sums were built with; a settings change triggers a recompute.
    params = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"crowd q{self.question_id}: {self.probability}"


class CrowdPoint(models.Model):
    """The crowd forecast after one forecast event; the series is piecewise constant."""

    # Derived rows, rebuilt wholesale under the question lock: no per-row foreign-key checks
    # (they cost ~8 s at commit for a 1M-point rebuild); Django's collector still cascades
    # deletes. The unique (question, seq) index serves lookups by question.
    question = models.ForeignKey(
        Question,
        on_delete=models.CASCADE,
        related_name="crowd_points",
        db_constraint=False,
        db_index=False,
    )
    seq = models.PositiveIntegerField()
    time = models.DateTimeField()
    forecasters = models.PositiveIntegerField()
    probability = models.FloatField(null=True, blank=True)
    median = models.FloatField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    forecast = models.OneToOneField(
        Forecast,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="crowd_point",
        db_constraint=False,
    )
    # 1, 2, 3 … along the question's public points (forecasts.privacy: at least BATCH distinct
    # forecasters since the previous public point, and at least BATCH active); NULL for a point
    # only staff and permitted researchers see. Dense, so a chart can pre-sample it by stride.
    public_seq = models.PositiveIntegerField(null=True, blank=True)
    # Multiple choice and continuous questions (docs/architecture.md, "Crowd history points"):
    # the pooled option probabilities (float64[k]), or the pooled CDF's quantile locations on
    # the internal [0, 1] scale at 5, 25, 50, 75 and 95% then P(below the range) and P(above
    # it) (float64[7], 56 bytes); little-endian. NULL for yes/no questions and empty crowds.
    summary = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["question", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["question", "seq"], name="crowd_point_seq_unique"),
            # Also the index of the public series: a third of the points at most, read in order.
            models.UniqueConstraint(
                fields=["question", "public_seq"],
                condition=models.Q(public_seq__isnull=False),
                name="crowd_point_public_seq_unique",
            ),
        ]
        indexes = [
            # The points a median fill still has to fill (forecasts.services.crowd_fill_medians):
            # a handful among a question's million, found without scanning the others.
            models.Index(
                fields=["question", "seq"],
                condition=models.Q(
                    median__isnull=True, forecasters__gt=0, probability__isnull=False
                ),
                name="crowd_point_median_pending",
            )
        ]

    def __str__(self) -> str:
        return f"q{self.question_id}#{self.seq} {self.probability}"


class MedianCheckpoint(models.Model):
    """Where the last median fill of a question stopped: the forecasts active after the event of
    history point ``seq``, so the next fill reads only the log after it
    (forecasts.services.crowd_fill_medians). Derived data, rewritten by every fill; valid while
    point ``seq`` still belongs to ``event_id`` (the log only grows, and a backdated event
    renumbers the points after it)."""

    question = models.OneToOneField(
        Question, on_delete=models.CASCADE, primary_key=True, related_name="median_checkpoint"
    )
    seq = models.PositiveIntegerField()
    event_id = models.BigIntegerField()
    time = models.DateTimeField()
    forecasters = models.BinaryField(help_text="Active forecaster ids, little-endian int64.")
    probabilities = models.BinaryField(
        help_text="Their clipped probabilities, little-endian float64, same order."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"median checkpoint q{self.question_id}#{self.seq}"


class CohortState(models.Model):
    """The crowd forecast of one cohort of a yes/no question — humans, bots or everyone
    (``forecasts.cohorts``, docs/methods.md §16.2) — kept as the running sums of ``CrowdState``
    and updated in O(1) by each submission in the same transaction, under the question's lock.
    The default crowd (``CrowdState``) is the humans cohort or everyone, as the tournament's
    ``bots_in_crowd`` says; these rows give every cohort whatever the tournament chose.

    ``log_events``: how many events of the question's whole log (every cohort) the row has
    folded in; a read that finds fewer in the log (a bulk import wrote past it) rebuilds it.
    """

    class Cohort(models.TextChoices):
        HUMANS = "humans", "Humans"
        BOTS = "bots", "Bots"
        EVERYONE = "everyone", "Everyone"

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="cohort_states")
    cohort = models.CharField(max_length=10, choices=Cohort.choices)
    sum_wl = models.FloatField(default=0.0)
    sum_w = models.FloatField(default=0.0)
    sum_p = models.FloatField(default=0.0)
    t0 = models.DateTimeField(null=True, blank=True)
    forecasters = models.PositiveIntegerField(default=0)
    probability = models.FloatField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    log_events = models.PositiveIntegerField(default=0)
    last_time = models.DateTimeField(null=True, blank=True)
    params = models.JSONField(default=dict)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "cohort"], name="one_state_per_cohort")
        ]

    def __str__(self) -> str:
        return f"{self.cohort} crowd q{self.question_id}: {self.probability}"
