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

The crowds follow their weights in the same transaction (docs/methods.md §6.2): before a weight
changes, the settled questions that used it keep it (``forecasts.services.crowd_weights_freeze``);
after, the unsettled questions of the forecasters whose weight changed are rebuilt with the new
one (``forecasts.services.crowd_follow_weights``). So the stored weights, the scores and every
crowd agree at each commit, and a submission's O(1) update always removes the term the sums hold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Avg, Count
from django.utils import timezone

from forecasts.models import TrackRecordWeight
from forecasts.services import crowd_follow_weights, crowd_weights_freeze
from markets.models import Tournament
from scoring.models import Rule, Score

SAME_WEIGHT = 1e-12
"""Relative tolerance under which a recomputed a_i counts as unchanged: the database may average
the same scores in another order (last-bit differences), which must not rebuild every crowd."""

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


def weights_from_scores(
    *, tournament_id: int, forecaster_ids: Iterable[int] | None = None
) -> dict[int, tuple[float, int]]:
    """(a_i, n) from the current peer scores in the tournament, for the forecasters with at
    least one (among ``forecaster_ids`` when given; None: everyone). One grouped aggregate.
    A forecaster without a score is absent: a_i = 1, n = 0."""
    rows = Score.objects.filter(
        rule=Rule.PEER,
        score__isnull=False,
        forecaster__isnull=False,  # the crowd's rows are no one's track record
        question__tournament_id=tournament_id,
    )
    if forecaster_ids is not None:
        rows = rows.filter(forecaster_id__in=sorted(set(forecaster_ids)))
    return {
        row["forecaster_id"]: (weight_from_peer_scores(row["mean"], row["n"]), row["n"])
        for row in rows.values("forecaster_id").annotate(mean=Avg("score"), n=Count("id"))
    }


def weight_changed(stored: float, fresh: float) -> bool:
    """Whether a recomputed a_i differs from the stored one by more than ``SAME_WEIGHT``."""
    return not math.isclose(stored, fresh, rel_tol=SAME_WEIGHT, abs_tol=0.0)


def _weights_store(*, tournament_id: int, forecaster_ids: list[int], follow: bool) -> set[int]:
    """Write the a_i of ``forecaster_ids`` that their scores give; return the ids whose a_i
    changed. With ``follow``, the crowds follow (see the module docstring)."""
    fresh = weights_from_scores(tournament_id=tournament_id, forecaster_ids=forecaster_ids)
    stored = {
        fid: (weight, questions)
        for fid, weight, questions in TrackRecordWeight.objects.filter(
            tournament_id=tournament_id, forecaster_id__in=forecaster_ids
        ).values_list("forecaster_id", "weight", "questions")
    }
    now = timezone.now()
    rows, changed = [], set()
    for forecaster_id in forecaster_ids:
        weight, n = fresh.get(forecaster_id, (1.0, 0))
        before = stored.get(forecaster_id)
        old_weight = 1.0 if before is None else before[0]
        if weight_changed(old_weight, weight):
            changed.add(forecaster_id)
        elif before is not None and before[1] == n:
            continue  # nothing to write
        else:
            weight = old_weight  # the crowds were built with it: keep it bit for bit
        rows.append(
            TrackRecordWeight(
                forecaster_id=forecaster_id,
                tournament_id=tournament_id,
                weight=weight,
                questions=n,
                updated_at=now,
            )
        )
    if follow and changed:
        crowd_weights_freeze(tournament_id=tournament_id, forecaster_ids=changed)
    TrackRecordWeight.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["forecaster", "tournament"],
        update_fields=["weight", "questions", "updated_at"],
    )
    if follow and changed:
        crowd_follow_weights(tournament_id=tournament_id, forecaster_ids=changed)
    return changed


@transaction.atomic
def track_record_weights_refresh(*, tournament_id: int, forecaster_ids: Iterable[int]) -> int:
    """Recompute and store a_i of ``forecaster_ids`` in the tournament from their peer scores,
    and make the crowds that use a changed a_i follow (docs/methods.md §6.2): the settled
    questions that used it freeze the old value first, the unsettled ones of those forecasters
    are rebuilt with the new one.

    Call it in the transaction that wrote or deleted those forecasters' scores, so that the
    stored weight always equals ``track_record_weight(...)`` of the committed scores. Locks the
    tournament row first: concurrent refreshes in one tournament run one after the other, each
    reading the scores the one before committed. Returns the number of forecasters whose a_i
    changed.
    """
    ids = sorted(set(forecaster_ids))
    if not ids:
        return 0
    Tournament.objects.select_for_update().only("pk").get(pk=tournament_id)
    return len(_weights_store(tournament_id=tournament_id, forecaster_ids=ids, follow=True))


@transaction.atomic
def tournament_weights_refresh(*, tournament_id: int) -> int:
    """Recompute the weights of everyone with a forecast in the tournament (when weighting is
    turned on: while it is off, scoring does not maintain them). The crowds do not follow here:
    the settings change that calls it freezes the settled questions and rebuilds the others
    itself (``scoring.workflows.tournament_weighting_changed``). Returns how many changed."""
    from forecasts.models import Forecast

    Tournament.objects.select_for_update().only("pk").get(pk=tournament_id)
    ids = sorted(
        set(
            Forecast.objects.filter(question__tournament_id=tournament_id)
            .order_by()
            .values_list("forecaster_id", flat=True)
            .distinct()
        )
    )
    return len(_weights_store(tournament_id=tournament_id, forecaster_ids=ids, follow=False))


def weights_mismatches(
    *, tournament_id: int, tolerance: float = 1e-9
) -> list[tuple[int, float, float]]:
    """Where the stored a_i of the tournament differ from what the current scores give:
    (forecaster id, stored, from the scores), by forecaster id. Relative ``tolerance``. A
    forecaster with scores but no stored row counts as stored 1. Empty while the tournament does
    not weight by track record (the weights are not kept then). Two queries."""
    if not Tournament.objects.filter(pk=tournament_id, track_record_weighting=True).exists():
        return []
    fresh = weights_from_scores(tournament_id=tournament_id)
    stored = dict(
        TrackRecordWeight.objects.filter(tournament_id=tournament_id).values_list(
            "forecaster_id", "weight"
        )
    )
    out = []
    for forecaster_id in sorted(set(fresh) | set(stored)):
        have = stored.get(forecaster_id, 1.0)
        want = fresh.get(forecaster_id, (1.0, 0))[0]
        if not math.isclose(have, want, rel_tol=tolerance, abs_tol=0.0):
            out.append((forecaster_id, have, want))
    return out
