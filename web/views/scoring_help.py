"""The "How scoring works" page: every number the site shows, with its formula.

The formulas are those of docs/methods.md §4 (scoring rules), §5 (calibration) and §7
(leaderboards), cited section by section on the page. The worked examples are computed here by
the scoring code itself (``scoring.rules``), so the page cannot drift from what is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from scoring.calibration import brier_decomposition
from scoring.leaderboard import MIN_SHARE
from scoring.rules import baseline_score, brier, log_score, peer_scores, score_question

# The time-averaged example of docs/methods.md §4.9: window [0, 100], outcome YES; A forecasts
# 80% at 0 and withdraws at 75, B forecasts 40% at 50.
EXAMPLE_TIMES = [0.0, 50.0, 75.0]
EXAMPLE_WHO = [0, 1, 0]
EXAMPLE_PROBS = [0.8, 0.4, float("nan")]
EXAMPLE_NAMES = ["A", "B"]


@dataclass(frozen=True)
class ExampleRow:
    """One forecaster's time-averaged scores in the worked example (docs/methods.md §4.5)."""

    name: str
    coverage: float
    brier: float
    log: float
    baseline: float
    peer: float
    spot_brier: float | None


def _example(resolved_at: float | None) -> list[ExampleRow]:
    s = score_question(
        EXAMPLE_TIMES,
        EXAMPLE_WHO,
        EXAMPLE_PROBS,
        open_time=0.0,
        close_time=100.0,
        resolved_at=resolved_at,
        outcome=1,
        n_forecasters=2,
    )
    return [
        ExampleRow(
            name=name,
            coverage=float(s.coverage[i]),
            brier=float(s.brier[i]),
            log=float(s.log[i]),
            baseline=float(s.baseline[i]),
            peer=float(s.peer[i]),
            spot_brier=None if s.spot_brier[i] != s.spot_brier[i] else float(s.spot_brier[i]),
        )
        for i, name in enumerate(EXAMPLE_NAMES)
    ]


def _early(fraction: float) -> dict[str, float]:
    """One forecaster at 80% from the open, YES, resolved after ``fraction`` of the window:
    Brier stays, baseline and peer-style sums scale with the coverage (§4.5)."""
    full = score_question(
        [0.0],
        [0],
        [0.8],
        open_time=0.0,
        close_time=1.0,
        resolved_at=None,
        outcome=1,
        n_forecasters=1,
    )
    early = score_question(
        [0.0],
        [0],
        [0.8],
        open_time=0.0,
        close_time=1.0,
        resolved_at=fraction,
        outcome=1,
        n_forecasters=1,
    )
    return {
        "fraction": fraction,
        "brier_full": float(full.brier[0]),
        "brier_early": float(early.brier[0]),
        "baseline_full": float(full.baseline[0]),
        "baseline_early": float(early.baseline[0]),
        "coverage_early": float(early.coverage[0]),
    }


def scoring_explained(request: HttpRequest) -> HttpResponse:
    """GET /scoring/: what each score means, its formula (docs/methods.md §4, §5, §7) and
    examples computed by ``scoring.rules``. Public; no data of any forecaster."""
    singles = [
        {
            "p": p,
            "o": o,
            "brier": float(brier(p, o)),
            "log": float(log_score(p, o)),
            "baseline": float(baseline_score(p, o)),
        }
        for p, o in [(0.9, 1), (0.9, 0), (0.5, 1)]
    ]
    peers = [float(x) for x in peer_scores([0.9, 0.6, 0.2], 1)]
    decomposition = brier_decomposition(
        [0.1, 0.1, 0.3, 0.3, 0.7, 0.7, 0.9, 0.9], [0, 0, 1, 0, 1, 0, 1, 1], 10
    )
    return render(
        request,
        "markets/scoring.html",
        {
            "singles": singles,
            "peers": list(zip([0.9, 0.6, 0.2], peers, strict=True)),
            "example": _example(None),
            "early": _early(0.5),
            "decomposition": decomposition,
            "min_share": MIN_SHARE,
        },
    )
