"""The logarithmic market scoring rule (LMSR, Hanson 2003/2007): pure math, no Django.

Formulas and their numerically stable forms are in docs/methods.md §15. Quantities ``q`` are the
outstanding shares of each outcome (sequences of floats, length n ≥ 2), ``b`` > 0 is the
liquidity, amounts are play money; a share of the outcome that happens pays 1.

    C(q)   = b · ln Σ_k exp(q_k / b)                         (cost function, §15.1)
    p_k    = exp(q_k / b) / Σ_j exp(q_j / b)                 (prices, §15.1)
    cost of a trade q → q' = C(q') − C(q)                    (§15.2)
    spend M on k: x = b · ln(1 + (e^{M/b} − 1) / p_k)        (§15.3)
    move p_k to p*: x = b · (logit p* − logit p_k)           (§15.4)
    worst loss of the market maker: b · ln n                 (§15.5)

Everything is computed in log space (log-sum-exp shifted by the maximum, ``log1p``/``expm1``), so
no step overflows however extreme the prices are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


class LmsrError(ValueError):
    """An input the LMSR cannot price: b ≤ 0, fewer than two outcomes, an unknown outcome, a
    target price outside (0, 1), or a sale larger than what the market can pay for it."""


def _check(q: Sequence[float], b: float) -> None:
    if not (isinstance(b, int | float) and math.isfinite(b) and b > 0):
        raise LmsrError(f"the liquidity b must be a positive number, got {b!r}")
    if len(q) < 2:
        raise LmsrError("a market needs at least two outcomes")
    if not all(math.isfinite(x) for x in q):
        raise LmsrError("share quantities must be finite")


def _outcome(q: Sequence[float], k: int) -> None:
    if not 0 <= k < len(q):
        raise LmsrError(f"outcome {k} is not one of the {len(q)} outcomes")


def logsumexp(xs: Sequence[float]) -> float:
    """ln Σ exp(x_i), shifted by the maximum so that no exponential overflows (§15.1)."""
    m = max(xs)
    return m + math.log(math.fsum(math.exp(x - m) for x in xs))


def cost(q: Sequence[float], b: float) -> float:
    """C(q) = b · ln Σ_k exp(q_k / b) (docs/methods.md §15.1), via log-sum-exp."""
    _check(q, b)
    return b * logsumexp([x / b for x in q])


def log_prices(q: Sequence[float], b: float) -> list[float]:
    """ln p_k = q_k / b − ln Σ_j exp(q_j / b) (§15.1): finite even where p_k underflows to 0."""
    _check(q, b)
    scaled = [x / b for x in q]
    lse = logsumexp(scaled)
    return [x - lse for x in scaled]


def prices(q: Sequence[float], b: float) -> list[float]:
    """p_k = exp(q_k / b) / Σ_j exp(q_j / b) (softmax, §15.1); they sum to 1."""
    return [math.exp(x) for x in log_prices(q, b)]


def _log_others(q: Sequence[float], b: float, k: int) -> float:
    """ln Σ_{j≠k} exp(q_j / b)."""
    return logsumexp([x / b for j, x in enumerate(q) if j != k])


def trade_cost(q: Sequence[float], b: float, k: int, shares: float) -> float:
    """C(q + x·e_k) − C(q) for x = ``shares`` of outcome k (§15.2); negative for a sale (what
    the trader receives). Computed as b·(ln(S_{−k} + e^{(q_k+x)/b}) − ln(S_{−k} + e^{q_k/b}))
    with both terms by log-sum-exp, which never overflows."""
    _check(q, b)
    _outcome(q, k)
    if not math.isfinite(shares):
        raise LmsrError("shares must be finite")
    others = _log_others(q, b, k)
    before = logsumexp([others, q[k] / b])
    after = logsumexp([others, (q[k] + shares) / b])
    return b * (after - before)


def shares_for_cost(q: Sequence[float], b: float, k: int, amount: float) -> float:
    """The shares x of outcome k whose cost is ``amount`` (§15.3): x = b·ln(1 + (e^{M/b} − 1)/p_k)
    with M = amount. A negative amount is a sale that receives −amount: then x < 0, and the
    market can pay at most b·ln(1/(1 − p_k)) for any sale of k (LmsrError beyond).

    Stable form: with m = M/b, for m > 0 x = b·(m + log1p(−(1 − p_k)·e^{−m}) − ln p_k); for
    m ≤ 0 x = b·log1p(expm1(m)/p_k)."""
    _check(q, b)
    _outcome(q, k)
    if not math.isfinite(amount):
        raise LmsrError("the amount must be finite")
    m = amount / b
    log_p = log_prices(q, b)[k]
    if m > 0:
        one_minus_p = -math.expm1(log_p)  # 1 − p_k without cancellation
        return b * (m + math.log1p(-one_minus_p * math.exp(-m)) - log_p)
    if m == 0:
        return 0.0
    arg = math.expm1(m) / math.exp(log_p) if log_p > -700 else -math.inf
    if arg <= -1:
        raise LmsrError("the market cannot pay that much for shares of this outcome")
    return b * math.log1p(arg)


def logit(p: float) -> float:
    """ln(p / (1 − p)) for p in (0, 1)."""
    if not 0.0 < p < 1.0:
        raise LmsrError(f"a target price must lie strictly between 0 and 1, got {p!r}")
    return math.log(p) - math.log1p(-p)


def shares_to_price(q: Sequence[float], b: float, k: int, target: float) -> float:
    """The shares x of outcome k that move its price to ``target`` (§15.4):
    x = b·(logit p* − logit p_k), with logit p_k = q_k/b − ln Σ_{j≠k} e^{q_j/b} (no division
    by a price that underflowed). Negative when the price must fall (a sale)."""
    _check(q, b)
    _outcome(q, k)
    current = q[k] / b - _log_others(q, b, k)
    return b * (logit(target) - current)


def worst_loss(b: float, n: int) -> float:
    """The market maker's worst loss b·ln n (§15.5), reached when the outcome that happens had
    its price driven to 1 from the uniform start."""
    if n < 2:
        raise LmsrError("a market needs at least two outcomes")
    _check([0.0] * n, b)
    return b * math.log(n)


@dataclass(frozen=True)
class Quote:
    """What a trade of ``shares`` of ``outcome`` costs (``cost`` < 0: the trader receives
    −cost), its average price per share, and the prices before and after (§15.2)."""

    outcome: int
    shares: float
    cost: float
    prices_before: list[float]
    prices_after: list[float]

    @property
    def average_price(self) -> float:
        """cost / shares: between the prices before and after for outcome ``outcome``."""
        return self.cost / self.shares if self.shares else self.prices_before[self.outcome]


def quote(q: Sequence[float], b: float, k: int, shares: float) -> Quote:
    """The quote for buying (``shares`` > 0) or selling (< 0) shares of outcome k (§15.2)."""
    after = list(q)
    after[k] += shares
    return Quote(
        outcome=k,
        shares=shares,
        cost=trade_cost(q, b, k, shares),
        prices_before=prices(q, b),
        prices_after=prices(after, b),
    )
