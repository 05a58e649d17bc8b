"""Track-record weights: the crowd engine's a_i from a forecaster's resolved peer scores."""

from __future__ import annotations

import math

from django.db.models import Avg, Count

from scoring.models import Rule, Score

# Track-record weights (the crowd engine's a_i): a_i = exp(s · mean peer / 100), where the
# shrinkage s = n / (n + SHRINKAGE_QUESTIONS) pulls forecasters with few resolved questions
# toward 1, and a_i is bounded to [1/WEIGHT_BOUND, WEIGHT_BOUND]. A mean peer score of +100
# means the forecaster's probability on what happened was e times the others' on average, so
# exp(peer/100) is the likelihood ratio itself.
SHRINKAGE_QUESTIONS = 5
WEIGHT_BOUND = 4.0


def accuracy_factor(*, forecaster_id: int, tournament_id: int | None = None) -> float:
    """The track-record weight a_i of a forecaster, from their resolved peer scores (in the
    given tournament only, when one is given)."""
    rows = Score.objects.filter(forecaster_id=forecaster_id, rule=Rule.PEER, score__isnull=False)
    if tournament_id is not None:
        rows = rows.filter(question__tournament_id=tournament_id)
    agg = rows.aggregate(mean=Avg("score"), n=Count("id"))
    n = agg["n"] or 0
    if n == 0:
        return 1.0
    shrink = n / (n + SHRINKAGE_QUESTIONS)
    a = math.exp(shrink * agg["mean"] / 100.0)
    return min(max(a, 1.0 / WEIGHT_BOUND), WEIGHT_BOUND)
