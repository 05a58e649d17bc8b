"""Reads that several views and services share, each written once.

The cutoff of a settled question is ``min(close_time, resolved_at)`` (``markets.models
ResolutionQuerySet.with_cutoff``, docs/methods.md §4.5): what was held then is what was scored,
and what pages and calibration show for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Greatest

from forecasts.models import CrowdPoint, Forecast
from forecasts.privacy import BATCH, public_threshold


def public_points(question: Any) -> QuerySet[CrowdPoint]:
    """The question's crowd history as everyone without full-history access sees it
    (docs/privacy.md): its public points pooling at least ``public_threshold`` forecasters.
    In history order; read through the partial index on (question, public_seq)."""
    return CrowdPoint.objects.filter(
        question=question,
        public_seq__isnull=False,
        forecasters__gte=public_threshold(question.tournament.min_forecasters),
    ).order_by("public_seq")


def _shown(tournament_ref: str) -> Q:
    """A public point that pools enough forecasters for its question's tournament, for a
    subquery whose outer row reaches the tournament through ``tournament_ref``."""
    return Q(
        public_seq__isnull=False,
        forecasters__gte=Greatest(Value(BATCH), OuterRef(f"{tournament_ref}__min_forecasters")),
    )


def crowd_at_cutoff(field: str = "probability", *, public: bool = False) -> Subquery:
    """A subquery for a ``Resolution`` queryset annotated with ``cutoff``: the crowd history's
    ``field`` (probability, median or mean) in force at the cutoff, or NULL before any point.

    ``public``: the last public point at or before the cutoff instead (docs/privacy.md), the
    crowd at the cutoff as everyone without full-history access sees it.
    """
    points = CrowdPoint.objects.filter(
        question=OuterRef("question_id"), time__lte=OuterRef("cutoff")
    )
    if public:
        points = points.filter(_shown("question__tournament")).order_by("-public_seq")
    else:
        points = points.order_by("-seq")
    return Subquery(points.values(field)[:1])


HELD_CUTOFFS_PER_QUERY = 400  # OR terms per query in ``forecasts_held_at`` (SQLite depth 1,000)


def forecasts_held_at(
    cutoffs: dict[int, dt.datetime], events: QuerySet[Forecast] | None = None
) -> dict[int, dict[int, float | None]]:
    """Each forecaster's forecast held at each question's cutoff: question id → forecaster id →
    probability (None when their last event by then was a withdrawal).

    ``cutoffs`` maps question ids to their cutoff; ``events`` narrows the forecasts read (e.g.
    one forecaster's), default all of those questions'. One query, newest event first.
    """
    events = Forecast.objects.all() if events is None else events
    held: dict[int, dict[int, float | None]] = {qid: {} for qid in cutoffs}
    if not cutoffs:
        return held
    # Each question's cutoff applied in SQL, so that no event time is read back: turning
    # 150,000 timestamps into aware datetimes was most of the 2.4 s the ACX forecasters'
    # calibration took (issue 19).
    by_cutoff: dict[dt.datetime, list[int]] = {}
    for qid, cutoff in cutoffs.items():
        by_cutoff.setdefault(cutoff, []).append(qid)
    groups = list(by_cutoff.items())
    # One OR term per distinct cutoff; SQLite refuses an expression tree deeper than 1,000, so
    # an import's 15,000 cutoffs are read HELD_CUTOFFS_PER_QUERY at a time (a question's events
    # all fall in one query, so each question's newest-first order holds).
    for start in range(0, len(groups), HELD_CUTOFFS_PER_QUERY):
        within = Q()
        for cutoff, qids in groups[start : start + HELD_CUTOFFS_PER_QUERY]:
            within |= Q(question_id__in=qids, time__lte=cutoff)
        # Newest first per forecaster, the order of the (question, forecaster, -time, -id) index
        # (no sort of the whole log): the first event of each forecaster is the one held.
        for qid, fid, p in (
            events.filter(within)
            .order_by("question_id", "forecaster_id", "-time", "-id")
            .values_list("question_id", "forecaster_id", "probability")
        ):
            forecasts = held[qid]
            if fid not in forecasts:
                forecasts[fid] = p  # a withdrawal holds None
    return held


SPREAD_BINS = 10


def forecast_spread(
    question_id: int, at: dt.datetime, bins: int = SPREAD_BINS, *, events: int | None = None
) -> list[int]:
    """How many forecasters held a forecast in each of ``bins`` equal probability bins at
    ``at``: a list of ``bins`` counts, bin i covering [i/bins, (i+1)/bins) (the last bin closed
    at 1). Withdrawn forecasters are not counted.

    ``events``: only the question's first ``events`` events in log order (time, id), i.e. as
    of the crowd point with that ``seq``: events at the point's own instant that come after it
    are left out. Who may see it as of which point is the caller's rule (docs/privacy.md, "The
    spread of forecasts"). Raises ``ValueError`` for ``bins`` < 1.
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    log = Forecast.objects.filter(question_id=question_id, time__lte=at)
    if events is not None and events < 1:
        log = log.none()
    elif events is not None:
        nth = list(log.order_by("time", "id").values_list("time", "id")[events - 1 : events])
        if nth:  # (fewer events than that by ``at``: all of them)
            last_time, last_id = nth[0]
            log = log.filter(Q(time__lt=last_time) | Q(time=last_time, id__lte=last_id))
    if connection.vendor == "postgresql":
        # Each forecaster's last event, read through the (question, forecaster, -time, -id)
        # index: one row per forecaster instead of the whole log.
        held = list(
            log.order_by("forecaster_id", "-time", "-id")
            .distinct("forecaster_id")
            .values_list("probability", flat=True)
        )
    else:
        held = list(forecasts_held_at({question_id: at}, log)[question_id].values())
    counts = [0] * bins
    for p in held:
        if p is not None:
            # Rounded first so a decimal boundary (0.3 → 2.9999… or 3.0000…4) lands in its bin.
            counts[min(int(round(p * bins, 9)), bins - 1)] += 1
    return counts


@dataclass(frozen=True)
class CrowdAt:
    """The crowd forecast as it stood at an instant: a history point, shaped like ``CrowdState``
    for the pages and the API (``updated_at`` is the point's time)."""

    probability: float | None
    median: float | None
    mean: float | None
    forecasters: int
    updated_at: dt.datetime
    seq: int | None = None  # the history point's place in the log (its event count)
    # Multiple choice and continuous questions: the point's summary bytes (``CrowdPoint.summary``).
    summary: bytes | None = None


def _raw(summary: bytes | memoryview | None) -> bytes | None:
    return None if summary is None else bytes(summary)


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
            CrowdAt(p.probability, p.median, p.mean, p.forecasters, p.time, p.seq, _raw(p.summary))
            if p is not None
            else CrowdAt(None, None, None, 0, dt.datetime.min.replace(tzinfo=dt.UTC))
        )
    return out


def public_crowds(questions: Iterable[Any]) -> dict[int, CrowdAt]:
    """The headline crowd of each question as everyone without full-history access sees it
    (docs/privacy.md): its latest public point; for a settled question the latest at or before
    its scoring cutoff. Questions without one are left out. One query for the open questions
    and one for the settled ones (``questions`` with their tournaments loaded)."""
    from markets.models import Question, Resolution

    questions = list(questions)
    settled_ids = [q.pk for q in questions if q.is_settled]
    final = Resolution.objects.filter(question=OuterRef("pk"), state=Resolution.State.FINAL)
    found: list[CrowdPoint] = []
    if questions:
        # Every question without a final resolution (a settled status without one included).
        latest = CrowdPoint.objects.filter(Q(question=OuterRef("pk")) & _shown("tournament"))
        found += CrowdPoint.objects.filter(
            pk__in=Question.objects.filter(pk__in=[q.pk for q in questions])
            .exclude(Exists(final) if settled_ids else Q(pk__in=[]))
            .annotate(point_id=Subquery(latest.order_by("-public_seq").values("pk")[:1]))
            .values("point_id")
        )
    if settled_ids:
        at_cutoff = CrowdPoint.objects.filter(
            Q(question=OuterRef("question_id"), time__lte=OuterRef("cutoff"))
            & _shown("question__tournament")
        )
        found += CrowdPoint.objects.filter(
            pk__in=Resolution.objects.filter(
                question_id__in=settled_ids, state=Resolution.State.FINAL
            )
            .with_cutoff()
            .annotate(point_id=Subquery(at_cutoff.order_by("-public_seq").values("pk")[:1]))
            .values("point_id")
        )
    return {
        p.question_id: CrowdAt(
            p.probability, p.median, p.mean, p.forecasters, p.time, p.seq, _raw(p.summary)
        )
        for p in found
    }


def _has_crowd(question: Any) -> bool:
    """Whether the question's crowd state is loaded (or exists): no exception on a miss."""
    from forecasts.models import CrowdState

    try:
        question.crowd  # noqa: B018 - loads it, or raises when there is none
    except CrowdState.DoesNotExist:
        return False
    return True


def crowd_headlines(questions: Iterable[Any], user: Any) -> dict[int, Any]:
    """The headline crowd of each question for ``user``: with full-history access the live
    state (``CrowdState``; for a settled question the crowd at the scoring cutoff), otherwise
    ``public_crowds``. Questions without a crowd are left out. ``questions`` come with their
    tournament and crowd state loaded (``select_related("tournament", "crowd")``)."""
    from forecasts.privacy import full_history_access

    questions = list(questions)
    if not full_history_access(user):
        return dict(public_crowds(questions))
    out: dict[int, Any] = {}
    for q in questions:
        if _has_crowd(q):
            out[q.pk] = q.crowd
    out.update(settled_crowds([q.pk for q in questions if q.is_settled]))
    return out
