"""Bulk crowd services: rebuild the crowd of many questions at once (imports, issue 14).

Part of the service layer, next to ``forecasts.services``: ``crowd_recompute_many`` is
``crowd_recompute`` for a set of questions, with the same arithmetic per question (the same
``pool_history``, ``public_series`` and ``state_values`` calls on the same arrays — the median
of a small log from ``median_replay``, which gives the same values — so the same values to the
last bit; a test compares the two) and the database work batched: one locking
read of the questions, the logs in a few statements (``store.load_events_many``), the frozen
and current track-record weights read once, every history point in one bulk insert and every
state in one. The cost per question is then the numpy work alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from django.db import transaction

from config.bulk import bulk_insert, bulk_insert_new
from forecasts import cohorts, privacy, store
from forecasts.history import ActiveSet, median_replay, pool_history
from forecasts.models import CrowdPoint, CrowdState, FrozenWeights
from forecasts.services import (
    crowd_params,
    crowd_recompute,
    current_weights,
    state_values,
    weights_of_events,
)
from markets.models import Question

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
POINT_COLUMNS = (
    "question_id",
    "seq",
    "time",
    "forecasters",
    "probability",
    "median",
    "mean",
    "forecast_id",
    "public_seq",
)
DELETE_BATCH = 5_000  # question ids per DELETE
# Logs up to this many events take their medians from ``median_replay`` (a sorted list, the same
# values bit for bit as ``pool_history``'s order statistics, whose fixed setup costs about half
# of a small question's recompute); most imported questions have a handful of forecasts.
REPLAY_MEDIAN_UP_TO = 256


def _stamp(t: float) -> dt.datetime:
    """An event's stored time from its epoch seconds: the log's floats carry whole microseconds
    to within 0.25 µs (``store._copy_points_binary`` rounds the same way)."""
    return EPOCH + dt.timedelta(microseconds=int(np.rint(t * 1e6)))


def _nullable(values: np.ndarray) -> list[float | None]:
    return store.nullable(values)


@transaction.atomic
def crowd_recompute_many(
    *, question_ids: Iterable[int], progress: Callable[[int], None] | None = None
) -> int:
    """``crowd_recompute`` of every question in ``question_ids``, batched: the whole crowd
    history (one point per event) and the running sums (``CrowdState``) of each, rebuilt from
    its forecast log with its tournament's pool parameters and track-record weights
    (docs/methods.md §6.2; the pool itself §2). A question without events loses its points and
    state, as with ``crowd_recompute``.

    Locks the questions (``FOR UPDATE``) in id order. ``progress(n)`` is called after each
    question with n = 1. Returns the number of points written. Raises ``Question.DoesNotExist``
    for an unknown id (nothing is changed: the transaction rolls back).
    """
    ids = sorted(set(question_ids))
    if not ids:
        return 0
    questions: dict[int, Question] = {}
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        questions.update(
            (q.pk, q)
            for q in Question.objects.select_for_update(of=("self",))
            .select_related("tournament")
            .filter(pk__in=batch)
            .order_by("pk")
        )
    if missing := [i for i in ids if i not in questions]:
        raise Question.DoesNotExist(f"no question with id {missing[0]}")
    # Multiple-choice and continuous questions are rebuilt one by one (their vector history,
    # forecasts.services._vector_recompute); the batched path reads yes/no logs only.
    vector_ids = [i for i in ids if not questions[i].is_binary]
    written = sum(crowd_recompute(question_id=i) for i in vector_ids)
    ids = [i for i in ids if questions[i].is_binary]
    if not ids:
        return written
    logs = store.load_events_many(ids)
    bots = cohorts.bot_ids()
    frozen: dict[int, FrozenWeights] = {}
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        frozen.update(
            (f.question_id, f) for f in FrozenWeights.objects.filter(question_id__in=batch)
        )
    current: dict[int, dict[int, float]] = {}
    points: list[tuple[Any, ...]] = []
    states: list[tuple[Any, ...]] = []
    state_columns: list[str] = []
    for qid in ids:
        question = questions[qid]
        ev = logs.get(qid)
        if ev is not None:
            ev = cohorts.crowd_events(question, ev, bots)  # bots only where the crowd has them
        if ev is not None and len(ev.ids):
            t = question.tournament
            if qid not in frozen and t.pk not in current:
                current[t.pk] = current_weights(t)
            weights = weights_of_events(
                ev.forecaster, frozen=frozen.get(qid), current=current.get(t.pk, {})
            )
            small = len(ev.ids) <= REPLAY_MEDIAN_UP_TO
            hist = pool_history(
                ev.times,
                ev.forecaster,
                ev.probs,
                track_record_weight=weights,
                with_median=not small,
                **crowd_params(question).kwargs(),
            )
            if small:  # the same medians, bit for bit, without the order-statistics setup
                medians, _ = median_replay(
                    ActiveSet.empty(), ev.forecaster, ev.probs, np.arange(len(ev.ids))
                )
                hist = replace(hist, median=medians)
            public = privacy.public_series(ev.times, ev.forecaster, hist.forecasters)
            stamps = [_stamp(x) for x in ev.times.tolist()]
            n = len(ev.ids)
            points.extend(
                zip(
                    [qid] * n,
                    range(1, n + 1),
                    stamps,
                    hist.forecasters.tolist(),
                    _nullable(hist.probability),
                    _nullable(hist.median),
                    _nullable(hist.mean),
                    ev.ids.tolist(),
                    [s or None for s in public.seq.tolist()],
                    strict=True,
                )
            )
            values = state_values(question, ev, weights, hist, public, stamps[-1])
            state_columns = ["question_id", *values]
            states.append((qid, *values.values()))
        if progress is not None:
            progress(1)
    for start in range(0, len(ids), DELETE_BATCH):
        batch = ids[start : start + DELETE_BATCH]
        CrowdPoint.objects.filter(question_id__in=batch).delete()
        CrowdState.objects.filter(question_id__in=batch).delete()
    written += bulk_insert(CrowdPoint, POINT_COLUMNS, points)
    if states:  # plain rows, as the points: no model instance or SQL built per state
        bulk_insert_new(CrowdState, state_columns, states)
    return written
