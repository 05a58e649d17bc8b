"""Tournament leaderboards, aggregated in the database from the current scores.

Scores only exist for a question's final resolution (re-resolution replaces them), so the
aggregate over Score rows is the aggregate over current resolutions.
"""

from __future__ import annotations

import math

from django.db import transaction
from django.db.models import Avg, Count, Q, Sum
from django.utils import timezone

from config.bulk import bulk_insert
from markets.models import Resolution, Tournament
from scoring.models import LeaderboardEntry, Rule, Score, Subject

COLUMNS = (
    "tournament_id",
    "subject",
    "forecaster_id",
    "rank",
    "questions",
    "total_peer",
    "mean_peer",
    "mean_brier",
    "mean_coverage",
    "eligible",
    "computed_at",
)
# Eligible for a rank: forecast on at least this share of the tournament's scored questions.
MIN_SHARE = 0.1


def min_questions(scored_questions: int) -> int:
    return max(1, math.ceil(MIN_SHARE * scored_questions))


@transaction.atomic
def leaderboard_rebuild(*, tournament_id: int) -> int:
    """Rebuild a tournament's leaderboard: total and mean peer, mean Brier, coverage, rank."""
    Tournament.objects.select_for_update().get(pk=tournament_id)
    # Only scores of a question's current final version count: after a crash between a
    # re-resolution and its scoring, superseded rows may linger until the sweep repairs them.
    scores = Score.objects.filter(
        question__tournament_id=tournament_id, resolution__state=Resolution.State.FINAL
    )
    scored = scores.filter(rule=Rule.PEER).values("question").distinct().count()
    peer = {
        (row["subject"], row["forecaster"]): row
        for row in scores.filter(rule=Rule.PEER)
        .values("subject", "forecaster")
        .annotate(questions=Count("question"), total=Sum("score"), coverage=Avg("coverage"))
    }
    brier = {
        (row["subject"], row["forecaster"]): row["mean"]
        for row in scores.filter(rule=Rule.BRIER, score__isnull=False)
        .values("subject", "forecaster")
        .annotate(mean=Avg("score"))
    }
    needed = min_questions(scored)
    entries = []
    for (subject, forecaster), row in peer.items():
        questions = row["questions"]
        total = row["total"] or 0.0
        entries.append(
            LeaderboardEntry(
                tournament_id=tournament_id,
                subject=subject,
                forecaster_id=forecaster,
                questions=questions,
                total_peer=total,
                mean_peer=total / questions,
                mean_brier=brier.get((subject, forecaster)),
                mean_coverage=row["coverage"] or 0.0,
                eligible=subject == Subject.FORECASTER and questions >= needed,
            )
        )
    ranked = sorted(
        (e for e in entries if e.eligible), key=lambda e: (-e.total_peer, e.forecaster_id)
    )
    for rank, entry in enumerate(ranked, start=1):
        entry.rank = rank
    LeaderboardEntry.objects.filter(tournament_id=tournament_id).delete()
    now = timezone.now()
    bulk_insert(
        LeaderboardEntry,
        COLUMNS,
        (
            (
                e.tournament_id,
                e.subject,
                e.forecaster_id,
                e.rank,
                e.questions,
                e.total_peer,
                e.mean_peer,
                e.mean_brier,
                e.mean_coverage,
                e.eligible,
                now,
            )
            for e in entries
        ),
    )
    return len(entries)


def would_rank(tournament_id: int, reference: list[LeaderboardEntry]) -> tuple[dict[str, int], int]:
    """Where each reference row (crowd, median, mean) would stand among the ranked forecasters
    by total peer score, and how many are ranked — one query for all of them."""
    counts = LeaderboardEntry.objects.filter(
        tournament_id=tournament_id, rank__isnull=False
    ).aggregate(
        ranked=Count("pk"),
        **{e.subject: Count("pk", filter=Q(total_peer__gt=e.total_peer)) for e in reference},
    )
    ranked = counts.pop("ranked")
    return {subject: better + 1 for subject, better in counts.items()}, ranked


def crowd_rank(tournament_id: int, subject: str = Subject.CROWD) -> tuple[int, int] | None:
    """Where the crowd would rank by total peer score among eligible forecasters: (rank, of)."""
    crowd = LeaderboardEntry.objects.filter(
        tournament_id=tournament_id, subject=subject, forecaster__isnull=True
    ).first()
    if crowd is None:
        return None
    ranks, ranked = would_rank(tournament_id, [crowd])
    return ranks[subject], ranked
