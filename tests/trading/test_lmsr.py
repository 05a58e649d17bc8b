"""The LMSR math (trading.lmsr, docs/methods.md §15): SPEC.md reference values and properties."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading import lmsr

B = 100.0


def test_spend_10_on_yes_at_one_half() -> None:
    x = lmsr.shares_for_cost([0.0, 0.0], B, 0, 10.0)
    assert x == pytest.approx(19.090283, abs=1e-6)
    assert lmsr.prices([x, 0.0], B)[0] == pytest.approx(0.547581, abs=1e-6)
    assert lmsr.trade_cost([0.0, 0.0], B, 0, x) == pytest.approx(10.0, abs=1e-9)


def test_binary_from_one_half_to_seven_tenths() -> None:
    x = lmsr.shares_to_price([0.0, 0.0], B, 0, 0.7)
    assert x == pytest.approx(84.729786, abs=1e-6)
    assert lmsr.trade_cost([0.0, 0.0], B, 0, x) == pytest.approx(51.082562, abs=1e-6)
    assert lmsr.prices([x, 0.0], B)[0] == pytest.approx(0.7, abs=1e-12)


def test_worst_loss_binary_and_three_outcomes() -> None:
    assert lmsr.worst_loss(B, 2) == pytest.approx(69.314718, abs=1e-6)
    assert lmsr.worst_loss(B, 3) == pytest.approx(109.861229, abs=1e-6)


def test_three_outcomes_buy_50_of_a() -> None:
    q = lmsr.quote([0.0, 0.0, 0.0], B, 0, 50.0)
    assert q.cost == pytest.approx(19.576448, abs=1e-6)
    assert q.prices_after == pytest.approx([0.451863, 0.274069, 0.274069], abs=1e-6)
    assert q.prices_before[0] < q.average_price < q.prices_after[0]


def test_sale_receives_money_and_lowers_the_price() -> None:
    q = lmsr.quote([50.0, 0.0], B, 0, -20.0)
    assert q.cost < 0
    assert q.prices_after[0] < q.prices_before[0]
    # Selling for an amount inverts the cost of the sale.
    x = lmsr.shares_for_cost([50.0, 0.0], B, 0, q.cost)
    assert x == pytest.approx(-20.0, abs=1e-9)


def test_a_sale_beyond_what_the_market_can_pay_is_refused() -> None:
    # At p = 0.5 the market pays at most b·ln 2 for any sale of the outcome.
    with pytest.raises(lmsr.LmsrError):
        lmsr.shares_for_cost([0.0, 0.0], B, 0, -B * math.log(2) - 1)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (lmsr.cost, ([0.0, 0.0], 0.0)),
        (lmsr.cost, ([0.0], 1.0)),
        (lmsr.trade_cost, ([0.0, 0.0], 1.0, 2, 1.0)),
        (lmsr.shares_to_price, ([0.0, 0.0], 1.0, 0, 1.0)),
        (lmsr.shares_to_price, ([0.0, 0.0], 1.0, 0, 0.0)),
        (lmsr.shares_for_cost, ([0.0, 0.0], 1.0, 0, math.inf)),
        (lmsr.worst_loss, (1.0, 1)),
    ],
)
def test_bad_input_raises_lmsr_error(call, args) -> None:
    with pytest.raises(lmsr.LmsrError):
        call(*args)


def test_no_overflow_at_extreme_prices() -> None:
    q = [1e6, 0.0, -1e6]
    p = lmsr.prices(q, 1.0)
    assert p == [1.0, 0.0, 0.0]
    assert math.isfinite(lmsr.cost(q, 1.0))
    assert lmsr.log_prices(q, 1.0)[2] == pytest.approx(-2e6)
    assert lmsr.trade_cost(q, 1.0, 2, 5.0) == pytest.approx(0.0, abs=1e-300)
    assert lmsr.trade_cost(q, 1.0, 0, 5.0) == pytest.approx(5.0)
    x = lmsr.shares_to_price(q, 1.0, 2, 0.5)
    assert x == pytest.approx(2e6, rel=1e-12)
    assert math.isfinite(lmsr.shares_for_cost(q, 1.0, 2, 1e5))


quantities = st.lists(
    st.floats(min_value=-1e4, max_value=1e4, allow_nan=False), min_size=2, max_size=6
)
liquidity = st.floats(min_value=1.0, max_value=1e3)


@given(q=quantities, b=liquidity)
def test_prices_sum_to_one(q, b) -> None:
    assert math.fsum(lmsr.prices(q, b)) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=200)
@given(
    n=st.integers(min_value=2, max_value=5),
    b=liquidity,
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4), st.floats(min_value=-500, max_value=500)),
        min_size=1,
        max_size=20,
    ),
)
def test_path_independence(n, b, steps) -> None:
    """Any sequence of trades that ends at q costs what one move 0 → q costs: C(q) − C(0)."""
    q = [0.0] * n
    paid = []
    for k, x in steps:
        k %= n
        paid.append(lmsr.trade_cost(q, b, k, x))
        q[k] += x
    assert math.fsum(paid) == pytest.approx(
        lmsr.cost(q, b) - lmsr.cost([0.0] * n, b), abs=1e-7 * (1 + sum(abs(x) for x in q))
    )


@settings(max_examples=200)
@given(
    n=st.integers(min_value=2, max_value=5),
    b=liquidity,
    steps=st.lists(
        st.tuples(st.integers(min_value=0, max_value=4), st.floats(min_value=-1e4, max_value=1e4)),
        max_size=20,
    ),
)
def test_market_maker_never_loses_more_than_b_ln_n(n, b, steps) -> None:
    """Whatever was traded and whichever outcome happens: collected − paid out ≥ −b·ln n."""
    q = [0.0] * n
    collected = 0.0
    for k, x in steps:
        k %= n
        collected += lmsr.trade_cost(q, b, k, x)
        q[k] += x
    # Shares may be negative only relative to the start; payout is the winner's net shares.
    for winner in range(n):
        assert collected - q[winner] >= -lmsr.worst_loss(b, n) - 1e-6 * (1 + abs(q[winner]))


@given(
    q=quantities,
    b=liquidity,
    k=st.integers(min_value=0, max_value=5),
    amount=st.floats(min_value=0.01, max_value=1e4),
)
def test_shares_for_cost_inverts_trade_cost(q, b, k, amount) -> None:
    k %= len(q)
    x = lmsr.shares_for_cost(q, b, k, amount)
    assert x > 0
    assert lmsr.trade_cost(q, b, k, x) == pytest.approx(amount, rel=1e-7, abs=1e-7)


@given(
    q=quantities,
    b=liquidity,
    k=st.integers(min_value=0, max_value=5),
    target=st.floats(min_value=1e-6, max_value=1 - 1e-6),
)
def test_shares_to_price_reaches_the_target(q, b, k, target) -> None:
    k %= len(q)
    x = lmsr.shares_to_price(q, b, k, target)
    after = list(q)
    after[k] += x
    assert math.exp(lmsr.log_prices(after, b)[k]) == pytest.approx(target, rel=1e-6)
