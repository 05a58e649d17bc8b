"""Forecasts on multiple-choice and continuous questions: the shape of a forecast for a question,
its validation, and the stored byte form (docs/methods.md §13.2).

A multiple-choice forecast is k option probabilities, each in [0.001, 0.999], summing to 1
(±1e-6; stored renormalised). A continuous forecast is a standardised CDF at the 201 grid
locations: non-decreasing in [0, 1]; cdf[0] = 0 at a closed lower bound and ≥ 0.001 at an open
one; cdf[200] = 1 at a closed upper bound and ≤ 0.999 at an open one; every inbound step at
least 0.01/200 (the 1% uniform floor) and at most 0.2. Parsing other inputs (percentiles,
mixtures) into this form happens before (``forecasts.distributions``); this module checks what
reaches the log. Bytes: little-endian float64, the vector's values in order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forecasts import vector_pooling
from forecasts.errors import InvalidForecastValues
from forecasts.pooling import EPS
from markets.models import Question

CDF_POINTS = vector_pooling.CDF_POINTS
PMF_BUCKETS = vector_pooling.PMF_BUCKETS
SUM_TOLERANCE = 1e-6
MIN_STEP = 0.01 / 200
MAX_STEP = 0.2
OUTSIDE_MIN = 0.001
_SLACK = 1e-12  # rounding of the standardisation's arithmetic


def to_bytes(values: np.ndarray) -> bytes:
    """A float64 vector as little-endian bytes (8 per value)."""
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def from_bytes(raw: bytes | memoryview | None) -> np.ndarray:
    """Inverse of ``to_bytes`` (a writable float64 copy); an empty array for None."""
    if raw is None:
        return np.empty(0, dtype=np.float64)
    return np.frombuffer(bytes(raw), dtype="<f8").astype(np.float64)


def is_vector(question: Question) -> bool:
    """Whether forecasts on ``question`` are vectors (every type but yes/no)."""
    return question.type != Question.Type.BINARY


def outcome_count(question: Question) -> int:
    """How many outcomes the crowd pools over: k options, or the 202 PMF buckets."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return len(question.options)
    return PMF_BUCKETS


def support(question: Question) -> np.ndarray:
    """bool[outcome_count]: the outcomes that can have positive probability. Every option; for
    a continuous question every inbound bucket, and the outer buckets of open bounds only."""
    mask = np.ones(outcome_count(question), dtype=bool)
    if question.type != Question.Type.MULTIPLE_CHOICE:
        mask[0] = question.open_lower_bound
        mask[-1] = question.open_upper_bound
    return mask


def outcomes(question: Question, values: np.ndarray) -> np.ndarray:
    """A stored forecast (or rows of them) as outcome probabilities: the option probabilities
    themselves, or a CDF's PMF buckets (``vector_pooling.buckets_from_cdf``)."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return np.asarray(values, dtype=np.float64)
    return vector_pooling.buckets_from_cdf(values)


def crowd_vector(question: Question, pooled: np.ndarray) -> np.ndarray:
    """The crowd as stored in ``CrowdState.vector``: the pooled option probabilities, or the
    pooled PMF's CDF at the 201 grid points."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return pooled
    return vector_pooling.cdf_from_buckets(pooled)


def summarizer(question: Question) -> Callable[[np.ndarray], np.ndarray]:
    """The crowd history point of a pool (rows × outcomes → rows × s): the pooled option
    probabilities (s = k), or ``vector_pooling.continuous_summary`` (s = 7)."""
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return lambda pooled: pooled
    return vector_pooling.continuous_summary


def values_validate(question: Question, raw: object) -> np.ndarray:
    """The forecast ``raw`` (array-like) checked against ``question``'s type; returns what is
    stored (float64; multiple choice renormalised to sum exactly to 1 up to rounding).

    Raises ``InvalidForecastValues`` with the reason (see the module docstring for the rules),
    and for a yes/no question (which takes a probability).
    """
    if not is_vector(question):
        raise InvalidForecastValues("A yes/no question takes a probability, not values.")
    try:
        v = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidForecastValues("The values must be a list of numbers.") from None
    if question.type == Question.Type.MULTIPLE_CHOICE:
        return _options_validate(v, len(question.options))
    return _cdf_validate(v, question.open_lower_bound, question.open_upper_bound)


def _options_validate(v: np.ndarray, k: int) -> np.ndarray:
    if v.shape != (k,):
        raise InvalidForecastValues(
            f"Expected {k} option probabilities, one per option; got {v.size}."
        )
    if not np.all(np.isfinite(v)):
        raise InvalidForecastValues("Every option probability must be a finite number.")
    if not np.all((v >= EPS) & (v <= 1.0 - EPS)):
        raise InvalidForecastValues(
            f"Each option probability must lie between {EPS:g} and {1 - EPS:g} (0.1% to 99.9%)."
        )
    total = float(np.sum(v))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise InvalidForecastValues(f"The option probabilities sum to {total:.9g}, not 1.")
    return v / total


def _cdf_validate(v: np.ndarray, open_lower: bool, open_upper: bool) -> np.ndarray:
    if v.shape != (CDF_POINTS,):
        raise InvalidForecastValues(f"Expected a CDF at {CDF_POINTS} points; got {v.size}.")
    if not np.all(np.isfinite(v)):
        raise InvalidForecastValues("Every CDF value must be a finite number.")
    if not np.all((v >= 0.0) & (v <= 1.0)):
        raise InvalidForecastValues("CDF values must lie in [0, 1].")
    steps = np.diff(v)
    if np.any(steps < 0.0):
        raise InvalidForecastValues(
            f"The CDF decreases (at point {int(np.argmax(steps < 0.0)) + 1}): it must not."
        )
    if np.any(steps < MIN_STEP - _SLACK) or np.any(steps > MAX_STEP + _SLACK):
        raise InvalidForecastValues(
            f"Every step of the CDF must lie between {MIN_STEP:g} and {MAX_STEP:g} (a standardised "
            "CDF: docs/methods.md §13.2)."
        )
    if open_lower and v[0] < OUTSIDE_MIN - _SLACK:
        raise InvalidForecastValues(
            f"The lower bound is open: at least {OUTSIDE_MIN:g} must lie below the range."
        )
    if not open_lower and v[0] > _SLACK:
        raise InvalidForecastValues("The lower bound is closed: the CDF must start at 0.")
    if open_upper and v[-1] > 1.0 - OUTSIDE_MIN + _SLACK:
        raise InvalidForecastValues(
            f"The upper bound is open: at least {OUTSIDE_MIN:g} must lie above the range."
        )
    if not open_upper and v[-1] < 1.0 - _SLACK:
        raise InvalidForecastValues("The upper bound is closed: the CDF must end at 1.")
    # No mass beyond a closed bound, exactly (rounding of the standardisation aside).
    if not open_lower:
        v[0] = 0.0
    if not open_upper:
        v[-1] = 1.0
    return v
