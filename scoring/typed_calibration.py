"""Calibration of a tournament's multiple-choice and continuous questions (docs/methods.md §5.6,
§5.7): the forecasts held at each resolved question's cutoff, read from the vector logs.

Multiple choice gets its own one-vs-rest reliability table, apart from the yes/no bins: its k
pairs per forecast (correlated, k - 1 of them outcomes 0) would otherwise outweigh and reshape
the yes/no table, and the Brier decomposition there is of yes/no forecasts. Continuous questions
(numeric, date, discrete) get the PIT histogram and the coverage of the central 50% and 90%
intervals, with Wilson intervals.

Subjects as the yes/no calibration: ``forecasters`` (everyone's held forecast), ``me`` (the
given forecasters'), ``crowd`` (the log pool at the cutoff, recomputed from the log; for a
viewer without full-history access the pool at the last public point at or before the cutoff,
docs/privacy.md) and ``mean`` (the unweighted linear pool of the held forecasts; public viewers
get it at the same public point). The median has no multiple-choice or continuous form
(docs/methods.md §4.16): for it both sections are empty.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models.functions import Least

from forecasts.models import CrowdPoint
from forecasts.privacy import public_threshold
from forecasts.services import vector_history, vector_log
from forecasts.vector_pooling import cdf_from_buckets
from markets.models import Question, Resolution, Tournament
from scoring.calibration import calibration_bins
from scoring.calibration_types import (
    interval_coverage,
    mc_calibration_pairs,
    pit_histogram,
    pit_values,
)
from scoring.typed_scores import question_scale, typed_outcome

COVERAGE_LEVELS = (0.5, 0.9)
TYPED_SUBJECTS = ("crowd", "mean", "forecasters", "me")


@dataclass
class TypedCalibrationInputs:
    """What the held forecasts give: multiple-choice one-vs-rest pairs (``mc_probs``,
    ``mc_outcomes``) from ``mc_questions`` questions and ``mc_forecasts`` forecasts; the PIT
    values of continuous forecasts from ``continuous_questions`` questions."""

    mc_probs: list[float] = field(default_factory=list)
    mc_outcomes: list[float] = field(default_factory=list)
    mc_questions: int = 0
    mc_forecasts: int = 0
    pit: list[float] = field(default_factory=list)
    continuous_questions: int = 0


def _finals(tournament: Tournament) -> list[Resolution]:
    return list(
        Resolution.objects.filter(state=Resolution.State.FINAL, question__tournament=tournament)
        .exclude(question__type=Question.Type.BINARY)
        .exclude(outcome=Resolution.Outcome.ANNULLED)
        .annotate(cutoff=Least("question__close_time", "resolved_at"))
        .select_related("question")
        .order_by("question__key")
    )


def has_typed_finals(tournament: Tournament) -> bool:
    """Whether the tournament has a scored (not annulled) multiple-choice or continuous final
    resolution: only then does the calibration carry the typed sections."""
    return (
        Resolution.objects.filter(state=Resolution.State.FINAL, question__tournament=tournament)
        .exclude(question__type=Question.Type.BINARY)
        .exclude(outcome=Resolution.Outcome.ANNULLED)
        .exists()
    )


def _truncate(ev: Any, upto: int) -> Any:
    return dataclasses.replace(
        ev,
        ids=ev.ids[:upto],
        times=ev.times[:upto],
        forecaster=ev.forecaster[:upto],
        probs=ev.probs[:upto],
        track_record_weight=ev.track_record_weight[:upto],
        values=ev.values[:upto],
        stamps=ev.stamps[:upto],
    )


def _held(ev: Any, upto: int, only: Collection[int] | None) -> tuple[np.ndarray, np.ndarray]:
    """The forecasts (stored vectors) held after the first ``upto`` events, and their
    forecasters: each forecaster's last event unless a withdrawal."""
    forecaster = ev.forecaster[:upto]
    if not upto:
        return np.empty((0, ev.values.shape[1])), np.empty(0, dtype=np.int64)
    _, from_end = np.unique(forecaster[::-1], return_index=True)
    last = np.sort(upto - 1 - from_end)
    last = last[~np.isnan(ev.values[last, 0])]
    if only is not None:
        last = last[np.isin(forecaster[last], np.fromiter(only, dtype=np.int64))]
    return ev.values[last], forecaster[last]


def _public_upto(question: Question, cutoff: Any) -> int:
    """Events covered by the last public crowd point at or before the cutoff (its seq counts
    events from 1), 0 when none is shown (docs/privacy.md)."""
    seq = (
        CrowdPoint.objects.filter(
            question=question,
            time__lte=cutoff,
            public_seq__isnull=False,
            forecasters__gte=public_threshold(question.tournament.min_forecasters),
        )
        .order_by("-public_seq")
        .values_list("seq", flat=True)
        .first()
    )
    return int(seq or 0)


def _tidy(cdf: np.ndarray) -> np.ndarray:
    return np.maximum.accumulate(np.clip(cdf, 0.0, 1.0), axis=-1)


def typed_calibration_inputs(
    tournament: Tournament,
    subject: str,
    *,
    forecaster_ids: Collection[int] | None = None,
    public: bool = False,
) -> TypedCalibrationInputs:
    """The held forecasts of ``subject`` (``TYPED_SUBJECTS``; any other gives empty inputs) at
    each resolved multiple-choice and continuous question's cutoff min(close_time,
    resolved_at), as calibration inputs. ``forecaster_ids``: for ``me``, the viewer's
    forecasters; ``public``: the crowd subjects as a viewer without full-history access sees
    them. One log read per question; the crowd's pool is recomputed from the log up to the
    cutoff (O(events · outcomes)). docs/methods.md §5.6, §5.7."""
    out = TypedCalibrationInputs()
    if subject not in TYPED_SUBJECTS:
        return out
    for resolution in _finals(tournament):
        question = resolution.question
        outcome = typed_outcome(question, resolution)
        if outcome is None:
            continue
        ev = vector_log(question)
        cutoff = resolution.cutoff  # type: ignore[attr-defined]
        if subject in ("crowd", "mean") and public:
            upto = _public_upto(question, cutoff)
        else:
            upto = int(np.searchsorted(ev.times, cutoff.timestamp(), side="right"))
        only = forecaster_ids if subject == "me" else None
        held, _ = _held(ev, upto, only)
        if not held.shape[0]:
            continue
        if subject == "crowd":
            pooled = vector_history(question, _truncate(ev, upto)).last
            if np.isnan(pooled).any():
                continue
            is_mc = question.type == Question.Type.MULTIPLE_CHOICE
            forecasts = pooled[None, :] if is_mc else _tidy(cdf_from_buckets(pooled))[None, :]
        elif subject == "mean":
            forecasts = np.mean(held, axis=0)[None, :]
        else:
            forecasts = held
        if outcome.option is not None:
            p, o = mc_calibration_pairs(forecasts / forecasts.sum(axis=1)[:, None], outcome.option)
            out.mc_probs.extend(p.tolist())
            out.mc_outcomes.extend(o.tolist())
            out.mc_questions += 1
            out.mc_forecasts += forecasts.shape[0]
        else:
            assert outcome.value is not None
            pit = pit_values(_tidy(forecasts), outcome.value, question_scale(question))
            out.pit.extend(pit.tolist())
            out.continuous_questions += 1
    return out


def _none_if_nan(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def typed_calibration(inputs: TypedCalibrationInputs, n_bins: int) -> dict[str, Any]:
    """The two sections of the calibration response: ``multiple_choice`` (one-vs-rest bins as
    the yes/no ones, with the question and forecast counts) and ``continuous`` (the PIT
    histogram in ``n_bins`` bins and the central 50%/90% interval coverage, each with its 95%
    Wilson interval). docs/methods.md §5.6, §5.7."""
    bins = calibration_bins(inputs.mc_probs, inputs.mc_outcomes, n_bins)
    hist = pit_histogram(inputs.pit, n_bins)
    coverage = interval_coverage(inputs.pit, COVERAGE_LEVELS)
    return {
        "multiple_choice": {
            "questions": inputs.mc_questions,
            "forecasts": inputs.mc_forecasts,
            "pairs": len(inputs.mc_probs),
            "bins": [
                {
                    "lower": b.lower,
                    "upper": b.upper,
                    "count": b.count,
                    "mean_forecast": _none_if_nan(b.mean_forecast),
                    "observed_frequency": _none_if_nan(b.observed_frequency),
                    "wilson_low": b.wilson_low,
                    "wilson_high": b.wilson_high,
                }
                for b in bins
            ],
        },
        "continuous": {
            "questions": inputs.continuous_questions,
            "forecasts": hist.n,
            "pit_histogram": [
                {
                    "lower": float(hist.edges[k]),
                    "upper": float(hist.edges[k + 1]),
                    "count": int(hist.counts[k]),
                    "frequency": _none_if_nan(float(hist.frequency[k])),
                    "wilson_low": float(hist.wilson_low[k]),
                    "wilson_high": float(hist.wilson_high[k]),
                }
                for k in range(len(hist.counts))
            ],
            "interval_coverage": [
                {
                    "level": c.level,
                    "hits": c.hits,
                    "n": c.n,
                    "frequency": _none_if_nan(c.frequency),
                    "wilson_low": c.wilson_low,
                    "wilson_high": c.wilson_high,
                }
                for c in coverage
            ],
        },
    }
