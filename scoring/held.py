"""Every forecaster's forecast held at each scored question's cutoff, cached: the input of the
"all forecasters" calibration (``/api/v1/tournaments/<slug>/calibration/?subject=forecasters``,
docs/methods.md §4.5 for the cutoff). Reading the whole forecast log takes about 0.3 s on the
ACX replay (150,720 forecasts), so the result is cached under a key of everything it depends
on, and computed again after each scoring run (``held_forecasts_warm``, from
``scoring.workflows.tournament_scores_changed``), so that a visitor rarely pays for it
(issue 19, docs/performance.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from django.core.cache import cache
from django.db.models import Max, QuerySet

from forecasts.models import Forecast
from forecasts.selectors import forecasts_held_at
from markets.models import Resolution, Tournament

HELD_CACHE_SECONDS = 24 * 3600

Final = tuple[int, dt.datetime, str]  # question id, cutoff, outcome


def scored_finals(tournament: Tournament) -> QuerySet[Resolution]:
    """Final YES/NO resolutions of the tournament, by question key, with each one's cutoff
    (``cutoff``: the scheduled close, or the resolution when earlier)."""
    return (
        Resolution.objects.scored_finals()
        .filter(question__tournament=tournament)
        .with_cutoff()
        .order_by("question__key")
    )


def held_cache_key(tournament: Tournament, finals: list[Final]) -> str:
    """The cache key of ``everyone_held``: a SHA-256 over the tournament, the newest forecast
    id on the finals' questions and each final's question, cutoff and outcome. The forecast
    log is append-only (a withdrawal or a backdated import is a new row with a larger id), so
    any change to what was held changes the key; a re-resolution or a withdrawn resolution
    changes the finals. One query."""
    qids = [qid for qid, _, _ in finals]
    newest = Forecast.objects.filter(question_id__in=qids).aggregate(newest=Max("id"))["newest"]
    signature = json.dumps(
        [
            tournament.pk,
            tournament.created_at.isoformat(),
            newest,
            [[qid, cutoff.isoformat(), outcome] for qid, cutoff, outcome in finals],
        ]
    )
    return "calibration-held:" + hashlib.sha256(signature.encode()).hexdigest()


def everyone_held(tournament: Tournament, finals: list[Final]) -> dict[int, list[float]]:
    """Every forecaster's forecast held at each question's cutoff (withdrawals left out), by
    question id, for ``finals`` = (question id, cutoff, outcome) of ``scored_finals``: from the
    cache when nothing it depends on changed (``held_cache_key``), else read from the log
    (``forecasts_held_at``) and cached. A stale entry is never read, only left to expire."""
    key = held_cache_key(tournament, finals)
    cached = cache.get(key)
    if cached is not None:
        return cached
    return _compute(key, finals)


def _compute(key: str, finals: list[Final]) -> dict[int, list[float]]:
    latest = forecasts_held_at({qid: cutoff for qid, cutoff, _ in finals})
    held = {qid: [p for p in latest[qid].values() if p is not None] for qid, _, _ in finals}
    cache.set(key, held, HELD_CACHE_SECONDS)
    return held


def held_forecasts_warm(*, tournament_id: int) -> bool:
    """Compute and cache ``everyone_held`` for the tournament's current finals unless the cache
    has it already (after a scoring run: the next visitor's calibration of all forecasters is
    read from the cache). Returns whether it computed. Raises ``Tournament.DoesNotExist`` for
    an unknown tournament."""
    tournament = Tournament.objects.get(pk=tournament_id)
    # ``cutoff`` is an annotation (``with_cutoff``), which the type plugin does not see.
    rows = scored_finals(tournament).values_list("question_id", "cutoff", "outcome")  # type: ignore[misc]
    finals: list[Final] = list(rows)
    key = held_cache_key(tournament, finals)
    if cache.get(key) is not None:
        return False
    _compute(key, finals)
    return True
