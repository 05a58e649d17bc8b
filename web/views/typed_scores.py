"""Calibration of multiple-choice and continuous forecasts on the track-record pages
(``scoring.typed_calibration``, docs/methods.md §5.6, §5.7): the one-vs-rest reliability of
multiple-choice forecasts, and for numeric, date and discrete questions the PIT histogram and
the coverage of the central 50% and 90% intervals."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from markets.models import Tournament
from scoring.calibration import calibration_bins
from scoring.calibration_types import interval_coverage, pit_histogram
from scoring.typed_calibration import (
    COVERAGE_LEVELS,
    TypedCalibrationInputs,
    has_typed_finals,
    typed_calibration_inputs,
)
from web import charts, typed_charts

BINS = 10


def typed_calibration_section(
    tournaments: Iterable[Tournament],
    subject: str,
    *,
    forecaster_ids: Collection[int] | None = None,
    public: bool = False,
) -> dict[str, Any] | None:
    """The typed calibration of ``subject`` ("crowd" or "me" with ``forecaster_ids``) over the
    given tournaments' resolved multiple-choice and continuous questions, merged; None when
    there are none. ``public``: the crowd as a viewer without full-history access sees it
    (docs/privacy.md). Keys: ``mc`` (bins, chart, counts) and ``continuous`` (PIT histogram
    chart and rows, interval coverage), each None when empty."""
    merged = TypedCalibrationInputs()
    for tournament in tournaments:
        if not has_typed_finals(tournament):
            continue
        inputs = typed_calibration_inputs(
            tournament, subject, forecaster_ids=forecaster_ids, public=public
        )
        merged.mc_probs += inputs.mc_probs
        merged.mc_outcomes += inputs.mc_outcomes
        merged.mc_questions += inputs.mc_questions
        merged.mc_forecasts += inputs.mc_forecasts
        merged.pit += inputs.pit
        merged.continuous_questions += inputs.continuous_questions
    if not merged.mc_probs and not merged.pit:
        return None
    mc = None
    if merged.mc_probs:
        bins = calibration_bins(merged.mc_probs, merged.mc_outcomes, BINS)
        mc = {
            "questions": merged.mc_questions,
            "forecasts": merged.mc_forecasts,
            "pairs": len(merged.mc_probs),
            "bins": [b for b in bins if b.count],
            "chart": charts.calibration_chart(bins, uid="calib-mc"),
        }
    continuous = None
    if merged.pit:
        hist = pit_histogram(merged.pit, BINS)
        continuous = {
            "questions": merged.continuous_questions,
            "forecasts": hist.n,
            "chart": typed_charts.pit_chart(
                edges=[float(e) for e in hist.edges],
                counts=[int(c) for c in hist.counts],
                frequency=[float(f) for f in hist.frequency],
                wilson_low=[float(w) for w in hist.wilson_low],
                wilson_high=[float(w) for w in hist.wilson_high],
            ),
            "bins": [
                {
                    "lower": float(hist.edges[k]),
                    "upper": float(hist.edges[k + 1]),
                    "count": int(hist.counts[k]),
                    "frequency": float(hist.frequency[k]),
                    "wilson_low": float(hist.wilson_low[k]),
                    "wilson_high": float(hist.wilson_high[k]),
                }
                for k in range(len(hist.counts))
            ],
            "coverage": interval_coverage(merged.pit, COVERAGE_LEVELS),
        }
    return {"mc": mc, "continuous": continuous}


__all__ = ["typed_calibration_section"]
