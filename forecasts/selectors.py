"""Reads that several views and services share, each written once.

The cutoff of a settled question is ``min(close_time, resolved_at)`` (``markets.models
ResolutionQuerySet.with_cutoff``, docs/methods.md §4.5): what was held then is what was scored,
and what pages and calibration show for it.
"""

from __future__ import annotations

import datetime as dt

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
