"""Forecast workflows: submit and withdraw, keeping the crowd forecast current in O(1).

Every door (web, API, admin, import) goes through these functions, so the same rules hold.
The question row is locked (``select_for_update``) for the read-modify-write of its running
sums, which serializes concurrent submissions to one question without blocking others.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.bulk import bulk_insert
from forecasts import pooling
from forecasts.errors import InvalidProbability, NothingToWithdraw, QuestionNotOpen
from forecasts.models import CrowdPoint, CrowdState, Forecast, Forecaster
from markets.models import Question

# Rebuild the sums when a removal leaves less than this share of the weight (see _crowd_apply).
CANCELLATION = 1e-6
P_MIN = pooling.EPS
P_MAX = 1.0 - pooling.EPS


def forecaster_for_user(user: Any) -> Forecaster:
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


def crowd_params(question: Question) -> dict[str, Any]:
    t = question.tournament
    return {
        "extremize": t.effective_extremize,
        "base_logit": t.base_logit,
        "half_life": t.half_life_seconds,
    }


def _seconds(t: dt.datetime) -> float:
    return t.timestamp()


@transaction.atomic
def forecast_submit(
    *,
    question_id: int,
    forecaster: Forecaster,
    probability: object,
    rationale: str = "",
    at: dt.datetime | None = None,
) -> Forecast:
    """Record a forecast and update the question's crowd forecast in the same transaction."""
    p = parse_probability(probability)
    at = at or timezone.now()
    question = _lock_open_question(question_id, at)
    forecast = Forecast.objects.create(
        question=question,
        forecaster=forecaster,
        kind=Forecast.Kind.FORECAST,
        probability=p,
        time=at,
        rationale=rationale.strip(),
        accuracy=_accuracy_factor(question, forecaster),
    )
    _crowd_apply(question, forecast)
    return forecast


@transaction.atomic
def forecast_withdraw(
    *, question_id: int, forecaster: Forecaster, at: dt.datetime | None = None
) -> Forecast:
    """Withdraw the forecaster's current forecast (an event: the log is never edited)."""
    at = at or timezone.now()
    question = _lock_open_question(question_id, at)
    current = current_forecast(question_id=question.pk, forecaster=forecaster)
    if current is None:
        raise NothingToWithdraw("You have no current forecast on this question to withdraw.")
    event = Forecast.objects.create(
        question=question, forecaster=forecaster, kind=Forecast.Kind.WITHDRAWAL, time=at
    )
    _crowd_apply(question, event)
    return event


def current_forecast(*, question_id: int, forecaster: Forecaster) -> Forecast | None:
    latest = (
        Forecast.objects.filter(question_id=question_id, forecaster=forecaster)
        .order_by("-time", "-id")
        .first()
    )
    if latest is None or latest.kind == Forecast.Kind.WITHDRAWAL:
        return None
    return latest


def _lock_open_question(question_id: int, at: dt.datetime) -> Question:
    question = (
        Question.objects.select_for_update(of=("self",))
        .select_related("tournament")
        .get(pk=question_id)
    )
    if not question.is_open_at(at):
        if at < question.open_time and not question.is_settled:
            raise QuestionNotOpen(
                f"This question opens for forecasts on {question.open_time:%Y-%m-%d %H:%M} UTC."
            )
        raise QuestionNotOpen(
            f"This question is {_closed_word(question, at)}: forecasts are closed."
        )
    return question


def _closed_word(question: Question, at: dt.datetime) -> str:
    if question.is_settled:
        return question.get_status_display().lower()
    return "closed"


def _accuracy_factor(question: Question, forecaster: Forecaster) -> float:
    if not question.tournament.track_record_weighting:
        return 1.0
    from scoring.track_record import accuracy_factor

    return accuracy_factor(forecaster_id=forecaster.pk, tournament_id=question.tournament_id)


def _term(forecast: Forecast, t0: float, half_life: float | None) -> tuple[float, float, float]:
    """(w', w'·ℓ, clipped p) of one forecast relative to the reference time t0."""
    assert forecast.probability is not None, "withdrawals carry no term"
    p = pooling.clip(forecast.probability)
    w = forecast.accuracy * pooling.recency_factor(_seconds(forecast.time), t0, half_life)
    return w, w * float(pooling.logit(p)), float(p)


STATE_FIELDS = [
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
]


def _crowd_apply(question: Question, event: Forecast) -> None:
    """Fold one event into the running sums and append a history point: O(1) in forecasters.

    Falls back to a full recompute when the event is older than the last point (a backdated
    write) or the tournament's parameters changed since the sums were built.
    """
    params = crowd_params(question)
    # Read the sums only now that the question lock is held. Fetched in the locking query (a
    # join), they would come from that statement's snapshot: a submission that waited for the
    # lock would see the sums as they were before the holder committed.
    state, _ = CrowdState.objects.get_or_create(question=question, defaults={"params": params})
    stale = state.params != params and state.events > 0
    if stale or (state.last_time is not None and event.time < state.last_time):
        crowd_recompute(question_id=question.pk)
        return

    half_life = params["half_life"]
    now_s = _seconds(event.time)
    t0 = _seconds(state.t0) if state.t0 is not None else now_s
    if half_life is not None and (now_s - t0) / half_life > pooling.REBASE_EXPONENT:
        state.sum_wl, state.sum_w = pooling.rebase(state.sum_wl, state.sum_w, t0, now_s, half_life)
        t0 = now_s

    previous = (
        Forecast.objects.filter(question=question, forecaster_id=event.forecaster_id)
        .exclude(pk=event.pk)
        .order_by("-time", "-id")
        .first()
    )
    weight_before = state.sum_w
    if previous is not None and previous.kind == Forecast.Kind.FORECAST:
        w, wl, p = _term(previous, t0, half_life)
        state.sum_w -= w
        state.sum_wl -= wl
        state.sum_p -= p
        state.forecasters -= 1
    if event.kind == Forecast.Kind.FORECAST:
        w, wl, p = _term(event, t0, half_life)
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
            extremize=params["extremize"],
            base_logit=params["base_logit"],
        )
        state.mean = state.sum_p / state.forecasters
        state.median = None  # filled after commit (see crowd_fill_medians)
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC)
    state.params = params
    state.events += 1
    state.last_time = event.time
    state.updated_at = timezone.now()
    state.save(update_fields=STATE_FIELDS)
    CrowdPoint.objects.create(
        question=question,
        seq=state.events,
        time=event.time,
        forecasters=state.forecasters,
        probability=state.probability,
        mean=state.mean,
        median=None,
        forecast=event,
    )
    _schedule_median_fill(question.pk)


MEDIAN_FILL_DELAY = 2.0  # seconds: one fill serves every submission that arrives meanwhile


def median_fill_key(question_id: int) -> str:
    return f"crowd:median-fill-pending:{question_id}"


def _schedule_median_fill(question_id: int) -> None:
    """Debounced: at most one pending fill per question (cache.add is atomic)."""
    from django.core.cache import cache

    from forecasts.tasks import crowd_fill_medians_task

    def enqueue() -> None:
        if cache.add(median_fill_key(question_id), 1, timeout=300):
            crowd_fill_medians_task.apply_async((question_id,), countdown=MEDIAN_FILL_DELAY)

    transaction.on_commit(enqueue)


def load_events(question_id: int) -> dict[str, Any]:
    """The question's forecast log as arrays, in event order (time, then id)."""
    import numpy as np

    rows = list(
        Forecast.objects.filter(question_id=question_id)
        .order_by("time", "id")
        .values_list("id", "time", "forecaster_id", "probability", "accuracy")
    )
    n = len(rows)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    times = np.fromiter((r[1].timestamp() for r in rows), dtype=np.float64, count=n)
    forecaster = np.fromiter((r[2] for r in rows), dtype=np.int64, count=n)
    probs = np.fromiter((np.nan if r[3] is None else r[3] for r in rows), dtype=np.float64, count=n)
    accuracy = np.fromiter((r[4] for r in rows), dtype=np.float64, count=n)
    return {
        "ids": ids,
        "datetimes": [r[1] for r in rows],
        "times": times,
        "forecaster": forecaster,
        "probs": probs,
        "accuracy": accuracy,
    }


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _nullable(values: Any) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN → NULL


@transaction.atomic
def crowd_recompute(*, question_id: int) -> int:
    """Rebuild a question's whole crowd history and running sums from the forecast log.

    Vectorized (``forecasts.history.pool_history``). Used after a parameter change, after a
    backdated or bulk write (imports), and by ``verify_crowd``. Returns the number of points.
    """
    from forecasts.history import pool_history

    question = (
        Question.objects.select_for_update(of=("self",))
        .select_related("tournament")
        .get(pk=question_id)
    )
    params = crowd_params(question)
    ev = load_events(question_id)
    if not len(ev["ids"]):
        CrowdPoint.objects.filter(question_id=question_id).delete()
        CrowdState.objects.filter(question_id=question_id).delete()
        return 0
    hist = pool_history(
        ev["times"],
        ev["forecaster"],
        ev["probs"],
        accuracy=ev["accuracy"],
        extremize=params["extremize"],
        base_logit=params["base_logit"],
        half_life=params["half_life"],
    )
    CrowdPoint.objects.filter(question_id=question_id).delete()
    columns = (
        "question_id",
        "seq",
        "time",
        "forecasters",
        "probability",
        "median",
        "mean",
        "forecast_id",
    )
    written = bulk_insert(
        CrowdPoint,
        columns,
        zip(
            [question_id] * len(ev["ids"]),
            range(1, len(ev["ids"]) + 1),
            ev["datetimes"],
            hist.forecasters.tolist(),
            _nullable(hist.probability),
            _nullable(hist.median),
            _nullable(hist.mean),
            ev["ids"].tolist(),
            strict=True,
        ),
    )
    _rebuild_state(question, ev, hist, params)
    return written


def _rebuild_state(question: Question, ev: dict[str, Any], hist: Any, params: dict) -> None:
    """Running sums from the current forecasts, with t0 at the last event."""
    latest: dict[int, int] = {}
    for i, f in enumerate(ev["forecaster"].tolist()):
        latest[f] = i
    current = [i for i in latest.values() if not math.isnan(ev["probs"][i])]
    n_events = len(ev["ids"])
    t0 = float(ev["times"][-1]) if n_events else 0.0
    sum_w = sum_wl = sum_p = 0.0
    for i in current:
        p = float(pooling.clip(ev["probs"][i]))
        w = float(ev["accuracy"][i]) * pooling.recency_factor(
            float(ev["times"][i]), t0, params["half_life"]
        )
        sum_w += w
        sum_wl += w * float(pooling.logit(p))
        sum_p += p
    state, _ = CrowdState.objects.get_or_create(question=question)
    state.sum_w, state.sum_wl, state.sum_p = sum_w, sum_wl, sum_p
    state.forecasters = len(current)
    state.t0 = dt.datetime.fromtimestamp(t0, tz=dt.UTC) if n_events else None
    state.events = n_events
    state.last_time = ev["datetimes"][-1] if n_events else None
    state.params = params
    last = n_events - 1
    state.probability = _none_if_nan(hist.probability[last]) if n_events else None
    state.median = _none_if_nan(hist.median[last]) if n_events else None
    state.mean = _none_if_nan(hist.mean[last]) if n_events else None
    state.updated_at = timezone.now()
    state.save()


@transaction.atomic
def crowd_fill_medians(*, question_id: int) -> int:
    """Fill the median of history points written by submissions (an O(n) statistic).

    Submissions keep the log pool and the mean in O(1) and leave the median empty; this runs
    after commit, recomputes the exact medians vectorized and fills the empty ones. Idempotent.
    """
    from forecasts.history import median_history

    Question.objects.select_for_update(of=("self",)).filter(pk=question_id).first()
    missing = list(
        CrowdPoint.objects.filter(question_id=question_id, median__isnull=True, forecasters__gt=0)
    )
    if not missing:
        return 0
    ev = load_events(question_id)
    medians = median_history(ev["forecaster"], ev["probs"])
    index = {int(fid): i for i, fid in enumerate(ev["ids"].tolist())}
    for point in missing:
        i = index.get(point.forecast_id) if point.forecast_id else None
        if i is not None:
            point.median = _none_if_nan(medians[i])
    CrowdPoint.objects.bulk_update(missing, ["median"], batch_size=5000)
    last = CrowdPoint.objects.filter(question_id=question_id).order_by("-seq").first()
    if last is not None:
        CrowdState.objects.filter(question_id=question_id).update(median=last.median)
    return len(missing)


def tournament_fit_extremize(*, tournament_id: int) -> Any:
    """Fit d on the tournament's resolved questions and store it (used when fit_extremize is on).

    Each question contributes the mean logit x of its crowd at resolution, recovered from the
    stored pool: logit p* = b + d_stored·(x − b). Returns the fit, or None with < 2 questions.
    """
    from forecasts.extremize import fit_extremize
    from markets.models import Resolution, Tournament

    tournament = Tournament.objects.get(pk=tournament_id)
    mean_logits: list[float] = []
    outcomes: list[int] = []
    finals = Resolution.objects.filter(
        question__tournament_id=tournament_id,
        state=Resolution.State.FINAL,
        outcome__in=[Resolution.Outcome.YES, Resolution.Outcome.NO],
    ).select_related("question__crowd")
    for resolution in finals:
        end = min(resolution.resolved_at, resolution.question.close_time)
        point = (
            CrowdPoint.objects.filter(question_id=resolution.question_id, time__lte=end)
            .order_by("-seq")
            .first()
        )
        state = getattr(resolution.question, "crowd", None)
        if point is None or point.probability is None or state is None:
            continue
        b = state.params.get("base_logit", 0.0)
        d = state.params.get("extremize", 1.0)
        mean_logits.append(b + (float(pooling.logit(point.probability)) - b) / d)
        outcomes.append(1 if resolution.outcome == Resolution.Outcome.YES else 0)
    if len(outcomes) < 2:
        return None
    fit = fit_extremize(mean_logits, outcomes, base_logit=tournament.base_logit)
    Tournament.objects.filter(pk=tournament_id).update(
        fitted_extremize=fit.d, fitted_extremize_log_loss=fit.loqo_log_loss
    )
    return fit


def tournament_recompute(*, tournament_id: int) -> int:
    """After an aggregation-parameter change: rebuild every question's crowd (and rescore)."""
    from forecasts.tasks import crowd_recompute_task

    ids = list(Question.objects.filter(tournament_id=tournament_id).values_list("id", flat=True))
    for qid in ids:
        crowd_recompute_task.delay_on_commit(qid)
    return len(ids)
