"""Reads that several views and services share, each written once.

The cutoff of a settled question is ``min(close_time, resolved_at)`` (``markets.models
ResolutionQuerySet.with_cutoff``, docs/methods.md §4.5): what was held then is what was scored,
and what pages and calibration show for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery

from forecasts.models import CrowdPoint, Forecast


def crowd_at_cutoff(field: str = "probability") -> Subquery:
    """A subquery for a ``Resolution`` queryset annotated with ``cutoff``: the crowd history's
    ``field`` (probability, median or mean) in force at the cutoff, or NULL before any point."""
    return Subquery(
        CrowdPoint.objects.filter(question=OuterRef("question_id"), time__lte=OuterRef("cutoff"))
        .order_by("-seq")
        .values(field)[:1]
    )


def forecasts_held_at(
    cutoffs: dict[int, dt.datetime], events: QuerySet[Forecast] | None = None
) -> dict[int, dict[int, float | None]]:
    """Each forecaster's forecast held at each question's cutoff: question id → forecaster id →
    probability (None when their last event by then was a withdrawal).

    ``cutoffs`` maps question ids to their cutoff; ``events`` narrows the forecasts read (e.g.
    one forecaster's), default all of those questions'. One query, in event order.
    """
    events = Forecast.objects.all() if events is None else events
    held: dict[int, dict[int, float | None]] = {qid: {} for qid in cutoffs}
    for qid, fid, time, p in (
        events.filter(question_id__in=list(cutoffs))
        .order_by("question_id", "time", "id")
        .values_list("question_id", "forecaster_id", "time", "probability")
    ):
        if time <= cutoffs[qid]:
            held[qid][fid] = p  # a withdrawal writes None
    return held


@dataclass(frozen=True)
class CrowdAt:
    """The crowd forecast as it stood at an instant: a history point, shaped like ``CrowdState``
    for the pages and the API (``updated_at`` is the point's time)."""

    probability: float | None
    median: float | None
    mean: float | None
    forecasters: int
    updated_at: dt.datetime


def settled_crowds(question_ids: Iterable[int]) -> dict[int, CrowdAt]:
    """For the questions among ``question_ids`` that have a final resolution: the crowd at its
    scoring cutoff (docs/methods.md §4.5), the forecast the scores were computed against. The
    headline of a settled question; forecasts after the cutoff (made while a proposal was
    pending, say) are in the history but not in it. Two queries."""
    from markets.models import Resolution

    point = CrowdPoint.objects.filter(
        question=OuterRef("question_id"), time__lte=OuterRef("cutoff")
    ).order_by("-seq")
    rows = list(
        Resolution.objects.filter(question_id__in=list(question_ids), state=Resolution.State.FINAL)
        .with_cutoff()
        .annotate(point_id=Subquery(point.values("pk")[:1]))
        .values_list("question_id", "point_id")
    )
    points = CrowdPoint.objects.in_bulk([pid for _, pid in rows if pid is not None])
    out: dict[int, CrowdAt] = {}
    for qid, pid in rows:
        p = points.get(pid) if pid is not None else None
        out[qid] = (
            CrowdAt(p.probability, p.median, p.mean, p.forecasters, p.time)
            if p is not None
            else CrowdAt(None, None, None, 0, dt.datetime.min.replace(tzinfo=dt.UTC))
        )
    return out
