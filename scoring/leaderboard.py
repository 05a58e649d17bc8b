"""Tournament leaderboards, aggregated in the database from the current scores.

Scores only exist for a question's final resolution (re-resolution replaces them), so the
aggregate over Score rows is the aggregate over current resolutions.

Every rank — a forecaster's on the board, the would-be rank of the crowd, median and mean rows,
in the database, the API and the pages — comes from one function, ``competition_ranks``
(docs/methods.md §7.2): equal totals share a rank.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from django.db import transaction
from django.db.models import Avg, Count, F, Sum
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


STANDINGS_ORDER = (
    F("rank").asc(nulls_last=True),
    F("total_peer").desc(),
    F("forecaster_id").asc(nulls_first=True),
    "subject",
)
"""The order of a leaderboard's rows wherever they are listed (API, pages): ranked forecasters
by rank, then the unranked rows by total peer score. Rows sharing a rank follow forecaster id."""


def min_questions(scored_questions: int) -> int:
    """Scored questions a forecaster needs to be ranked: max(1, ⌈0.1 · Q⌉) (docs/methods.md
    §7.2)."""
    return max(1, math.ceil(MIN_SHARE * scored_questions))


def competition_ranks(totals: Sequence[float], ranked: Sequence[float]) -> list[int]:
    """The rank of each of ``totals`` among the ``ranked`` totals: 1 + the number of ranked
    totals strictly greater (standard competition ranking, "1224"; docs/methods.md §7.2).

    The one rule for every rank: the ranked forecasters' own (``totals`` = ``ranked``: equal
    totals share a rank and the next rank skips, so 1, 1, 3), and the would-be rank of a
    reference row among them (a tie counts in its favour). Totals are peer points; equality is
    of the stored floats. O((n + m) log m). Raises ValueError for a NaN total.
    """
    values = np.asarray(totals, dtype=np.float64).reshape(-1)
    among = np.sort(np.asarray(ranked, dtype=np.float64).reshape(-1))
    if np.isnan(values).any() or np.isnan(among).any():
        raise ValueError("A total peer score is NaN: it cannot be ranked.")
    better = among.size - np.searchsorted(among, values, side="right")
    return [int(b) + 1 for b in better.tolist()]


def competition_rank(total: float, ranked: Sequence[float]) -> int:
    """``competition_ranks`` of one total: 1 + the number of ``ranked`` totals above it."""
    return competition_ranks([total], ranked)[0]


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
    eligible = [e for e in entries if e.eligible]
    totals = [e.total_peer for e in eligible]
    for entry, rank in zip(eligible, competition_ranks(totals, totals), strict=True):
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
    by total peer score (``competition_ranks``, docs/methods.md §7.3), and how many are ranked:
    ({subject: rank}, ranked). One query for all of them."""
    ranked = list(
        LeaderboardEntry.objects.filter(
            tournament_id=tournament_id, rank__isnull=False
        ).values_list("total_peer", flat=True)
    )
    ranks = competition_ranks([e.total_peer for e in reference], ranked)
    return {e.subject: rank for e, rank in zip(reference, ranks, strict=True)}, len(ranked)


def crowd_rank(tournament_id: int, subject: str = Subject.CROWD) -> tuple[int, int] | None:
    """Where the crowd would rank by total peer score among eligible forecasters: (rank, of)."""
    crowd = LeaderboardEntry.objects.filter(
        tournament_id=tournament_id, subject=subject, forecaster__isnull=True
    ).first()
    if crowd is None:
        return None
    ranks, ranked = would_rank(tournament_id, [crowd])
    return ranks[subject], ranked
