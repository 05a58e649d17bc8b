"""Track-record weights: the crowd engine's a_i from a forecaster's resolved peer scores
(docs/methods.md §6).

a_i = exp(s · mean peer / 100), where the shrinkage s = n / (n + SHRINKAGE_QUESTIONS) pulls
forecasters with few resolved questions toward 1, and a_i is bounded to
[1/WEIGHT_BOUND, WEIGHT_BOUND]. A mean peer score of +100 means the forecaster's probability on
what happened was e times the others' on average, so exp(peer/100) is the likelihood ratio.

While a tournament weights by track record, the weights are precomputed into
``forecasts.TrackRecordWeight`` in the transaction that changes the scores they derive from, so
a submission reads one row inside the question lock; turning weighting on computes them all
(``tournament_weights_refresh``). Tournaments without weighting pay nothing for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db.models import Avg, Count
from django.utils import timezone

from forecasts.models import TrackRecordWeight
from scoring.models import Rule, Score

SHRINKAGE_QUESTIONS = 5
WEIGHT_BOUND = 4.0


def weight_from_peer_scores(mean_peer: float | None, n: int) -> float:
    """a_i from the mean peer score over ``n`` resolved questions (1.0 when n = 0).

    Reference values (docs/methods.md §6.3): mean +50 over 5 questions → exp(0.25) = 1.284025;
    n = 0 → 1.0; the bounds clip at 4.0 and 0.25.
    """
    if n == 0 or mean_peer is None:
        return 1.0
    shrink = n / (n + SHRINKAGE_QUESTIONS)
    a = math.exp(shrink * mean_peer / 100.0)
    return min(max(a, 1.0 / WEIGHT_BOUND), WEIGHT_BOUND)


def track_record_weight(*, forecaster_id: int, tournament_id: int | None = None) -> float:
    """The track-record weight a_i of a forecaster computed from their resolved peer scores now
    (in the given tournament only, when one is given). One aggregate query."""
    rows = Score.objects.filter(forecaster_id=forecaster_id, rule=Rule.PEER, score__isnull=False)
    if tournament_id is not None:
        rows = rows.filter(question__tournament_id=tournament_id)
    agg = rows.aggregate(mean=Avg("score"), n=Count("id"))
    return weight_from_peer_scores(agg["mean"], agg["n"] or 0)


def track_record_weights_refresh(*, tournament_id: int, forecaster_ids: Iterable[int]) -> int:
    """Recompute and store a_i of ``forecaster_ids`` in the tournament from their peer scores.

    Call it in the transaction that wrote or deleted those forecasters' scores, so that the
    stored weight always equals ``track_record_weight(...)`` of the committed scores. One
    grouped aggregate plus one upsert. Returns how many forecasters were refreshed.
    """
    ids = sorted(set(forecaster_ids))
    if not ids:
        return 0
    aggregates = {
        row["forecaster_id"]: row
        for row in Score.objects.filter(
            forecaster_id__in=ids,
            rule=Rule.PEER,
            score__isnull=False,
            question__tournament_id=tournament_id,
        )
        .values("forecaster_id")
        .annotate(mean=Avg("score"), n=Count("id"))
    }
    now = timezone.now()
    rows = []
    for forecaster_id in ids:
        agg = aggregates.get(forecaster_id)
        n = agg["n"] if agg else 0
        rows.append(
            TrackRecordWeight(
                forecaster_id=forecaster_id,
                tournament_id=tournament_id,
                weight=weight_from_peer_scores(agg["mean"] if agg else None, n),
                questions=n,
                updated_at=now,
            )
        )
    TrackRecordWeight.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["forecaster", "tournament"],
        update_fields=["weight", "questions", "updated_at"],
    )
    return len(rows)


def tournament_weights_refresh(*, tournament_id: int) -> int:
    """Recompute the weights of everyone with a forecast in the tournament (when weighting is
    turned on: while it is off, scoring does not maintain them). Returns how many."""
    from forecasts.models import Forecast

    ids = (
        Forecast.objects.filter(question__tournament_id=tournament_id)
        .values_list("forecaster_id", flat=True)
        .distinct()
    )
    return track_record_weights_refresh(tournament_id=tournament_id, forecaster_ids=list(ids))
