"""Benchmarks, their published results and the feed snapshots they came from.

Nothing here knows about questions: a result is a fact about a system on a benchmark, with its
revisions and its evidence (the raw snapshot). Resolution reads these models; they never read
resolution.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class Benchmark(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    unit = models.CharField(max_length=60, help_text="e.g. minutes, % resolved")
    description = models.TextField(blank=True)
    source_url = models.URLField(blank=True)
    higher_is_better = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("benchmark-detail", args=[self.slug])


class FeedSnapshot(models.Model):
    """One fetch or file ingestion of a feed, with its raw bytes: the evidence trail."""

    class Outcome(models.TextChoices):
        OK = "ok", "Parsed"
        UNCHANGED = "unchanged", "Unchanged (same bytes or 304)"
        FAILED = "failed", "Failed"

    feed = models.CharField(max_length=40)
    source = models.CharField(max_length=500, help_text="URL or file name")
    fetched_at = models.DateTimeField(default=timezone.now)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    raw = models.BinaryField(blank=True, default=b"")
    size = models.PositiveBigIntegerField(default=0)
    parser_version = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error = models.TextField(blank=True)
    results_added = models.PositiveIntegerField(default=0)
    results_revised = models.PositiveIntegerField(default=0)
    results_retired = models.PositiveIntegerField(
        default=0,
        help_text="Current results of this feed that a whole-table snapshot no longer has.",
    )

    class Meta:
        ordering = ["-fetched_at"]
        indexes = [models.Index(fields=["feed", "sha256"])]

    def __str__(self) -> str:
        return f"{self.feed} {self.fetched_at:%Y-%m-%d %H:%M} {self.outcome}"


class BenchmarkResult(models.Model):
    """A published result. A changed value for the same system is a new row (a revision).

    A result stops being current when it is revised (a newer row for the system) or retired:
    a feed that publishes its whole table (``Feed.whole_table``) sent a snapshot without the
    system, so the source no longer stands by it (``retired_at``, ``retired_in``). "Current
    results" (``is_current``) are what the API, the pages and the milestone rules read.
    """

    benchmark = models.ForeignKey(Benchmark, on_delete=models.PROTECT, related_name="results")
    system = models.CharField(max_length=300)
    value = models.FloatField()
    achieved_on = models.DateField(null=True, blank=True)
    source_url = models.URLField(max_length=500, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    snapshot = models.ForeignKey(
        FeedSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="results"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    revision_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )
    is_current = models.BooleanField(default=True)
    retired_at = models.DateTimeField(
        null=True, blank=True, help_text="When a whole-table snapshot of its feed no longer had it."
    )
    retired_in = models.ForeignKey(
        FeedSnapshot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="retired_results",
        help_text="The snapshot that no longer had it.",
    )
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["benchmark", "achieved_on", "first_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["benchmark", "system"],
                condition=Q(is_current=True),
                name="one_current_result_per_system",
            )
        ]
        indexes = [models.Index(fields=["benchmark", "is_current"])]

    def __str__(self) -> str:
        return f"{self.benchmark.slug}: {self.system} = {self.value:g}"

    @property
    def is_retired(self) -> bool:
        """Whether its source withdrew it (see the class docstring); a revised result is not."""
        return self.retired_at is not None

    @property
    def flag(self) -> str:
        """Why the source flags this result (e.g. known leakage), or "" when it does not. A
        flagged result goes to staff review instead of an automatic proposal."""
        return str((self.extra or {}).get("flag") or "")

    @property
    def plot_time(self) -> dt.datetime:
        """Where the result sits on a time axis: noon UTC of the day it was achieved, or when it
        was first seen if the source gives no date."""
        return plot_time(self.achieved_on, self.first_seen)


def plot_time(achieved_on: dt.date | None, first_seen: dt.datetime) -> dt.datetime:
    """``BenchmarkResult.plot_time`` from the two fields (for ``values_list`` rows)."""
    if achieved_on is None:
        return first_seen
    return dt.datetime.combine(achieved_on, dt.time(12), tzinfo=dt.UTC)
