"""Scoring workflows: score a resolved question, exactly once per final resolution.

``question_score`` is what the Celery task runs. It locks the question, checks that the
resolution it was asked for is still the final one (a stale task for an older version does
nothing), replaces every score of the question in one transaction, and rebuilds the
tournament's leaderboard after commit.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from config.bulk import bulk_insert, bulk_insert_columns
from forecasts.models import CrowdPoint, Forecast
from forecasts.store import EventLog, load_events, load_events_many
from markets.models import Question, Resolution, Tournament
from scoring import rules, typed_scores
from scoring.models import AggregationMethod, Rule, Score, Subject
from scoring.track_record import track_record_weights_refresh
from trading.models import Trade

TIME_AVERAGED = {Rule.BRIER: "brier", Rule.LOG: "log", Rule.BASELINE: "baseline", Rule.PEER: "peer"}
SPOT = {
    Rule.SPOT_BRIER: "spot_brier",
    Rule.SPOT_LOG: "spot_log",
    Rule.SPOT_BASELINE: "spot_baseline",
    Rule.SPOT_PEER: "spot_peer",
}


SCORE_COLUMNS = (  # question and resolution, then _subject_rows' columns, then the time
    "question_id",
    "resolution_id",
    "subject",
    "forecaster_id",
    "rule",
    "score",
    "coverage",
    "forecast",
    "computed_at",
)


def _null(x: float | None) -> float | None:
    """NULL for NaN (a row value that is already a float or None)."""
    return None if x is None or x != x else x


def _value(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


@transaction.atomic
def question_score(*, question_id: int, resolution_id: int) -> int:
    """Score every forecaster and the crowd (log pool, median, mean; multiple-choice and
    continuous questions: log pool and mean, ``scoring.typed_scores``), and the market price
    of a question with a play-money market (yes/no and multiple choice, docs/methods.md §15.8).
    Returns rows written."""
    question = Question.objects.select_for_update(of=("self",)).get(pk=question_id)
    resolution = Resolution.objects.filter(pk=resolution_id, question_id=question_id).first()
    if resolution is None or resolution.state != Resolution.State.FINAL:
        return 0  # superseded or withdrawn since the task was queued
    if Score.objects.filter(question=question, resolution=resolution).exists():
        return 0  # already scored for this version (a duplicate delivery)
    # Any other version's scores go: two versions never coexist.
    deleted = scores_delete(
        question_id=question.pk, tournament_id=question.tournament_id, refresh_weights=False
    )
    weighting = question.tournament.track_record_weighting
    rows: list[Any] | typed_scores.ScoreColumns
    if question.is_binary:
        rows, scored = _binary_rows(question, resolution)
    else:  # multiple choice, numeric, date, discrete: docs/methods.md §4.16
        rows, scored = typed_scores.question_rows(question, resolution)
    if not len(rows):  # annulled, or nobody forecast
        if weighting:
            track_record_weights_refresh(
                tournament_id=question.tournament_id, forecaster_ids=deleted
            )
        transaction.on_commit(lambda: _after_scoring(question.tournament_id))
        return 0
    _write_scores(question.pk, resolution.pk, rows, timezone.now())
    if weighting:  # in the scores' transaction: the stored weights always match them
        track_record_weights_refresh(
            tournament_id=question.tournament_id,
            forecaster_ids=deleted | set(scored),
        )
    transaction.on_commit(lambda: _after_scoring(question.tournament_id))
    return len(rows)


def _write_scores(
    question_id: Any,
    resolution_id: Any,
    rows: list[tuple[Any, ...]] | typed_scores.ScoreColumns,
    now: dt.datetime,
) -> int:
    """Write score rows (subject, forecaster id or None, rule, score or None, coverage, forecast
    or None; or the same as ``typed_scores.ScoreColumns``) as column arrays, one binary COPY on
    PostgreSQL (``bulk_insert_columns``: every float stored exactly as computed).
    ``question_id``, ``resolution_id``: one int for every row, or an int64 array with one per
    row. Returns the rows written."""
    if not len(rows):
        return 0
    if connection.vendor != "postgresql":
        # Row tuples straight to one prepared executemany (``bulk_insert``): the column arrays
        # below only pay off for the binary COPY, and turning them back into rows cost more
        # than the insert itself. The same stored values (NaN → NULL).
        tuples = _column_rows(rows) if isinstance(rows, typed_scores.ScoreColumns) else rows
        n = len(tuples)
        qids = question_id.tolist() if isinstance(question_id, np.ndarray) else [question_id] * n
        rids = (
            resolution_id.tolist() if isinstance(resolution_id, np.ndarray) else [resolution_id] * n
        )
        return bulk_insert(
            Score,
            SCORE_COLUMNS,
            (
                (q, r, subject, fid, rule, _null(score), _null(coverage), _null(forecast), now)
                for q, r, (subject, fid, rule, score, coverage, forecast) in zip(
                    qids, rids, tuples, strict=True
                )
            ),
        )
    cols = (
        rows
        if isinstance(rows, typed_scores.ScoreColumns)
        else typed_scores.ScoreColumns.of_rows(rows)
    )
    columns: dict[str, Any] = {
        "question_id": question_id,
        "resolution_id": resolution_id,
        "subject": cols.subject,
        # float64 with NaN for the crowd's NULL: ids are exact below 2**53
        "forecaster_id": cols.forecaster,
        "rule": cols.rule,
        "score": cols.score,
        "coverage": cols.coverage,
        "forecast": cols.forecast,
        "computed_at": now,
    }
    assert list(columns) == list(SCORE_COLUMNS)
    return bulk_insert_columns(Score, columns)


def _column_rows(cols: typed_scores.ScoreColumns) -> list[tuple[Any, ...]]:
    """``ScoreColumns`` back as row tuples (NaN forecaster id → None), for the SQLite insert."""
    fids = [None if math.isnan(f) else int(f) for f in cols.forecaster.tolist()]
    return list(
        zip(
            cols.subject.tolist(),
            fids,
            cols.rule.tolist(),
            cols.score.tolist(),
            cols.coverage.tolist(),
            cols.forecast.tolist(),
            strict=True,
        )
    )


def _binary_rows(question: Question, resolution: Resolution) -> tuple[list[Any], list[int]]:
    """Score rows of a yes/no question (``_subject_rows``' columns) and the forecasters scored;
    ([], []) when annulled or nobody forecast."""
    outcome = resolution.outcome_value
    ev = load_events(question.pk) if outcome is not None else None
    if outcome is None or ev is None or not len(ev.ids):
        return [], []
    window = _window(question, resolution, outcome)
    forecaster_ids, codes = np.unique(ev.forecaster, return_inverse=True)
    rows = _forecaster_rows(ev, forecaster_ids, codes, window)
    rows += _crowd_rows(question, ev, codes, window)
    rows += _market_rows_of(market_points([question.pk]).get(question.pk, []), ev, codes, window)
    return rows, forecaster_ids.tolist()


def _window(question: Question, resolution: Resolution, outcome: int) -> rules.ScoringWindow:
    return rules.ScoringWindow(
        open_time=question.open_time.timestamp(),
        close_time=question.close_time.timestamp(),
        resolved_at=resolution.resolved_at.timestamp(),
        outcome=outcome,
    )


def _forecaster_rows(
    ev: EventLog,
    forecaster_ids: np.ndarray,
    codes: np.ndarray,
    window: rules.ScoringWindow,
    head: tuple[Any, ...] = (),
    tail: tuple[Any, ...] = (),
) -> list[tuple[Any, ...]]:
    """Every forecaster's score rows on one question (``_subject_rows``' columns, each row
    between ``head`` and ``tail``), in forecaster order: the rows ``_subject_rows`` makes, the
    score arrays read once into Python floats (the same values) instead of per entry."""
    scores = rules.score_question(
        ev.times, codes, ev.probs, n_forecasters=len(forecaster_ids), **window.kwargs()
    )
    held = _held_at_end(ev, codes, len(forecaster_ids), window)
    timed = np.column_stack([getattr(scores, f) for f in TIME_AVERAGED.values()]).tolist()
    spot = np.column_stack([getattr(scores, f) for f in SPOT.values()]).tolist()
    timed_rules, spot_rules = list(TIME_AVERAGED), list(SPOT)
    subject = Subject.FORECASTER
    rows: list[tuple[Any, ...]] = []
    for fid, values, coverage, h, spots in zip(
        forecaster_ids.tolist(),
        timed,
        scores.coverage.tolist(),
        held.tolist(),
        spot,
        strict=True,
    ):
        rows += [
            (*head, subject, fid, rule, None if v != v else v, coverage, None, *tail)
            for rule, v in zip(timed_rules, values, strict=True)
        ]
        if h == h:  # not NaN: a forecast held at the end
            rows += [
                (*head, subject, fid, rule, None if v != v else v, 1.0, h, *tail)
                for rule, v in zip(spot_rules, spots, strict=True)
            ]
    return rows


def scores_delete(
    *, question_id: int, tournament_id: int, refresh_weights: bool = True
) -> set[int]:
    """Delete every score of a question (in the caller's transaction) and, when the tournament
    weights by track record, refresh the weights of the forecasters who had one, with the crowds
    that use them (``track_record_weights_refresh``; the caller may do that itself later, once,
    with ``refresh_weights=False``). Returns those forecasters' ids.
    """
    ids = set(
        Score.objects.filter(question_id=question_id, forecaster__isnull=False)
        .values_list("forecaster_id", flat=True)
        .distinct()
    )
    Score.objects.filter(question_id=question_id).delete()
    if (
        refresh_weights
        and Tournament.objects.filter(pk=tournament_id, track_record_weighting=True).exists()
    ):
        track_record_weights_refresh(tournament_id=tournament_id, forecaster_ids=ids)
    return ids


def _held_at_end(
    ev: EventLog, codes: np.ndarray, n: int, window: rules.ScoringWindow
) -> np.ndarray:
    """The probability each forecaster held at the effective end (NaN for none)."""
    held = np.full(n, np.nan)
    upto = np.searchsorted(ev.times, window.end, side="right")
    # Events are in time order: the last write per forecaster wins (a withdrawal writes NaN).
    held[codes[:upto]] = ev.probs[:upto]
    return held


def _field(scores: rules.SeriesScores, field: str) -> float:
    return float(getattr(scores, field))


def _subject_rows(
    subject: str,
    forecaster_id: int | None,
    value: Callable[[str], float],
    coverage: float,
    held: float,
) -> list[tuple[Any, ...]]:
    """Rows (subject, forecaster, rule, score, coverage, forecast) of one subject: the four
    time-averaged rules, and the four spot rules when a forecast was held at the end."""
    rows: list[tuple[Any, ...]] = [
        (subject, forecaster_id, rule, _value(value(field)), coverage, None)
        for rule, field in TIME_AVERAGED.items()
    ]
    if not math.isnan(held):
        rows += [
            (subject, forecaster_id, rule, _value(value(field)), 1.0, held)
            for rule, field in SPOT.items()
        ]
    return rows


def _crowd_rows(
    question: Question, ev: EventLog, codes: np.ndarray, window: rules.ScoringWindow
) -> list[tuple[Any, ...]]:
    """The crowd under each aggregation method (log pool, median, mean), each scored as a
    piecewise-constant series of its history."""
    points = list(
        CrowdPoint.objects.filter(question=question)
        .order_by("seq")
        .values_list("time", "probability", "median", "mean")
    )
    return _crowd_rows_of(points, ev, codes, window)


def _crowd_rows_of(
    points: list[tuple[Any, ...]],
    ev: EventLog,
    codes: np.ndarray,
    window: rules.ScoringWindow,
) -> list[tuple[Any, ...]]:
    """``_crowd_rows`` from the question's history points (time, probability, median, mean) in
    ``seq`` order."""
    if not points:
        return []
    times = np.array([p[0].timestamp() for p in points])
    rows: list[tuple[Any, ...]] = []
    methods = (
        (1, AggregationMethod.LOG_POOL),
        (2, AggregationMethod.MEDIAN),
        (3, AggregationMethod.MEAN),
    )
    all_series = [
        np.array([np.nan if p[index] is None else p[index] for p in points]) for index, _ in methods
    ]
    # One call for the three: they share the breakpoints and the forecasters' log scores.
    scored = rules.score_series_many(
        times,
        all_series,
        forecast_times=ev.times,
        forecaster=codes,
        forecast_probs=ev.probs,
        **window.kwargs(),
    )
    for (_, method), series, s in zip(methods, all_series, scored, strict=True):
        rows += _subject_rows(
            Subject(method.value),
            None,
            partial(_field, s),
            float(s.coverage),
            _series_at_end(times, series, window),
        )
    return rows


def market_points(question_ids: list[int]) -> dict[int, list[tuple[dt.datetime, list[float]]]]:
    """The market price history of each question with a play-money market (docs/methods.md
    §15.8): {question id: [(trade time, prices of every outcome after the trade), …]} in trade
    order, a point per trade; questions without a trade are absent."""
    out: dict[int, list[tuple[dt.datetime, list[float]]]] = {}
    for start in range(0, len(question_ids), MANY_BATCH):
        batch = question_ids[start : start + MANY_BATCH]
        for qid, at, prices in (
            Trade.objects.filter(market__question_id__in=batch)
            .order_by("market__question_id", "sequence")
            .values_list("market__question_id", "created_at", "prices")
        ):
            out.setdefault(qid, []).append((at, [float(p) for p in prices]))
    return out


def _market_rows_of(
    points: list[tuple[dt.datetime, list[float]]],
    ev: EventLog,
    codes: np.ndarray,
    window: rules.ScoringWindow,
) -> list[tuple[Any, ...]]:
    """The market's score rows on a yes/no question (``_subject_rows``' columns, subject
    ``market``): its YES price after each trade as a piecewise-constant series, scored exactly
    as the crowd is (``rules.score_series``, docs/methods.md §4.7, §15.8). Before the first
    trade the market has only the market maker's uniform prior, not a price anyone set: that
    time counts as no forecast (it lowers coverage, as the crowd's time before any forecast
    does). [] without trades."""
    if not points:
        return []
    times = np.array([at.timestamp() for at, _ in points])
    series = np.array([prices[0] for _, prices in points])  # market order: [Yes, No]
    s = rules.score_series(
        times,
        series,
        forecast_times=ev.times,
        forecaster=codes,
        forecast_probs=ev.probs,
        **window.kwargs(),
    )
    return _subject_rows(
        Subject.MARKET,
        None,
        partial(_field, s),
        float(s.coverage),
        _series_at_end(times, series, window),
    )


def _series_at_end(times: np.ndarray, series: np.ndarray, window: rules.ScoringWindow) -> float:
    k = int(np.searchsorted(times, window.end, side="right")) - 1
    return float(series[k]) if k >= 0 else math.nan


LEADERBOARD_DELAY = 5.0  # seconds: an import that resolves 50 questions rebuilds once


def question_scores_withdraw(*, question_id: int) -> set[int]:
    """The question's final resolution was withdrawn and nothing replaces it (un-resolved):
    delete its scores, with the track-record weights derived from them, in the caller's
    transaction, and rebuild the tournament's leaderboard after commit. Returns the ids of the
    forecasters who had a score. Raises ``Question.DoesNotExist`` for an unknown question."""
    tournament_id = Question.objects.values_list("tournament_id", flat=True).get(pk=question_id)
    deleted = scores_delete(question_id=question_id, tournament_id=tournament_id)
    transaction.on_commit(partial(_after_scoring, tournament_id))
    return deleted


def _after_scoring(tournament_id: int) -> None:
    from config.celery import enqueue_debounced
    from scoring.tasks import leaderboard_rebuild_task

    enqueue_debounced(leaderboard_rebuild_task, tournament_id, delay=LEADERBOARD_DELAY)


REPAIR_GRACE = dt.timedelta(minutes=2)
"""How long a fresh final resolution may wait for its scoring task before the sweep sends one
again (a queued task would find the work done: scoring is idempotent)."""


@dataclass(frozen=True)
class ScoresRepair:
    """What ``scores_repair`` found: questions holding scores of a superseded or withdrawn
    version (``stale``), and final versions with an outcome to score (every one but annulled,
    every question type) with forecasts but no scores (``missing``)."""

    stale: int
    missing: int


def scores_repair(*, now: dt.datetime | None = None, batch: int = 200) -> ScoresRepair:
    """Make every question's scores belong to its current final resolution (the sweep runs it).

    A crash between a resolution's commit and its scoring, or a lost message, leaves the scores
    of the version before, or none. For each such question (bounded batch): delete what does
    not belong (refreshing the track-record weights in the same transaction) and enqueue scoring
    of the final version after commit. Idempotent; a question whose task is merely queued
    (final for less than ``REPAIR_GRACE``) is left to it.
    """
    from scoring.tasks import question_score_task

    now = now or timezone.now()
    stale = list(
        Score.objects.exclude(resolution__state=Resolution.State.FINAL)
        .values_list("question_id", flat=True)
        .distinct()
        .order_by("question_id")[:batch]
    )
    has_scores = Score.objects.filter(resolution=OuterRef("pk"))
    has_events = Forecast.objects.filter(question=OuterRef("question_id"))
    missing = list(
        Resolution.objects.filter(state=Resolution.State.FINAL)
        .exclude(outcome=Resolution.Outcome.ANNULLED)
        .filter(finalized_at__lte=now - REPAIR_GRACE)
        .filter(~Exists(has_scores), Exists(has_events))
        .values_list("question_id", flat=True)
        .order_by("question_id")[:batch]
    )
    for question_id in sorted(set(stale) | set(missing)):
        with transaction.atomic():
            question = Question.objects.select_for_update(of=("self",)).get(pk=question_id)
            final = question.resolutions.filter(state=Resolution.State.FINAL).first()
            if Score.objects.filter(question=question).exclude(resolution=final).exists():
                scores_delete(question_id=question.pk, tournament_id=question.tournament_id)
            if final is not None and final.outcome != Resolution.Outcome.ANNULLED:
                question_score_task.delay_on_commit(question.pk, final.pk)
            else:
                transaction.on_commit(partial(_after_scoring, question.tournament_id))
    return ScoresRepair(stale=len(stale), missing=len(missing))


MANY_BATCH = 5_000  # question ids per statement in questions_score_many


@transaction.atomic
def questions_score_many(
    *, pairs: list[tuple[int, int]], progress: Callable[[int], None] | None = None
) -> int:
    """``question_score`` for many (question id, resolution id) pairs, batched: the same rows
    per question (the same ``rules`` calls on the same arrays), read and written in a few
    statements — the questions locked in id order, their logs and crowd histories in batches,
    every score in one bulk insert — with each tournament's track-record weights refreshed once
    and its leaderboard rebuilt once after commit.

    A pair whose resolution is no longer the question's final version, or is already scored,
    is skipped (as ``question_score`` skips it); other scores of those questions are deleted
    first. ``progress(n)`` is called after each question with n = 1. Returns the rows written.
    """
    wanted = dict(pairs)
    # Multiple-choice and continuous questions are scored one by one (``typed_scores``); the
    # batched path below reads yes/no logs and histories only.
    typed_ids = set(
        Question.objects.filter(pk__in=list(wanted))
        .exclude(type=Question.Type.BINARY)
        .values_list("pk", flat=True)
    )
    written = sum(
        question_score(question_id=qid, resolution_id=wanted.pop(qid)) for qid in sorted(typed_ids)
    )
    ids = sorted(wanted)
    if not ids:
        return written
    questions: dict[int, Question] = {}
    finals: dict[int, Resolution] = {}
    scored: set[int] = set()
    for start in range(0, len(ids), MANY_BATCH):
        batch = ids[start : start + MANY_BATCH]
        questions.update(
            (q.pk, q)
            for q in Question.objects.select_for_update(of=("self",))
            .select_related("tournament")
            .filter(pk__in=batch)
            .order_by("pk")
        )
        versions = [wanted[q] for q in batch]
        # By resolution id alone: SQLite probes a pair of IN lists as their product.
        finals.update(
            (r.question_id, r)
            for r in Resolution.objects.filter(pk__in=versions, state=Resolution.State.FINAL)
            if wanted.get(r.question_id) == r.pk
        )
        scored.update(
            Score.objects.filter(resolution_id__in=versions)
            .values_list("question_id", flat=True)
            .distinct()
        )
    todo = [q for q in ids if q in finals and q in questions and q not in scored]
    deleted: dict[int, set[int]] = {}  # tournament → forecasters whose scores went
    for start in range(0, len(todo), MANY_BATCH):
        batch = todo[start : start + MANY_BATCH]
        old = Score.objects.filter(question_id__in=batch)
        for qid, fid in (
            old.filter(forecaster__isnull=False)
            .values_list("question_id", "forecaster_id")
            .distinct()
        ):
            deleted.setdefault(questions[qid].tournament_id, set()).add(fid)
        old.delete()
    scorable = [q for q in todo if finals[q].outcome_value is not None]
    logs = load_events_many(scorable)
    points: dict[int, list[tuple[Any, ...]]] = {}
    for start in range(0, len(scorable), MANY_BATCH):
        batch = scorable[start : start + MANY_BATCH]
        for qid, *point in (
            CrowdPoint.objects.filter(question_id__in=batch)
            .order_by("question_id", "seq")
            .values_list("question_id", "time", "probability", "median", "mean")
        ):
            points.setdefault(qid, []).append(tuple(point))
    markets = market_points(scorable)
    rows: list[tuple[Any, ...]] = []  # _subject_rows' columns; their question and resolution:
    qids: list[int] = []
    rids: list[int] = []
    touched: dict[int, set[int]] = {}  # tournament → forecasters scored
    for qid in todo:
        question, resolution = questions[qid], finals[qid]
        outcome = resolution.outcome_value
        ev = logs.get(qid)
        touched.setdefault(question.tournament_id, set())
        if outcome is not None and ev is not None:
            window = _window(question, resolution, outcome)
            forecaster_ids, codes = np.unique(ev.forecaster, return_inverse=True)
            mine = _forecaster_rows(ev, forecaster_ids, codes, window)
            mine += _crowd_rows_of(points.get(qid, []), ev, codes, window)
            mine += _market_rows_of(markets.get(qid, []), ev, codes, window)
            qids += [qid] * len(mine)
            rids += [resolution.pk] * len(mine)
            rows += mine
            touched[question.tournament_id].update(forecaster_ids.tolist())
        if progress is not None:
            progress(1)
    _write_scores(
        np.array(qids, dtype=np.int64), np.array(rids, dtype=np.int64), rows, timezone.now()
    )
    weighting = {q.tournament_id: q.tournament.track_record_weighting for q in questions.values()}
    for tournament_id in sorted(touched):
        if weighting[tournament_id]:
            track_record_weights_refresh(
                tournament_id=tournament_id,
                forecaster_ids=deleted.get(tournament_id, set()) | touched[tournament_id],
            )
        transaction.on_commit(partial(_after_scoring, tournament_id))
    return written + len(rows)
