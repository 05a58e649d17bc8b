"""Forecast workflows: submit and withdraw, keeping the crowd forecast current in O(1).

Every door (web, API, admin, import) goes through these functions, so the same rules hold.
The question row is locked (``select_for_update``) for the read-modify-write of its running
sums, which serializes concurrent submissions to one question without blocking others.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from forecasts import cohorts, pooling, privacy, store, typed, vector_pooling
from forecasts.errors import (
    InvalidForecastValues,
    InvalidProbability,
    NothingToWithdraw,
    QuestionNotFound,
    QuestionNotOpen,
)
from forecasts.models import (
    CrowdPoint,
    CrowdState,
    Forecast,
    Forecaster,
    FrozenWeights,
    TrackRecordWeight,
)
from forecasts.selectors import crowd_at_cutoff
from forecasts.signals import forecast_recorded
from markets.models import Question, Tournament

# Rebuild the sums when a removal leaves less than this share of the weight (see _crowd_apply).
CANCELLATION = 1e-6
P_MIN = pooling.EPS
P_MAX = 1.0 - pooling.EPS
SETTLED = (Question.Status.RESOLVED, Question.Status.ANNULLED)


def forecaster_for_user(user: Any) -> Forecaster:
    """The user's forecaster, created on first use (token authentication preloads it)."""
    try:
        return user.forecaster
    except Forecaster.DoesNotExist:
        forecaster, _ = Forecaster.objects.get_or_create(user=user)
        return forecaster


def parse_probability(raw: object) -> float:
    """Validate a probability given as a number or a string; percentages are not accepted here."""
    try:
        p = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidProbability(f"{raw!r} is not a number.") from None
    if not math.isfinite(p):
        raise InvalidProbability(f"{raw!r} is not a finite number.")
    if not P_MIN <= p <= P_MAX:
        raise InvalidProbability(
            f"Probability {p:g} is outside the allowed range {P_MIN:g} to {P_MAX:g} "
            "(0.1% to 99.9%)."
        )
    return p


def crowd_params(question: Question) -> pooling.PoolParams:
    """The pool parameters in force for ``question`` (its tournament's settings)."""
    t = question.tournament
    return pooling.PoolParams(
        extremize=t.effective_extremize, base_logit=t.base_logit, half_life=t.half_life_seconds
    )


def crowd_state_params(question: Question) -> dict[str, Any]:
    """What ``CrowdState.params`` records: the pool parameters and whether the tournament weights
    by track record. A state built under other settings is stale, and the next event rebuilds it
    (``_crowd_apply``): turning weighting on or off changes every forecaster's a_i."""
    return {
        **crowd_params(question).as_json(),
        "track_record_weighting": question.tournament.track_record_weighting,
        "bots_in_crowd": question.tournament.bots_in_crowd,
    }


# --- Track-record weights in the crowd (docs/methods.md §6.2) ----------------------------------


def current_weights(tournament: Tournament, *, weighting: bool | None = None) -> dict[int, float]:
    """The a_i in force now in ``tournament``, by forecaster id: the stored
    ``TrackRecordWeight`` rows while the tournament weights by track record (a forecaster
    without a row has a_i = 1), and none (everyone 1) while it does not. ``weighting`` overrides
    the tournament's setting (a settings change asks for the weights before it). One query."""
    on = tournament.track_record_weighting if weighting is None else weighting
    if not on:
        return {}
    return dict(
        TrackRecordWeight.objects.filter(tournament_id=tournament.pk).values_list(
            "forecaster_id", "weight"
        )
    )


def crowd_weights(question: Question, forecaster: np.ndarray) -> np.ndarray:
    """a_i for each event of a question's log (``forecaster``: the events' forecaster ids), as
    its crowd pools them (docs/methods.md §6.2): the frozen weights of a settled question that
    has them, otherwise each forecaster's current a_i (``current_weights``). float64 array of
    the same length; 1 for a forecaster with neither. Two queries at most."""
    frozen = FrozenWeights.objects.filter(question_id=question.pk).first()
    current = current_weights(question.tournament) if frozen is None else {}
    return weights_of_events(forecaster, frozen=frozen, current=current)


def weights_of_events(
    forecaster: np.ndarray, *, frozen: FrozenWeights | None, current: dict[int, float]
) -> np.ndarray:
    """``crowd_weights`` from what it reads: a_i per event from the question's ``frozen``
    weights when it has them, else from ``current`` (``current_weights``; 1 when absent).
    No query: the bulk recompute reads both for many questions at once."""
    ids, codes = np.unique(np.asarray(forecaster, dtype=np.int64), return_inverse=True)
    if frozen is not None:
        table = [frozen.weight_of(i) for i in ids.tolist()]
    else:
        table = [current.get(i, 1.0) for i in ids.tolist()]
    return np.asarray(table, dtype=np.float64)[codes.reshape(-1)]


def _of_forecasters(forecaster_ids: Iterable[int] | None) -> Any:
    """A filter on questions: those with an event by one of ``forecaster_ids`` (None: any)."""
    events = Forecast.objects.filter(question=OuterRef("pk"))
    if forecaster_ids is not None:
        events = events.filter(forecaster_id__in=sorted(set(forecaster_ids)))
    return Exists(events)


def crowd_weights_freeze(
    *,
    tournament_id: int,
    forecaster_ids: Iterable[int] | None = None,
    weighting: bool | None = None,
) -> int:
    """Call before the a_i of ``forecaster_ids`` (None: everyone's) change in the tournament, in
    the same transaction: every settled question of theirs that has not frozen its weights yet
    keeps the ones in force now (``FrozenWeights``, docs/methods.md §6.2), the ones its crowd
    was built with. ``weighting``: whether the tournament weighted by track record until now
    (default: its setting; a settings change passes the old value). Idempotent; the caller holds
    the tournament's lock, so two changes never freeze the same question. Returns how many
    questions were frozen."""
    tournament = Tournament.objects.get(pk=tournament_id)
    question_ids = list(
        Question.objects.filter(tournament_id=tournament_id, status__in=SETTLED)
        .filter(~Exists(FrozenWeights.objects.filter(question=OuterRef("pk"))))
        .filter(_of_forecasters(forecaster_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not question_ids:
        return 0
    current = current_weights(tournament, weighting=weighting)
    weights: dict[int, dict[str, float]] = {qid: {} for qid in question_ids}
    for question_id, forecaster_id in (
        Forecast.objects.filter(question_id__in=question_ids)
        .order_by()
        .values_list("question_id", "forecaster_id")
        .distinct()
    ):
        weights[question_id][str(forecaster_id)] = current.get(forecaster_id, 1.0)
    now = timezone.now()
    FrozenWeights.objects.bulk_create(
        [FrozenWeights(question_id=q, weights=w, frozen_at=now) for q, w in weights.items()],
        ignore_conflicts=True,
    )
    return len(question_ids)


def crowd_unsettled_questions(
    *, tournament_id: int, forecaster_ids: Iterable[int] | None = None
) -> list[int]:
    """Ids of the tournament's unsettled questions (upcoming, open, closed) with an event by one
    of ``forecaster_ids`` (None: any): the crowds that follow the current weights."""
    return list(
        Question.objects.filter(tournament_id=tournament_id)
        .exclude(status__in=SETTLED)
        .filter(_of_forecasters(forecaster_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def crowd_follow_weights(*, tournament_id: int, forecaster_ids: Iterable[int]) -> int:
    """After the current a_i of ``forecaster_ids`` changed (in the caller's transaction): rebuild
    the crowd of every unsettled question of theirs in the tournament with the new weights
    (``crowd_recompute``, in question-id order). Returns how many were rebuilt."""
    questions = crowd_unsettled_questions(
        tournament_id=tournament_id, forecaster_ids=forecaster_ids
    )
    for question_id in questions:
        crowd_recompute(question_id=question_id)
    return len(questions)


def _seconds(t: dt.datetime) -> float:
    return t.timestamp()


@transaction.atomic
def forecast_submit(
    *,
    question_id: int,
    forecaster: Forecaster,
    probability: object = None,
    values: object = None,
    rationale: str = "",
    at: dt.datetime | None = None,
    viewer: Any = None,
) -> Forecast:
    """Record a forecast and update the question's crowd forecast in the same transaction.

    A yes/no question takes ``probability``; a multiple-choice or continuous one takes
    ``values`` (array-like: k option probabilities, or the standardised CDF at 201 points;
    checked by ``forecasts.typed.values_validate``, docs/methods.md §13.2). With ``viewer`` (a
    user), a question they may not see is reported as not found. Raises
    ``InvalidProbability`` / ``InvalidForecastValues`` for input that does not fit the question,
    ``QuestionNotFound``, ``QuestionNotOpen``; nothing is written then.
    """
    if values is not None:
        if probability is not None:
            raise InvalidForecastValues("Give a probability or values, not both.")
        return _submit_values(question_id, forecaster, values, rationale, at, viewer)
    p = parse_probability(probability)
    question, state, at = _lock_open_question(question_id, at, viewer)
    if typed.is_vector(question):
        raise InvalidForecastValues(
            f"This is a {question.get_type_display().lower()} question: it takes values, "
            "not a probability."
        )
    weight = _track_record_weight(question, forecaster)
    forecast = Forecast(
        question=question,
        forecaster=forecaster,
        kind=Forecast.Kind.FORECAST,
        probability=p,
        time=at,
        rationale=rationale.strip(),
        track_record_weight=weight,
    )
    previous = store.append_event(forecast)
    _crowds_apply(question, state, forecast, previous, weight)
    forecast_recorded.send(sender=Forecast, forecast=forecast)
    return forecast


def _submit_values(
    question_id: int,
    forecaster: Forecaster,
    raw: object,
    rationale: str,
    at: dt.datetime | None,
    viewer: Any,
) -> Forecast:
    """``forecast_submit`` for a multiple-choice or continuous question (in its transaction)."""
    question, state, at = _lock_open_question(question_id, at, viewer)
    values = typed.values_validate(question, raw)
    weight = _track_record_weight(question, forecaster)
    forecast = Forecast(
        question=question,
        forecaster=forecaster,
        kind=Forecast.Kind.FORECAST,
        values=typed.to_bytes(values),
        time=at,
        rationale=rationale.strip(),
        track_record_weight=weight,
    )
    previous = store.append_event(forecast)
    _crowds_apply(question, state, forecast, previous, weight)
    forecast_recorded.send(sender=Forecast, forecast=forecast)
    return forecast


@transaction.atomic
def forecast_withdraw(
    *,
    question_id: int,
    forecaster: Forecaster,
    at: dt.datetime | None = None,
    viewer: Any = None,
) -> Forecast:
    """Withdraw the forecaster's current forecast (an event: the log is never edited)."""
    question, state, at = _lock_open_question(question_id, at, viewer)
    event = Forecast(
        question=question, forecaster=forecaster, kind=Forecast.Kind.WITHDRAWAL, time=at
    )
    previous = store.append_event(event)
    if previous is None or previous.kind == Forecast.Kind.WITHDRAWAL:
        # Raised inside the transaction: the event just written is rolled back with it.
        raise NothingToWithdraw("You have no current forecast on this question to withdraw.")
    _crowds_apply(question, state, event, previous, _track_record_weight(question, forecaster))
    return event


def _lock_open_question(
    question_id: int, at: dt.datetime | None, viewer: Any = None
) -> tuple[Question, CrowdState, dt.datetime]:
    """Lock the question and its crowd state, and check that it takes forecasts at ``at``.

    Returns the question, its state and the event time: ``at``, or — when None — the time the
    lock was granted. A timestamp taken before waiting for the lock would let two concurrent
    submissions commit in the reverse order of their times, and the later writer would then
    look backdated and trigger a full recompute (seconds on a large question, under the lock).
    """
    locked = store.lock_question_and_state(question_id)
    if locked is None or (viewer is not None and not locked[0].tournament.is_visible_to(viewer)):
        raise QuestionNotFound("No such question.")
    question, state = locked
    at = at or timezone.now()
    if not question.is_open_at(at):
        if at < question.open_time and not question.is_settled:
            raise QuestionNotOpen(
                f"This question opens for forecasts on {question.open_time:%Y-%m-%d %H:%M} UTC."
            )
        raise QuestionNotOpen(
            f"This question is {_closed_word(question, at)}: forecasts are closed."
        )
    return question, state, at


def _closed_word(question: Question, at: dt.datetime) -> str:
    if question.is_settled:
        return question.get_status_display().lower()
    return "closed"


def _track_record_weight(question: Question, forecaster: Forecaster) -> float:
    """The forecaster's current a_i on an open question: the precomputed weight when the
    tournament weights by track record (docs/methods.md §6), else 1. The sums hold every
    forecaster's term with this value (the crowds follow each change of it), so an event both
    removes and adds with it. One indexed lookup, no aggregate in the lock."""
    if not question.tournament.track_record_weighting:
        return 1.0
    weight = (
        TrackRecordWeight.objects.filter(
            forecaster_id=forecaster.pk, tournament_id=question.tournament_id
        )
        .values_list("weight", flat=True)
        .first()
    )
    return 1.0 if weight is None else weight


def _term(
    forecast: Forecast | store.PreviousEvent, weight: float, t0: float, half_life: float | None
) -> tuple[float, float, float]:
    """(w', w'·ℓ, clipped p) of one forecast with track-record weight a_i = ``weight``,
    relative to the reference time t0."""
    assert forecast.probability is not None, "withdrawals carry no term"
    p = pooling.clip(forecast.probability)
    w = weight * pooling.recency_factor(_seconds(forecast.time), t0, half_life)
    return w, w * float(pooling.logit(p)), float(p)


STATE_FIELDS = (
    "sum_wl",
    "sum_w",
    "sum_p",
    "t0",
    "forecasters",
    "probability",
    "median",
    "mean",
    "events",
    "last_time",
    "params",
    "updated_at",
    "public_points",
    "batch_since",
    "batch_forecasters",
)


def _crowds_apply(
    question: Question,
    state: CrowdState,
    event: Forecast,
    previous: store.PreviousEvent | None,
    weight: float,
) -> None:
    """Fold one event into the default crowd when it counts there (a bot's counts only where
    the tournament has ``bots_in_crowd``) and, on a yes/no question, into its cohort states
    (``forecasts.cohorts``, docs/methods.md §16.2): O(1) each."""
    if cohorts.in_default_crowd(question, event.forecaster):
        _crowd_apply(question, state, event, previous, weight)
    if not typed.is_vector(question):
        cohorts.cohort_apply(question, event, previous, weight)


def _crowd_apply(
    question: Question,
    state: CrowdState,
    event: Forecast,
    previous: store.PreviousEvent | None,
    weight: float,
) -> None:
    """Fold one event into the running sums and append a history point: O(1) in forecasters.

    ``state`` is the question's crowd state as locked with it; ``previous`` is the forecaster's
    event before this one, whose term the sums hold; ``weight`` is the forecaster's current
    a_i, with which the sums hold that term and the new one is added. Falls back to a full
    recompute when the event is older than the last point (a backdated write) or the
    tournament's parameters changed since the sums were built. Multiple-choice and continuous
    questions take ``_crowd_apply_vector``.
    """
    if typed.is_vector(question):
        _crowd_apply_vector(question, state, event, previous, weight)
        return
    params = crowd_params(question)
    stale = state.params != crowd_state_params(question) and state.events > 0
    if stale or (state.last_time is not None and event.time < state.last_time):
        crowd_recompute(question_id=question.pk)
        return

    half_life = params.half_life
    now_s = _seconds(event.time)
    t0 = _seconds(state.t0) if state.t0 is not None else now_s
    if half_life is not None and (now_s - t0) / half_life > pooling.REBASE_EXPONENT:
        state.sum_wl, state.sum_w = pooling.rebase(state.sum_wl, state.sum_w, t0, now_s, half_life)
        t0 = now_s

    weight_before = state.sum_w
    if previous is not None and previous.kind == Forecast.Kind.FORECAST:
        w, wl, p = _term(previous, weight, t0, half_life)
        state.sum_w -= w
        state.sum_wl -= wl
        state.sum_p -= p
        state.forecasters -= 1
    if event.kind == Forecast.Kind.FORECAST:
        w, wl, p = _term(event, weight, t0, half_life)
        state.sum_w += w
        state.sum_wl += wl
        state.sum_p += p
        state.forecasters += 1

    if state.forecasters > 0 and not state.sum_w > CANCELLATION * weight_before:
        # Removing a term that carried nearly all the weight (a recent forecast under a short
        # half-life) leaves little but rounding error in the sums: rebuild them exactly.
        crowd_recompute(question_id=question.pk)
        return
    if state.forecasters == 0:
        # Exact zero rather than accumulated rounding.
        state.sum_w = state.sum_wl = state.sum_p = 0.0
        state.probability = state.mean = state.median = None
    else:
        state.probability = pooling.pool_from_sums(
            state.sum_wl,
            state.sum_w,
            extremize=params.extremize,
            base_logit=params.base_logit,
        )
        state.mean = state.sum_p / state.forecasters
        state.median = None  # filled after commit (see crowd_fill_medians)
    # Whether this point joins the public series (docs/privacy.md): O(1) from the state.
    public_seq = privacy.batch_step(
        state, previous.time if previous is not None else None, event.time
    )
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    state.params = crowd_state_params(question)
    state.events += 1
    state.last_time = event.time
    state.updated_at = timezone.now()
    point = CrowdPoint(
        question=question,
        seq=state.events,
        time=event.time,
        forecasters=state.forecasters,
        probability=state.probability,
        mean=state.mean,
        median=None,
        forecast=event,
        public_seq=public_seq,
    )
    store.save_state_and_point(state, point, STATE_FIELDS)
    _schedule_median_fill(question.pk)


VECTOR_STATE_FIELDS = (*STATE_FIELDS, "sums", "linear_sums", "vector")


def _vector_terms(
    question: Question,
    forecast: Forecast | store.PreviousEvent,
    weight: float,
    t0: float,
    half_life: float | None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """(w', w'·ln p_k, w'·p_k) of one multiple-choice or continuous forecast, relative to t0:
    its terms of W, S and L (docs/methods.md §13.3)."""
    b = typed.outcomes(question, typed.from_bytes(forecast.values))
    w = weight * pooling.recency_factor(_seconds(forecast.time), t0, half_life)
    return w, w * vector_pooling.log_terms(b), w * b


def _crowd_apply_vector(
    question: Question,
    state: CrowdState,
    event: Forecast,
    previous: store.PreviousEvent | None,
    weight: float,
) -> None:
    """``_crowd_apply`` for a multiple-choice or continuous question: the vector sums S_k, L_k
    and the scalar W change by one term each for the previous and the new forecast, O(k) and
    independent of the number of forecasters (docs/methods.md §13.3). The same fallbacks to a
    full recompute (backdated event, changed parameters, cancellation). The point's summary:
    ``forecasts.typed.summarizer``. No median fill: the per-option median is a comparator
    computed on demand, not kept per point.
    """
    params = crowd_params(question)
    stale = state.params != crowd_state_params(question) and state.events > 0
    if stale or (state.last_time is not None and event.time < state.last_time):
        crowd_recompute(question_id=question.pk)
        return
    m = typed.outcome_count(question)
    sums = typed.from_bytes(state.sums) if state.sums is not None else np.zeros(m)
    linear = typed.from_bytes(state.linear_sums) if state.linear_sums is not None else np.zeros(m)
    if sums.shape != (m,) or linear.shape != (m,):
        crowd_recompute(question_id=question.pk)
        return
    half_life = params.half_life
    now_s = _seconds(event.time)
    t0 = _seconds(state.t0) if state.t0 is not None else now_s
    if half_life is not None and (now_s - t0) / half_life > pooling.REBASE_EXPONENT:
        factor = math.exp2(-(now_s - t0) / half_life)  # as pooling.rebase
        state.sum_w *= factor
        sums *= factor
        linear *= factor
        t0 = now_s

    weight_before = state.sum_w
    if previous is not None and previous.kind == Forecast.Kind.FORECAST:
        w, s_term, l_term = _vector_terms(question, previous, weight, t0, half_life)
        state.sum_w -= w
        sums -= s_term
        linear -= l_term
        state.forecasters -= 1
    if event.kind == Forecast.Kind.FORECAST:
        w, s_term, l_term = _vector_terms(question, event, weight, t0, half_life)
        state.sum_w += w
        sums += s_term
        linear += l_term
        state.forecasters += 1

    if state.forecasters > 0 and not state.sum_w > CANCELLATION * weight_before:
        crowd_recompute(question_id=question.pk)
        return
    summary: bytes | None = None
    if state.forecasters == 0:
        state.sum_w = 0.0
        sums[:] = 0.0
        linear[:] = 0.0
        state.vector = None
    else:
        pooled = vector_pooling.pool_from_sums(
            sums, state.sum_w, typed.support(question), extremize=params.extremize
        )
        state.vector = typed.to_bytes(typed.crowd_vector(question, pooled))
        summary = typed.to_bytes(typed.summarizer(question)(pooled[None, :])[0])
    state.sums = typed.to_bytes(sums)
    state.linear_sums = typed.to_bytes(linear)
    state.sum_wl = state.sum_p = 0.0
    state.probability = state.mean = state.median = None
    public_seq = privacy.batch_step(
        state, previous.time if previous is not None else None, event.time
    )
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    state.params = crowd_state_params(question)
    state.events += 1
    state.last_time = event.time
    state.updated_at = timezone.now()
    point = CrowdPoint(
        question=question,
        seq=state.events,
        time=event.time,
        forecasters=state.forecasters,
        summary=summary,
        forecast=event,
        public_seq=public_seq,
    )
    store.save_state_and_point(state, point, VECTOR_STATE_FIELDS)


MEDIAN_FILL_DELAY = 2.0  # seconds: one fill serves every submission that arrives meanwhile


def _schedule_median_fill(question_id: int) -> None:
    from config.celery import enqueue_debounced
    from forecasts.tasks import crowd_fill_medians_task

    transaction.on_commit(
        lambda: enqueue_debounced(crowd_fill_medians_task, question_id, delay=MEDIAN_FILL_DELAY)
    )


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@transaction.atomic
def crowd_recompute(*, question_id: int) -> int:
    """Rebuild a question's whole crowd history and running sums from the forecast log.

    Vectorized (``forecasts.history.pool_history``), with the track-record weights of
    ``crowd_weights`` (docs/methods.md §6.2). Used after a parameter change, after a change of
    the weights, after a backdated or bulk write (imports), and by ``verify_crowd``. Returns the
    number of points.
    """
    from forecasts.history import pool_history

    question = (
        Question.objects.select_for_update(of=("self",))
        .select_related("tournament")
        .get(pk=question_id)
    )
    if typed.is_vector(question):
        return _vector_recompute(question)
    params = crowd_params(question)
    cohorts.cohort_states_rebuild(question)
    ev = cohorts.crowd_events(question, store.load_events(question_id))
    if not len(ev.ids):
        CrowdPoint.objects.filter(question_id=question_id).delete()
        CrowdState.objects.filter(question_id=question_id).delete()
        return 0
    weights = crowd_weights(question, ev.forecaster)
    hist = pool_history(
        ev.times, ev.forecaster, ev.probs, track_record_weight=weights, **params.kwargs()
    )
    public = privacy.public_series(ev.times, ev.forecaster, hist.forecasters)
    CrowdPoint.objects.filter(question_id=question_id).delete()
    written = store.write_points(question_id, ev.ids, ev.times, hist, public_seq=public.seq)
    _rebuild_state(question, ev, weights, hist, public)
    return written


def _rebuild_state(
    question: Question,
    ev: store.EventLog,
    weights: np.ndarray,
    hist: Any,
    public: privacy.PublicSeries,
) -> None:
    """Running sums from the current forecasts (``weights``: a_i per event), with t0 at the
    last event; the public series' batch state from ``public``."""
    last_time = (
        Forecast.objects.filter(question=question).order_by("-time", "-id")
        .values_list("time", flat=True).first()
    )  # fmt: skip
    state, _ = CrowdState.objects.get_or_create(question=question)
    for name, value in state_values(question, ev, weights, hist, public, last_time).items():
        setattr(state, name, value)
    state.save()


def state_values(
    question: Question,
    ev: store.EventLog,
    weights: np.ndarray,
    hist: Any,
    public: privacy.PublicSeries,
    last_time: dt.datetime | None,
) -> dict[str, Any]:
    """The ``CrowdState`` fields of a rebuilt crowd, by name (every field but the question):
    the running sums of the current forecasts (``weights``: a_i per event) with t0 at the last
    event, the last values of ``hist``, and the public series' batch state from ``public``.
    ``last_time`` is the time of the log's last event as stored (None for an empty log)."""
    params = crowd_params(question)
    n_events = len(ev.ids)
    # Each forecaster's last event; their current forecast unless it was a withdrawal.
    order = np.arange(n_events)
    last = np.zeros(0, dtype=np.int64)
    if n_events:
        _, first_from_end = np.unique(ev.forecaster[::-1], return_index=True)
        last = order[::-1][first_from_end]
    current = last[~np.isnan(ev.probs[last])]
    t0 = float(ev.times[-1]) if n_events else 0.0
    p = pooling.clip(ev.probs[current])
    w = weights[current] * pooling.recency_weights(ev.times[current], t0, params.half_life)
    end = n_events - 1
    return {
        "sum_w": float(np.sum(w)),
        "sum_wl": float(np.sum(w * pooling.logit(p))),
        "sum_p": float(np.sum(p)),
        "forecasters": int(current.size),
        "t0": dt.datetime.fromtimestamp(t0, tz=dt.UTC) if n_events else None,
        "events": n_events,
        "last_time": last_time,
        "params": crowd_state_params(question),
        "probability": _none_if_nan(hist.probability[end]) if n_events else None,
        "median": _none_if_nan(hist.median[end]) if n_events else None,
        "mean": _none_if_nan(hist.mean[end]) if n_events else None,
        "public_points": public.public_points,
        "batch_since": (
            None
            if public.batch_since is None
            else dt.datetime.fromtimestamp(public.batch_since, tz=dt.UTC)
        ),
        "batch_forecasters": public.batch_forecasters,
        "updated_at": timezone.now(),
    }


def vector_history(
    question: Question,
    ev: store.VectorEventLog,
    *,
    summarize: Callable[[np.ndarray], np.ndarray] | None = None,
) -> Any:
    """The crowd history of a multiple-choice or continuous question from its log
    (``vector_pooling.pool_history_vectors`` with the question's support, summaries, pool
    parameters and ``crowd_weights``); also what ``verify_crowd`` compares against.
    ``summarize`` (pooled outcome probabilities, rows × k → rows × s) replaces the stored
    history point's summary (``typed.summarizer``): scoring takes what it needs of each pool."""
    params = crowd_params(question)
    return vector_pooling.pool_history_vectors(
        ev.times,
        ev.forecaster,
        typed.outcomes(question, ev.values),
        typed.support(question),
        summarize=summarize or typed.summarizer(question),
        track_record_weight=crowd_weights(question, ev.forecaster),
        extremize=params.extremize,
        half_life=params.half_life,
    )


def vector_log(question: Question) -> store.VectorEventLog:
    """The log of a multiple-choice or continuous question with its stored vectors."""
    width = len(question.options) if question.type == Question.Type.MULTIPLE_CHOICE else 201
    return store.load_vector_events(question.pk, width)


def _vector_recompute(question: Question) -> int:
    """``crowd_recompute`` of a multiple-choice or continuous question (under its lock):
    the history points (vectorised, ``vector_history``) and the running sums from the current
    forecasts, t0 at the last event. Returns the number of points."""
    ev = cohorts.crowd_events(question, vector_log(question))
    if not len(ev.ids):
        CrowdPoint.objects.filter(question_id=question.pk).delete()
        CrowdState.objects.filter(question_id=question.pk).delete()
        return 0
    hist = vector_history(question, ev)
    public = privacy.public_series(ev.times, ev.forecaster, hist.forecasters)
    CrowdPoint.objects.filter(question_id=question.pk).delete()
    written = store.write_vector_points(question.pk, ev, hist.forecasters, hist.summary, public.seq)
    params = crowd_params(question)
    n_events = len(ev.ids)
    _, first_from_end = np.unique(ev.forecaster[::-1], return_index=True)
    last = np.arange(n_events)[::-1][first_from_end]
    current = np.sort(last[~np.isnan(ev.values[last, 0])])
    t0 = float(ev.times[-1])
    weights = crowd_weights(question, ev.forecaster)
    w = weights[current] * pooling.recency_weights(ev.times[current], t0, params.half_life)
    outs = typed.outcomes(question, ev.values[current])
    state, _ = CrowdState.objects.get_or_create(question=question)
    state.sum_w = float(np.sum(w))
    state.sums = typed.to_bytes(w @ vector_pooling.log_terms(outs))
    state.linear_sums = typed.to_bytes(w @ outs)
    state.sum_wl = state.sum_p = 0.0
    state.forecasters = int(current.size)
    state.vector = typed.to_bytes(typed.crowd_vector(question, hist.last)) if current.size else None
    state.probability = state.mean = state.median = None
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    state.events = n_events
    state.last_time = ev.stamps[-1]
    state.params = crowd_state_params(question)
    state.public_points = public.public_points
    state.batch_since = (
        None
        if public.batch_since is None
        else dt.datetime.fromtimestamp(public.batch_since, tz=dt.UTC)
    )
    state.batch_forecasters = public.batch_forecasters
    state.updated_at = timezone.now()
    state.save()
    return written


MEDIAN_FILL_CHUNK = 10_000  # points per compare-and-set statement
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def crowd_fill_medians(*, question_id: int) -> int:
    """Fill the median of history points written by submissions (an O(n) statistic).

    Submissions keep the log pool and the mean in O(1) and leave the median empty; this runs
    after commit (a debounced task) and fills the empty ones with exact medians. It holds no
    lock while it reads and computes, so submissions to the question never wait for it:

    1. the pending points, through a partial index (``store.pending_medians``);
    2. the log after the last fill's checkpoint (``MedianCheckpoint``: the active forecasts
       after a known event) or, without a valid one, the whole log; read without a lock (the
       log is append-only; one statement, so one snapshot);
    3. the medians of the pending events (``history.median_replay``), and a new checkpoint;
    4. compare-and-set writes (``store.fill_medians``), each point only while its median is
       still empty, in chunks of ``MEDIAN_FILL_CHUNK`` — a point that a recompute replaced
       meanwhile already has its exact median and is skipped;
    5. the state's median from the newest point, under the question lock for one short
       statement (a submission that committed meanwhile has emptied it again).

    A checkpoint (history point ``seq``, its event, the active set after it) is valid while
    point ``seq`` still belongs to that event: the log only grows, and an event inserted before
    it (a backdated write) renumbers the points after it. Events appended after step 2 keep
    their points pending for the next fill. Idempotent; returns the points written.
    """
    from forecasts.history import ActiveSet, median_replay

    pending = store.pending_medians(question_id)
    if not pending.size:
        return 0
    checkpoint = store.median_checkpoint(question_id)
    ev = None
    if checkpoint is not None:
        ev = store.load_events_after(question_id, checkpoint.time, checkpoint.event_id)
        start = ActiveSet(checkpoint.forecaster, checkpoint.probability)
        base = checkpoint.seq
        if not np.isin(pending, ev.ids).all():
            ev = None  # a pending point before the checkpoint: start from the beginning
    if ev is None:
        ev = store.load_events(question_id)
        start, base = ActiveSet.empty(), 0
    # The default crowd's events only (bots' left out unless the tournament counts them).
    question = Question.objects.select_related("tournament").filter(pk=question_id).first()
    if question is None:
        return 0
    ev = cohorts.crowd_events(question, ev)
    if not len(ev.ids):
        return 0  # the log was emptied meanwhile (and its points with it)
    # Each pending point's event in the log. The point was read first and the log is
    # append-only, so it is there — unless a recompute replaced the point meanwhile; skip those.
    order = np.argsort(ev.ids, kind="stable")
    where = np.minimum(np.searchsorted(ev.ids, pending, sorter=order), len(ev.ids) - 1)
    known = ev.ids[order[where]] == pending
    if not known.any():
        return 0
    # Every event from the first pending one to the end of the read: events appended between
    # reading the pending points and reading the log have empty points too, and the checkpoint
    # must not leave an empty point behind it. The compare-and-set skips the filled ones.
    positions = np.arange(int(order[where[known]].min()), len(ev.ids))
    forecast_ids = ev.ids[positions]
    medians, end = median_replay(start, ev.forecaster, ev.probs, positions)
    written = 0
    for first in range(0, len(forecast_ids), MEDIAN_FILL_CHUNK):
        stop = first + MEDIAN_FILL_CHUNK
        written += store.fill_medians(question_id, forecast_ids[first:stop], medians[first:stop])
    # The log's epoch seconds carry whole microseconds to within 0.25 µs: round them back.
    micros = int(np.rint(float(ev.times[-1]) * 1e6))
    store.save_median_checkpoint(
        question_id,
        store.Checkpoint(
            seq=base + len(ev.ids),
            event_id=int(ev.ids[-1]),
            time=EPOCH + dt.timedelta(microseconds=micros),
            forecaster=end.forecaster,
            probability=end.probability,
        ),
    )
    with transaction.atomic():
        Question.objects.select_for_update(of=("self",)).filter(pk=question_id).first()
        last = (
            CrowdPoint.objects.filter(question_id=question_id)
            .order_by("-seq")
            .values_list("median", flat=True)
            .first()
        )
        CrowdState.objects.filter(question_id=question_id).update(median=last)
    return written


def tournament_fit_extremize(*, tournament_id: int, keep_within: float = 0.0) -> Any:
    """Fit d on the tournament's resolved questions and store it (used when fit_extremize is on;
    docs/methods.md §3.2).

    Each question contributes the mean logit x of its crowd at resolution, recovered from the
    stored pool: logit p* = b + d_stored·(x − b). Recovering x after a recompute with the new d
    reproduces it only to rounding (about 1e-8 in d), so a refit never lands exactly where the
    last one did. With ``keep_within`` > 0 a fitted d within that distance of the stored one is
    not written: the stored d, and so every crowd built with it, stays valid, and the
    scores → refit → recompute loop stops after one round. Returns the fit, or None with fewer
    than 2 resolved YES/NO questions.
    """
    from forecasts.extremize import fit_extremize
    from markets.models import Resolution, Tournament

    tournament = Tournament.objects.get(pk=tournament_id)
    mean_logits: list[float] = []
    outcomes: list[int] = []
    finals = (
        Resolution.objects.scored_finals()
        .filter(question__tournament_id=tournament_id)
        .with_cutoff()
        .annotate(held=crowd_at_cutoff())
        .select_related("question__crowd")
    )
    for resolution in finals:
        state = getattr(resolution.question, "crowd", None)
        if resolution.held is None or state is None:
            continue
        stored = pooling.PoolParams.from_json(state.params)
        b, d = stored.base_logit, stored.extremize
        mean_logits.append(b + (float(pooling.logit(resolution.held)) - b) / d)
        outcomes.append(1 if resolution.outcome == Resolution.Outcome.YES else 0)
    if len(outcomes) < 2:
        return None
    fit = fit_extremize(mean_logits, outcomes, base_logit=tournament.base_logit)
    current = tournament.fitted_extremize
    if current is not None and abs(fit.d - current) <= keep_within:
        return fit
    Tournament.objects.filter(pk=tournament_id).update(
        fitted_extremize=fit.d, fitted_extremize_log_loss=fit.loqo_log_loss
    )
    return fit
