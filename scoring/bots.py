"""Leaderboards by cohort — humans, bots — and bots head to head with the human crowd
(docs/methods.md §16.3).

The humans and bots boards are the tournament's leaderboard rows (``LeaderboardEntry``: total
and mean peer score, mean Brier, coverage; docs/methods.md §7) of one cohort, ranked among
themselves by the same rule (``competition_ranks``) and the same participation minimum. The bots
board ranks each owner's *primary* bot and the built-in baselines (no owner); an owner's other
bots are listed unranked. Peer scores are those of the tournament (against every forecaster
active at the instant, bots included: "scored like anyone").

Head to head: for each bot and each resolved yes/no question where the bot forecast and the
human crowd existed, the bot's peer score against the human crowd (the humans cohort,
``forecasts.cohorts``), time-averaged over the question's window as every peer score is:

    h2h = (1/T) ∫ 100 · (ln b_o(t) − ln c_o(t)) dt

over the instants where both the bot's forecast b(t) and the human crowd c(t) exist (0 elsewhere),
with o the outcome. It is ``−peer`` of the crowd series scored against the bot alone
(``scoring.rules.score_series``), so it uses the same sweep as every crowd score. Positive: the
bot beat the human crowd. Computed on request from the logs of the questions bots forecast.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import Q

from forecasts import cohorts, distributions, store
from forecasts.models import Forecast, Forecaster
from forecasts.typed_crowd import question_scale
from markets.models import Question, Resolution, Tournament
from markets.resolution.typed_rules import show_value
from scoring import rules
from scoring.leaderboard import STANDINGS_ORDER, competition_ranks
from scoring.models import LeaderboardEntry

BOARDS = ("humans", "bots")


def cohort_board(tournament: Tournament, cohort: str) -> list[LeaderboardEntry]:
    """The tournament's leaderboard rows of one cohort ("humans" or "bots"), each with
    ``cohort_rank`` (its rank among the cohort's ranked rows; None when unranked). Bots: an
    owner's primary bot and built-in baselines are ranked, other bots listed unranked. Raises
    ValueError for another cohort name."""
    if cohort not in BOARDS:
        raise ValueError(f"Unknown leaderboard {cohort!r}: choose humans or bots.")
    rows = LeaderboardEntry.objects.filter(
        tournament=tournament, forecaster__isnull=False, forecaster__is_bot=cohort == "bots"
    ).select_related("forecaster__user", "forecaster__owner")
    entries = list(rows.order_by(*STANDINGS_ORDER))

    def rankable(e: LeaderboardEntry) -> bool:
        f = e.forecaster
        assert f is not None  # the rows are forecasters'
        return e.eligible and (not f.is_bot or f.is_primary or f.owner_id is None)

    ranked = [e for e in entries if rankable(e)]
    totals = [e.total_peer for e in ranked]
    ranks = dict(zip([e.pk for e in ranked], competition_ranks(totals, totals), strict=True))
    for e in entries:
        e.cohort_rank = ranks.get(e.pk)  # type: ignore[attr-defined]
    entries.sort(key=lambda e: (e.cohort_rank is None, e.cohort_rank or 0, -e.total_peer))  # type: ignore[attr-defined]
    return entries


@dataclass(frozen=True)
class HeadToHead:
    """One bot against the human crowd: ``questions`` both forecast (resolved yes/no ones),
    ``total`` and ``mean`` head-to-head peer score (positive: the bot did better), and the
    per-question scores ``by_question`` {question key: score}."""

    forecaster: Forecaster
    questions: int
    total: float
    mean: float
    by_question: dict[str, float]


def head_to_head(tournament: Tournament) -> list[HeadToHead]:
    """Every bot's head-to-head peer score against the human crowd on the tournament's resolved
    yes/no questions both forecast (module doc), best total first. Reads the logs of the
    questions with a bot's forecast only."""
    bots = {f.pk: f for f in Forecaster.objects.filter(is_bot=True).select_related("user")}
    if not bots:
        return []
    finals = {
        r.question_id: r
        for r in Resolution.objects.scored_finals()
        .filter(question__tournament=tournament, question__type=Question.Type.BINARY)
        .filter(Q(question__forecasts__forecaster_id__in=list(bots)))
        .select_related("question__tournament")
        .distinct()
    }
    bot_ids = np.array(sorted(bots), dtype=np.int64)
    scores: dict[int, dict[str, float]] = {}
    for resolution in finals.values():
        question = resolution.question
        outcome = resolution.outcome_value
        assert outcome is not None
        humans = cohorts.cohort_history(question, cohorts.Cohort.HUMANS)
        if not len(humans.stamps):
            continue
        ev = store.load_events(question.pk)
        window = rules.ScoringWindow(
            open_time=question.open_time.timestamp(),
            close_time=question.close_time.timestamp(),
            resolved_at=resolution.resolved_at.timestamp(),
            outcome=outcome,
        )
        crowd_times = np.array([t.timestamp() for t in humans.stamps])
        for fid in np.unique(ev.forecaster[np.isin(ev.forecaster, bot_ids)]).tolist():
            mine = ev.forecaster == fid
            s = rules.score_series(
                crowd_times,
                humans.probability,
                forecast_times=ev.times[mine],
                forecaster=np.zeros(int(mine.sum()), dtype=np.int64),
                forecast_probs=ev.probs[mine],
                **window.kwargs(),
            )
            if s.peer == s.peer:
                scores.setdefault(fid, {})[question.key] = -float(s.peer) + 0.0
    out = [
        HeadToHead(bots[fid], len(by_q), sum(by_q.values()), sum(by_q.values()) / len(by_q), by_q)
        for fid, by_q in scores.items()
        if by_q
    ]
    out.sort(key=lambda h: (-h.total, h.forecaster.pk))
    return out


def forecast_summary(question: Question, forecast: Forecast) -> str:
    """A multiple-choice or continuous forecast in words, for a page: "Anthropic 48%, OpenAI
    32%…", or "median 98.7 % resolved; 90% interval 96.5 to 99.8 % resolved" from the stored
    CDF (``distributions.quantiles``, docs/methods.md §12.6; a quantile in the mass beyond an
    open bound reads "below …" / "above …"). "" for a yes/no forecast."""
    if forecast.values is None:
        return ""
    values = distributions.from_bytes(bytes(forecast.values))
    if question.type == Question.Type.MULTIPLE_CHOICE:
        pairs = zip(question.options, values.tolist(), strict=True)
        return ", ".join(f"{label} {p * 100:.0f}%" for label, p in pairs)
    scale = question_scale(question)

    def at(q: float) -> str:
        if q < values[0]:
            return f"below {show_value(question, scale.range_min)}"
        if q > values[-1]:
            return f"above {show_value(question, scale.range_max)}"
        value = float(distributions.quantiles(values, [q], scale)[0])
        if question.type == Question.Type.DATE:
            return f"{dt.datetime.fromtimestamp(value, dt.UTC):%Y-%m-%d}"  # to the day
        return show_value(question, float(f"{value:.4g}"))

    return f"median {at(0.5)}; 90% interval {at(0.05)} to {at(0.95)}"


def bot_forecasts_on(question: Question) -> list[dict[str, Any]]:
    """The current forecasts of bots on a question, for its page: [{name, description,
    probability, summary, time, rationale}] (withdrawn ones left out), by name; ``summary``
    gives a multiple-choice or continuous forecast in words (``forecast_summary``)."""
    latest: dict[int, Forecast] = {}
    for f in (
        Forecast.objects.filter(question=question, forecaster__is_bot=True)
        .select_related("forecaster__user")
        .order_by("time", "id")
    ):
        latest[f.forecaster_id] = f
    return sorted(
        (
            {
                "name": f.forecaster.display_name,
                "description": f.forecaster.description,
                "probability": f.probability,
                "summary": forecast_summary(question, f),
                "time": f.time,
                "rationale": f.rationale,
            }
            for f in latest.values()
            if f.kind == Forecast.Kind.FORECAST
        ),
        key=lambda row: row["name"],
    )
