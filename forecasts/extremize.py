"""Fitting the extremizing factor d on resolved questions (pure: numpy and the standard library).

For question q let x_q be the weighted mean logit of its final forecasts, b the base logit and
o_q ∈ {0, 1} its outcome. The pooled forecast with factor d is p_q(d) = σ(b + d·(x_q − b)) and
its log loss L(d) = −mean_q ln p_q,o(d). L is convex in d (a log-sigmoid of an affine function),
so a bounded golden-section search finds the minimum on [D_MIN, D_MAX].

Out-of-sample score: leave one question out — fit d on the others, score the held-out one —
and average the held-out log losses. That is what an admin should compare with d = 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

D_MIN, D_MAX = 1.0, 3.0
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True, slots=True)
class ExtremizeFit:
    d: float  # fitted on all questions
    loqo_log_loss: float  # leave-one-question-out, mean over questions
    loqo_log_loss_d1: float  # the same score for the plain log pool (d = 1)
    questions: int


def log_loss(d: float, mean_logits: np.ndarray, outcomes: np.ndarray, base_logit: float) -> float:
    z = base_logit + d * (mean_logits - base_logit)
    # −ln σ(z) for YES, −ln σ(−z) for NO; logaddexp keeps it finite for large |z|.
    signed = np.where(outcomes == 1, z, -z)
    return float(np.mean(np.logaddexp(0.0, -signed)))


def _argmin(
    mean_logits: np.ndarray, outcomes: np.ndarray, base_logit: float, lo: float, hi: float
) -> float:
    a, b = lo, hi
    c, d = b - _GOLDEN * (b - a), a + _GOLDEN * (b - a)
    fc, fd = (
        log_loss(c, mean_logits, outcomes, base_logit),
        log_loss(d, mean_logits, outcomes, base_logit),
    )
    for _ in range(60):  # (0.618)^60 · 2 ≈ 6e-13
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - _GOLDEN * (b - a)
            fc = log_loss(c, mean_logits, outcomes, base_logit)
        else:
            a, c, fc = c, d, fd
            d = a + _GOLDEN * (b - a)
            fd = log_loss(d, mean_logits, outcomes, base_logit)
    x = (a + b) / 2.0
    # The bounds themselves are candidates: the optimum is often d = 1 exactly.
    candidates = [lo, x, hi]
    losses = [log_loss(v, mean_logits, outcomes, base_logit) for v in candidates]
    return candidates[int(np.argmin(losses))]


def fit_extremize(
    mean_logits: ArrayLike,
    outcomes: ArrayLike,
    *,
    base_logit: float = 0.0,
    bounds: tuple[float, float] = (D_MIN, D_MAX),
) -> ExtremizeFit:
    """Fit d in ``bounds`` by log loss, with its leave-one-question-out score (≥ 2 questions)."""
    x = np.asarray(mean_logits, dtype=np.float64).reshape(-1)
    o = np.asarray(outcomes, dtype=np.int64).reshape(-1)
    if x.shape != o.shape:
        raise ValueError("mean_logits and outcomes must have the same length")
    if x.size < 2:
        raise ValueError("fitting d needs at least two resolved questions")
    if not np.all(np.isin(o, (0, 1))):
        raise ValueError("outcomes must be 0 or 1")
    lo, hi = bounds
    d_all = _argmin(x, o, base_logit, lo, hi)
    held, held_d1 = [], []
    for k in range(x.size):
        keep = np.arange(x.size) != k
        d_k = _argmin(x[keep], o[keep], base_logit, lo, hi)
        held.append(log_loss(d_k, x[k : k + 1], o[k : k + 1], base_logit))
        held_d1.append(log_loss(1.0, x[k : k + 1], o[k : k + 1], base_logit))
    return ExtremizeFit(d_all, float(np.mean(held)), float(np.mean(held_d1)), int(x.size))
