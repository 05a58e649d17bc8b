"""The domain loop, composed in one place above both apps:

    scores → track-record weights and the extremizing fit → crowd → scores

Forecasts knows nothing of scores; scoring knows the crowd. Everything that closes the loop is
here, and the Celery tasks (``scoring.tasks``) are one-line calls into these functions:

- ``question_recompute``: rebuild a question's crowd from its events (after an aggregation
  parameter changed) and, if the question has a final resolution, rescore it.
- ``tournament_recompute``: ``question_recompute`` for every question of a tournament, each in
  its own task on the heavy queue.
- ``tournament_settings_changed``: after staff changed a tournament's settings; turning
  track-record weighting on or off changes every a_i (``tournament_weighting_changed``).
- Scores → weights → crowds happens inside the scoring transaction
  (``scoring.track_record.track_record_weights_refresh``, docs/methods.md §6.2).
- ``tournament_scores_changed``: after scores changed, rebuild the leaderboard and, when the
  tournament fits its extremizing factor, refit d and recompute the crowds if d moved.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction

from config.celery import BROKER_ERRORS
from forecasts.services import (
    crowd_recompute,
    crowd_unsettled_questions,
    crowd_weights_freeze,
    tournament_fit_extremize,
)
from markets.models import Question, Resolution, Tournament
from markets.resolution.sweep import SweepReport as MarketsSweep
from markets.resolution.sweep import markets_sweep
from scoring.held import held_forecasts_warm
from scoring.leaderboard import leaderboard_rebuild
from scoring.services import ScoresRepair, question_score, scores_delete, scores_repair
from scoring.track_record import tournament_weights_refresh

logger = logging.getLogger(__name__)

EXTREMIZE_TOLERANCE = 1e-3
"""A refitted d closer than this to the stored one is not applied (docs/methods.md §3.2): the
refit after a recompute differs from the fit before it only by rounding (~1e-8), so a tighter
tolerance looped — recompute, rescore, refit, recompute — without end."""


@transaction.atomic
def question_recompute(*, question_id: int) -> int | None:
    """Rebuild the crowd of ``question_id``; if it has a final resolution, rescore it in the same
    transaction. Returns the final resolution's id, or None.

    The forecasters' scores do not depend on the crowd, so neither do their track-record
    weights: replacing the scores here, without a moment in which they are gone, leaves the
    weights — and the crowds of the other questions, which follow them — as they were.
    """
    crowd_recompute(question_id=question_id)
    final = (
        Resolution.objects.filter(question_id=question_id, state=Resolution.State.FINAL)
        .select_related("question")
        .first()
    )
    if final is None:
        return None
    scores_delete(
        question_id=question_id, tournament_id=final.question.tournament_id, refresh_weights=False
    )
    question_score(question_id=question_id, resolution_id=final.pk)
    return final.pk


def tournament_recompute(*, tournament_id: int) -> int:
    """After an aggregation-parameter change: one ``question_recompute_task`` per question of
    the tournament, sent after commit. Returns how many were enqueued."""
    from scoring.tasks import question_recompute_task

    ids = list(Question.objects.filter(tournament_id=tournament_id).values_list("id", flat=True))
    for question_id in ids:
        question_recompute_task.delay_on_commit(question_id)
    return len(ids)


AGGREGATION_FIELDS = (
    "extremize",
    "base_rate",
    "half_life_hours",
    "fit_extremize",
    "bots_in_crowd",
)


def tournament_settings_changed(*, tournament_id: int, changed: Iterable[str]) -> int:
    """After staff changed a tournament's settings (``changed``: field names), in the
    transaction that saved them. Turning track-record weighting on or off changes every a_i
    (``tournament_weighting_changed``); an aggregation parameter change recomputes every
    question's crowd, and rescores the resolved ones. Returns how many questions are being
    recomputed."""
    changed = set(changed)
    recomputing = 0
    if "track_record_weighting" in changed:
        recomputing = tournament_weighting_changed(tournament_id=tournament_id)
    if changed & set(AGGREGATION_FIELDS):
        return tournament_recompute(tournament_id=tournament_id)
    return recomputing


@transaction.atomic
def tournament_weighting_changed(*, tournament_id: int) -> int:
    """After ``track_record_weighting`` was turned on or off (already saved, in this
    transaction): every a_i changes between 1 and the forecaster's track record
    (docs/methods.md §6.2). The settled questions keep the weights they had (frozen now, with
    the setting as it was); turning it on computes every forecaster's weight from the scores so
    far (scoring keeps them current while it is on); every unsettled question's crowd is rebuilt
    in a task after commit — until then its state is stale (``CrowdState.params`` records the
    setting) and a submission rebuilds it first. Returns how many questions are rebuilt."""
    from scoring.tasks import question_recompute_task

    tournament = Tournament.objects.select_for_update().get(pk=tournament_id)
    on = tournament.track_record_weighting
    crowd_weights_freeze(tournament_id=tournament_id, weighting=not on)
    if on:
        tournament_weights_refresh(tournament_id=tournament_id)
    questions = crowd_unsettled_questions(tournament_id=tournament_id)
    for question_id in questions:
        question_recompute_task.delay_on_commit(question_id)
    return len(questions)


def tournament_scores_changed(*, tournament_id: int) -> bool:
    """Rebuild the leaderboard and cache every forecaster's held forecasts for the calibration
    (``scoring.held.held_forecasts_warm``: the first visitor after a resolution or a scoring
    run no longer pays the 0.3 s of reading the log); with ``fit_extremize`` on, refit d
    (docs/methods.md §3.2) and recompute every crowd when it moved. Returns whether a
    recompute was started."""
    leaderboard_rebuild(tournament_id=tournament_id)
    _held_forecasts_warm(tournament_id)
    tournament = Tournament.objects.get(pk=tournament_id)
    if not tournament.fit_extremize:
        return False
    before = tournament.effective_extremize
    tournament_fit_extremize(tournament_id=tournament_id, keep_within=EXTREMIZE_TOLERANCE)
    tournament.refresh_from_db()
    if tournament.effective_extremize == before:
        return False
    tournament_recompute(tournament_id=tournament_id)
    return True


def _held_forecasts_warm(tournament_id: int) -> None:
    """Best effort: with the cache (Redis) down, the calibration computes on request as before,
    and the rest of the workflow (the extremizing fit) must still run."""
    try:
        held_forecasts_warm(tournament_id=tournament_id)
    except BROKER_ERRORS as exc:
        logger.warning(
            "could not warm the calibration cache of tournament %s: %s", tournament_id, exc
        )


@dataclass(frozen=True)
class SweepReport:
    """One periodic pass: the markets sweep's counts and the scores repaired."""

    markets: MarketsSweep
    scores: ScoresRepair
    settlements: int = 0


def sweep(*, now: dt.datetime | None = None, batch: int = 200) -> SweepReport:
    """Open and close due questions, evaluate milestones, finalize due proposals
    (``markets.resolution.sweep.markets_sweep``), then make every question's scores belong to
    its final resolution (``scoring.services.scores_repair``) and every play-money market settled
    for it (``trading.services.settlements_repair``, docs/methods.md §15.7): what a crash or a
    lost message left undone is done here. Idempotent; bounded batches."""
    from trading.services import settlements_repair

    report = markets_sweep(now=now, batch=batch)
    return SweepReport(
        markets=report,
        scores=scores_repair(now=now, batch=batch),
        settlements=settlements_repair(batch=batch),
    )
