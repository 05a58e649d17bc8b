"""Scores, tied to the resolution version they were computed from, and leaderboards."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from forecasts.models import Forecaster
from markets.models import Question, Resolution, Tournament


class Rule(models.TextChoices):
    BRIER = "brier", "Brier (time-averaged)"
    LOG = "log", "Log (time-averaged)"
    BASELINE = "baseline", "Baseline (time-averaged)"
    PEER = "peer", "Peer (time-averaged)"
    SPOT_BRIER = "spot_brier", "Brier at close"
    SPOT_LOG = "spot_log", "Log at close"
    SPOT_BASELINE = "spot_baseline", "Baseline at close"
    SPOT_PEER = "spot_peer", "Peer at close"
    # Multiple choice: Σ_k (p_k - o_k)² on [0, 2], apart from the binary Brier on [0, 1] so that
    # no average mixes the two (docs/methods.md §4.10, §4.16).
    MC_BRIER = "mc_brier", "Brier, multiple choice (0–2, time-averaged)"
    SPOT_MC_BRIER = "spot_mc_brier", "Brier, multiple choice (0–2) at close"
    # Numeric and date questions: CRPS in the question's value units (docs/methods.md §4.13).
    CRPS = "crps", "CRPS (value units, time-averaged)"
    SPOT_CRPS = "spot_crps", "CRPS (value units) at close"


class AggregationMethod(models.TextChoices):
    """How the crowd's forecasts are combined into one (docs/methods.md §2): the log pool is the
    crowd forecast; the median and the mean are computed alongside as comparators."""

    LOG_POOL = "crowd", "Crowd (log pool)"
    MEDIAN = "median", "Crowd median"
    MEAN = "mean", "Crowd mean"


class Subject(models.TextChoices):
    """Whose score it is: a forecaster, the crowd under one aggregation method, or the market
    price. The crowd subjects' values are the ``AggregationMethod`` values (exports and the API
    show them)."""

    FORECASTER = "forecaster", "Forecaster"
    CROWD = AggregationMethod.LOG_POOL.value, AggregationMethod.LOG_POOL.label
    MEDIAN = AggregationMethod.MEDIAN.value, AggregationMethod.MEDIAN.label
    MEAN = AggregationMethod.MEAN.value, AggregationMethod.MEAN.label
    # The play-money market's price history (a point per trade), scored with the crowd's rules
    # (docs/methods.md §15.8).
    MARKET = "market", "Market price"


class Score(models.Model):
    # No single-column index on question or forecaster: ``score_list_order`` leads with the
    # question and (forecaster, rule) with the forecaster, so each serves those lookups; two
    # fewer indexes to fill when a question's rows are written (docs/performance.md).
    question = models.ForeignKey(
        Question, on_delete=models.CASCADE, related_name="scores", db_index=False
    )
    resolution = models.ForeignKey(Resolution, on_delete=models.CASCADE, related_name="scores")
    subject = models.CharField(max_length=10, choices=Subject.choices)
    forecaster = models.ForeignKey(
        Forecaster,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scores",
        db_index=False,
    )
    rule = models.CharField(max_length=14, choices=Rule.choices)
    score = models.FloatField(
        null=True, help_text="NULL where the rule has no value (no coverage)."
    )
    coverage = models.FloatField()
    forecast = models.FloatField(
        null=True,
        blank=True,
        help_text="Spot rules: the probability held at the end (yes/no: of YES; multiple choice "
        "and continuous: of the option or PMF bucket that happened).",
    )
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["question", "resolution", "forecaster", "rule"],
                condition=Q(forecaster__isnull=False),
                name="one_score_per_forecaster_rule",
            ),
            models.UniqueConstraint(
                fields=["question", "resolution", "subject", "rule"],
                condition=Q(forecaster__isnull=True),
                name="one_score_per_crowd_rule",
            ),
            models.CheckConstraint(
                condition=Q(subject="forecaster", forecaster__isnull=False)
                | (~Q(subject="forecaster") & Q(forecaster__isnull=True)),
                name="score_subject_matches_forecaster",
            ),
            models.CheckConstraint(
                condition=Q(coverage__gte=0.0) & Q(coverage__lte=1.0), name="score_coverage_range"
            ),
        ]
        indexes = [
            models.Index(fields=["forecaster", "rule"]),
            # The API's scores list, in its order, read by keyset (api.pagination): the crowd
            # rows' NULL forecaster as 0.
            models.Index(
                F("question"),
                F("subject"),
                Coalesce(F("forecaster"), Value(0)),
                F("rule"),
                name="score_list_order",
            ),
            # The crowd's, the median's and the mean's rows (a few per question among thousands
            # of forecasters'): the crowd track record and the public scores list.
            models.Index(
                fields=["resolution", "subject", "rule"],
                condition=Q(forecaster__isnull=True),
                name="score_reference_rows",
            ),
        ]

    def __str__(self) -> str:
        who = self.forecaster or self.subject
        return f"{who} {self.rule} q{self.question_id}: {self.score}"


class LeaderboardEntry(models.Model):
    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="leaderboard")
    subject = models.CharField(max_length=10, choices=Subject.choices)
    forecaster = models.ForeignKey(Forecaster, null=True, blank=True, on_delete=models.CASCADE)
    rank = models.PositiveIntegerField(null=True, blank=True)
    questions = models.PositiveIntegerField()
    total_peer = models.FloatField()
    mean_peer = models.FloatField()
    mean_brier = models.FloatField(null=True)
    mean_coverage = models.FloatField()
    eligible = models.BooleanField(default=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "leaderboard entry"
        verbose_name_plural = "leaderboard entries"
        ordering = ["tournament", "rank", "-total_peer"]
        constraints = [
            models.UniqueConstraint(
                fields=["tournament", "forecaster"],
                condition=Q(forecaster__isnull=False),
                name="leaderboard_forecaster_unique",
            ),
            models.UniqueConstraint(
                fields=["tournament", "subject"],
                condition=Q(forecaster__isnull=True),
                name="leaderboard_crowd_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tournament.slug} #{self.rank} {self.forecaster or self.subject}"
