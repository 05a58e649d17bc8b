"""Cohorts: the crowd forecast of the humans, of the bots, and of everyone (docs/methods.md §16.2).

Each tournament chooses whether bots count in its *default* crowd (``Tournament.bots_in_crowd``,
default no): the default crowd (``CrowdState`` / ``CrowdPoint``, what pages, scores and exports
show) pools the events of the humans cohort, or of everyone. Every cohort is also available on
demand with the same methods — log pool, mean, median, the same weights a_i and recency:

- its *current* crowd from a ``CohortState`` row, kept in O(1) per submission by
  ``cohort_apply`` in the submission's transaction under the question's lock (two rows: the
  forecaster's own cohort and everyone; the same running sums S, W, P as ``CrowdState``);
- its *history* rebuilt from the log on request (``cohort_history``: the vectorised
  ``forecasts.history.pool_history`` on the cohort's events, O(n log n)), with the same public
  batching as the default crowd's (``forecasts.privacy.public_series``).

Cohorts cover yes/no questions only: a multiple-choice or continuous question has no cohort rows
and no cohort history (its default crowd leaves bots out per ``bots_in_crowd`` all the same;
docs/methods.md §16.6). Who is a bot: ``Forecaster.is_bot``; bots
are few, so their ids are read once per rebuild (``bot_ids``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from config import rows
from forecasts import pooling, privacy, store
from forecasts.models import CohortState, Forecast, Forecaster
from markets.models import Question, Tournament

Cohort = CohortState.Cohort
COHORTS: tuple[str, ...] = tuple(c.value for c in Cohort)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
CANCELLATION = 1e-6  # as forecasts.services.CANCELLATION
STATE_FIELDS = (
    "sum_wl",
    "sum_w",
    "sum_p",
    "t0",
    "forecasters",
    "probability",
    "mean",
    "log_events",
    "last_time",
    "params",
    "updated_at",
)


def parse_cohort(raw: object) -> str:
    """A cohort name ("humans", "bots", "everyone"); ValueError with the choices otherwise."""
    value = str(raw or "").strip().lower()
    if value not in COHORTS:
        raise ValueError(f"Unknown cohort {raw!r}: choose one of {', '.join(COHORTS)}.")
    return value


def default_cohort(tournament: Tournament) -> str:
    """The cohort the tournament's default crowd pools: everyone, or the humans only."""
    return Cohort.EVERYONE if tournament.bots_in_crowd else Cohort.HUMANS


def in_default_crowd(question: Question, forecaster: Forecaster) -> bool:
    """Whether ``forecaster``'s events count in the question's default crowd. No query."""
    return not forecaster.is_bot or question.tournament.bots_in_crowd


def bot_ids() -> np.ndarray:
    """Sorted int64 ids of every bot forecaster (one query; bots are few)."""
    ids = Forecaster.objects.filter(is_bot=True).order_by("pk").values_list("pk", flat=True)
    return np.fromiter(ids, dtype=np.int64)


def cohort_mask(forecaster: np.ndarray, cohort: str, bots: np.ndarray) -> np.ndarray:
    """Boolean mask of the events (by forecaster id) that belong to ``cohort``."""
    if cohort == Cohort.EVERYONE:
        return np.ones(len(forecaster), dtype=bool)
    is_bot = np.isin(np.asarray(forecaster, dtype=np.int64), bots)
    return is_bot if cohort == Cohort.BOTS else ~is_bot


def subset(ev: store.EventLog, mask: np.ndarray) -> Any:
    """The events of ``ev`` (an ``EventLog`` or ``VectorEventLog``) where ``mask`` holds, in
    the same order; ``ev`` itself when every event is kept."""
    if mask.all():
        return ev
    changes: dict[str, Any] = {
        f.name: getattr(ev, f.name)[mask]
        for f in dataclasses.fields(ev)
        if isinstance(getattr(ev, f.name), np.ndarray)
    }
    if isinstance(ev, store.VectorEventLog):
        changes["stamps"] = [s for s, keep in zip(ev.stamps, mask.tolist(), strict=True) if keep]
    return dataclasses.replace(ev, **changes)


def crowd_events(question: Question, ev: Any, bots: np.ndarray | None = None) -> Any:
    """The events of ``ev`` (the question's log) that its default crowd pools: all of them when
    the tournament counts bots in its crowd, else the humans' (``bots``: ``bot_ids()``, read
    when not given)."""
    if question.tournament.bots_in_crowd or not len(ev.ids):
        return ev
    return subset(
        ev, cohort_mask(ev.forecaster, Cohort.HUMANS, bot_ids() if bots is None else bots)
    )


# --- stored cohort states of yes/no questions: O(1) per submission ----------------------------


def _params(question: Question) -> dict[str, Any]:
    from forecasts.services import crowd_state_params

    params = dict(crowd_state_params(question))
    params.pop("bots_in_crowd", None)  # a cohort does not depend on the default's choice
    return params


def cohort_apply(
    question: Question,
    event: Forecast,
    previous: store.PreviousEvent | None,
    weight: float,
) -> None:
    """Fold one event of a yes/no question into the two cohort states it belongs to (the
    forecaster's own cohort, and everyone), under the question lock the caller holds.

    O(1): two rows read and written, one term removed (``previous``, the forecaster's event
    before this one) and one added, as ``forecasts.services._crowd_apply`` does for the default
    crowd, with the same track-record weight ``weight`` and recency. Rebuilds the question's
    cohort states from the log (``cohort_states_rebuild``) when one is missing, was built with
    other parameters, the event is backdated, or a removal cancels nearly all the weight.
    """
    from forecasts.services import crowd_params

    own = Cohort.BOTS if event.forecaster.is_bot else Cohort.HUMANS
    states = {
        s.cohort: s
        for s in CohortState.objects.filter(question=question, cohort__in=[own, Cohort.EVERYONE])
    }
    params = _params(question)
    if (
        len(states) < 2
        or any(s.params != params for s in states.values())
        or any(s.last_time is not None and event.time < s.last_time for s in states.values())
    ):
        cohort_states_rebuild(question)
        return
    pool = crowd_params(question)
    for state in states.values():
        if not _fold(state, event, previous, weight, pool):
            cohort_states_rebuild(question)
            return
    now = timezone.now()
    for state in states.values():
        state.params = params
        state.updated_at = now
    _save(list(states.values()))


@cache
def _update_sql() -> str:
    sets = ", ".join(f"{rows.column(CohortState, f)} = %s" for f in STATE_FIELDS)
    return (
        f"UPDATE {rows.table(CohortState)} SET {sets} WHERE {rows.column(CohortState, 'id')} = %s"
    )


def _save(states: list[CohortState]) -> None:
    """Write the states' ``STATE_FIELDS``: one plain UPDATE per row, sent together
    (``bulk_update``'s CASE expressions cost more to build than the two statements)."""
    fields = [CohortState._meta.get_field(name) for name in STATE_FIELDS]
    values = [
        [f.get_db_prep_save(getattr(s, f.attname), connection) for f in fields] + [s.pk]  # type: ignore[union-attr]
        for s in states
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_update_sql(), values)


def _fold(
    state: CohortState,
    event: Forecast,
    previous: store.PreviousEvent | None,
    weight: float,
    pool: pooling.PoolParams,
) -> bool:
    """One event into one state's sums (docs/methods.md §2.5); False when the sums must be
    rebuilt (a removal that leaves less than ``CANCELLATION`` of the weight)."""
    half_life = pool.half_life
    now_s = event.time.timestamp()
    t0 = state.t0.timestamp() if state.t0 is not None else now_s
    if half_life is not None and (now_s - t0) / half_life > pooling.REBASE_EXPONENT:
        state.sum_wl, state.sum_w = pooling.rebase(state.sum_wl, state.sum_w, t0, now_s, half_life)
        t0 = now_s
    weight_before = state.sum_w
    for sign, ev in ((-1.0, previous), (1.0, event)):
        if ev is None or ev.kind != Forecast.Kind.FORECAST or ev.probability is None:
            continue
        p = pooling.clip(ev.probability)
        w = weight * pooling.recency_factor(ev.time.timestamp(), t0, half_life)
        state.sum_w += sign * w
        state.sum_wl += sign * w * float(pooling.logit(p))
        state.sum_p += sign * p
        state.forecasters += int(sign)
    if state.forecasters > 0 and not state.sum_w > CANCELLATION * weight_before:
        return False
    if state.forecasters == 0:
        state.sum_w = state.sum_wl = state.sum_p = 0.0
        state.probability = state.mean = None
    else:
        state.probability = pooling.pool_from_sums(
            state.sum_wl, state.sum_w, extremize=pool.extremize, base_logit=pool.base_logit
        )
        state.mean = state.sum_p / state.forecasters
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    state.log_events += 1
    state.last_time = event.time
    return True


def cohort_states_rebuild(question: Question) -> dict[str, CohortState]:
    """Rebuild every cohort state of a yes/no question from its log (under the caller's lock,
    or in a transaction of its own): the running sums of each cohort's current forecasts,
    with t0 at the log's last event. Returns the states by cohort."""
    from forecasts.services import crowd_params, crowd_weights

    with transaction.atomic():
        ev = store.load_events(question.pk)
        weights = crowd_weights(question, ev.forecaster)
        bots = bot_ids()
        pool = crowd_params(question)
        params = _params(question)
        t0 = float(ev.times[-1]) if len(ev.ids) else None
        last_time = (
            Forecast.objects.filter(question_id=question.pk)
            .order_by("-time", "-id")
            .values_list("time", flat=True)
            .first()
        )
        out: dict[str, CohortState] = {}
        for cohort in COHORTS:
            mask = cohort_mask(ev.forecaster, cohort, bots)
            p, w = _current(subset(ev, mask), weights[mask], t0, pool.half_life)
            values: dict[str, Any] = {
                "sum_w": float(np.sum(w)),
                "sum_wl": float(np.sum(w * pooling.logit(p))),
                "sum_p": float(np.sum(p)),
                "forecasters": int(p.size),
                "probability": (
                    pooling.log_pool(p, w, extremize=pool.extremize, base_logit=pool.base_logit)
                    if p.size
                    else None
                ),
                "mean": float(np.mean(p)) if p.size else None,
                "t0": None if t0 is None else dt.datetime.fromtimestamp(t0, tz=dt.UTC),
                "log_events": len(ev.ids),
                "last_time": last_time,
                "params": params,
                "updated_at": timezone.now(),
            }
            state, _ = CohortState.objects.update_or_create(
                question=question, cohort=cohort, defaults=values
            )
            out[cohort] = state
    return out


def _current(
    ev: store.EventLog, weights: np.ndarray, t0: float | None, half_life: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """(clipped probabilities, weights a_i · 2^((t_i − t0)/h)) of the current forecasts in
    ``ev`` (each forecaster's last event, unless a withdrawal), in event order."""
    n = len(ev.ids)
    if not n:
        return np.zeros(0), np.zeros(0)
    _, first_from_end = np.unique(ev.forecaster[::-1], return_index=True)
    last = np.sort(np.arange(n)[::-1][first_from_end])
    current = last[~np.isnan(ev.probs[last])]
    p = pooling.clip(ev.probs[current])
    w = weights[current] * pooling.recency_weights(
        ev.times[current], float(t0 if t0 is not None else 0.0), half_life
    )
    return p, w


def cohort_states(question: Question) -> dict[str, CohortState]:
    """The stored cohort states of a yes/no question, current: rebuilt first (in a short
    transaction holding the question's lock) when missing, built with other parameters, or
    behind the log (a bulk write). One count of the log's events (index only) per read."""
    states = {s.cohort: s for s in CohortState.objects.filter(question=question)}
    events = Forecast.objects.filter(question_id=question.pk).count()
    params = _params(question)
    if len(states) == len(COHORTS) and all(
        s.log_events == events and s.params == params for s in states.values()
    ):
        return states
    with transaction.atomic():
        Question.objects.select_for_update(of=("self",)).filter(pk=question.pk).first()
        return cohort_states_rebuild(question)


# --- on demand: from the log ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CohortCrowd:
    """One cohort's crowd at the end of the log, recomputed from the log: ``probability`` (log
    pool), ``mean``, ``median`` (None without forecasts) and ``forecasters``."""

    cohort: str
    forecasters: int
    probability: float | None
    mean: float | None
    median: float | None


def cohort_compute(question: Question, cohort: str) -> CohortCrowd:
    """A yes/no question's cohort crowd now, from scratch: the current forecasts of the
    cohort pooled by ``pooling.log_pool`` with the crowd's weights (the reference the stored
    states are held to, 1e-9)."""
    from forecasts.services import crowd_params, crowd_weights

    ev = store.load_events(question.pk)
    weights = crowd_weights(question, ev.forecaster)
    mask = cohort_mask(ev.forecaster, cohort, bot_ids())
    pool = crowd_params(question)
    t0 = float(ev.times[-1]) if len(ev.ids) else None
    p, w = _current(subset(ev, mask), weights[mask], t0, pool.half_life)
    if not p.size:
        return CohortCrowd(cohort, 0, None, None, None)
    return CohortCrowd(
        cohort,
        int(p.size),
        pooling.log_pool(p, w, extremize=pool.extremize, base_logit=pool.base_logit),
        pooling.mean_pool(p),
        pooling.median_pool(p),
    )


@dataclasses.dataclass(frozen=True)
class CohortHistory:
    """A cohort's crowd after each of its events: ``stamps`` (datetimes), ``forecasters``,
    ``probability``, ``median``, ``mean`` (float arrays, NaN without forecasts; yes/no
    questions), ``public_seq`` (int array, 0 for a point outside the public series)."""

    stamps: list[dt.datetime]
    forecasters: np.ndarray
    probability: np.ndarray
    median: np.ndarray
    mean: np.ndarray
    public_seq: np.ndarray


def cohort_history(question: Question, cohort: str) -> CohortHistory:
    """A yes/no question's cohort crowd history from its log: ``pool_history`` on the cohort's
    events with the default crowd's parameters and weights, and the public series of
    ``privacy.public_series``. O(n log n) in the log's events; one log read."""
    from forecasts.history import pool_history
    from forecasts.services import crowd_params, crowd_weights

    ev = store.load_events(question.pk)
    weights = crowd_weights(question, ev.forecaster)
    mask = cohort_mask(ev.forecaster, cohort, bot_ids())
    part = subset(ev, mask)
    w = weights[mask]
    if not len(part.ids):
        empty = np.zeros(0)
        return CohortHistory(
            [], empty.astype(np.int64), empty, empty, empty, empty.astype(np.int64)
        )
    hist = pool_history(
        part.times,
        part.forecaster,
        part.probs,
        track_record_weight=w,
        **crowd_params(question).kwargs(),
    )
    public = privacy.public_series(part.times, part.forecaster, hist.forecasters)
    # Epoch seconds carry whole microseconds to within 0.25 µs: round them back.
    stamps = [EPOCH + dt.timedelta(microseconds=int(m)) for m in np.rint(part.times * 1e6).tolist()]
    return CohortHistory(
        stamps, hist.forecasters, hist.probability, hist.median, hist.mean, public.seq
    )
