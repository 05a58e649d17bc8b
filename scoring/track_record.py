"""A forecaster's (or the crowd's) track record: calibration, Brier decomposition, weights."""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db.models import Avg, Count

from markets.models import Resolution
from scoring.calibration import (
    BrierDecomposition,
    CalibrationBin,
    brier_decomposition,
    calibration_bins,
)
from scoring.models import Rule, Score, Subject

# Track-record weights (the crowd engine's a_i): a_i = exp(s · mean peer / 100), where the
# shrinkage s = n / (n + SHRINKAGE_QUESTIONS) pulls forecasters with few resolved questions
# toward 1, and a_i is bounded to [1/WEIGHT_BOUND, WEIGHT_BOUND]. A mean peer score of +100
# means the forecaster's probability on what happened was e times the others' on average, so
# exp(peer/100) is the likelihood ratio itself.
SHRINKAGE_QUESTIONS = 5
WEIGHT_BOUND = 4.0


@dataclass(frozen=True)
class TrackRecord:
    questions: int
    probabilities: list[float]
    outcomes: list[int]
    bins: list[CalibrationBin]
    decomposition: BrierDecomposition | None
    mean_brier: float | None
    mean_peer: float | None
    mean_baseline: float | None
    mean_log: float | None


def _scores(forecaster_id: int | None, tournament_id: int | None, subject: str):
    qs = Score.objects.all()
    if forecaster_id is None:
        qs = qs.filter(subject=subject, forecaster__isnull=True)
    else:
        qs = qs.filter(forecaster_id=forecaster_id)
    if tournament_id is not None:
        qs = qs.filter(question__tournament_id=tournament_id)
    return qs


def track_record(
    *,
    forecaster_id: int | None = None,
    tournament_id: int | None = None,
    subject: str = Subject.CROWD,
    n_bins: int = 10,
) -> TrackRecord:
    """Calibration of the forecasts held at the end of each resolved question (spot forecasts).

    ``forecaster_id=None`` gives the crowd's record (``subject``: crowd, median or mean).
    """
    qs = _scores(forecaster_id, tournament_id, subject)
    spot = list(
        qs.filter(rule=Rule.SPOT_BRIER, forecast__isnull=False).values_list(
            "forecast", "resolution__outcome"
        )
    )
    probs = [p for p, _ in spot]
    outcomes = [1 if o == Resolution.Outcome.YES else 0 for _, o in spot]
    means = {
        row["rule"]: row["mean"]
        for row in qs.filter(
            rule__in=[Rule.BRIER, Rule.PEER, Rule.BASELINE, Rule.LOG], score__isnull=False
        )
        .values("rule")
        .annotate(mean=Avg("score"), n=Count("id"))
    }
    questions = qs.filter(rule=Rule.PEER).count()
    return TrackRecord(
        questions=questions,
        probabilities=probs,
        outcomes=outcomes,
        bins=calibration_bins(probs, outcomes, n_bins=n_bins) if probs else [],
        decomposition=brier_decomposition(probs, outcomes, bins=n_bins) if probs else None,
        mean_brier=means.get(Rule.BRIER),
        mean_peer=means.get(Rule.PEER),
        mean_baseline=means.get(Rule.BASELINE),
        mean_log=means.get(Rule.LOG),
    )


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
