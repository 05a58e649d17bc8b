"""The trading service (trading.services): grants, quotes, trades, refusals, the append-only
ledger and its verification (docs/methods.md §15)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from markets.models import Tournament
from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from tests.trading.conftest import make_market
from trading import services
from trading.errors import (
    InsufficientBalance,
    MarketNotFound,
    MarketNotOpen,
    SlippageExceeded,
    TradingError,
)
from trading.models import Account, AppendOnlyError, Entry, Position, Trade, Transfer
from trading.services import Order, ledger_verify, market_quote, trade_execute, trades_execute

pytestmark = pytest.mark.django_db


def balance(user, question) -> Decimal:
    return Account.objects.get(user=user, tournament_id=question.tournament_id).balance


def test_spend_10_on_yes_through_the_service(market_question, trader) -> None:
    order = Order(question_id=market_question.pk, outcome=0, amount="10")
    quote = market_quote(user=trader, order=order)
    assert quote.shares == Decimal("19.090282")  # 19.0902827… rounded toward zero (§15.6)
    assert quote.cost <= Decimal("10") and quote.cost > Decimal("9.99999")
    assert quote.prices_after[0] == pytest.approx(0.547581, abs=1e-6)
    trade = trade_execute(user=trader, order=order)
    assert trade.sequence == 1 and trade.shares == quote.shares and trade.cost == quote.cost
    assert balance(trader, market_question) == Decimal("1000") - quote.cost
    assert ledger_verify() == []


def test_move_the_price_to_seven_tenths(market_question, trader) -> None:
    trade = trade_execute(
        user=trader, order=Order(question_id=market_question.pk, outcome=0, target="0.7")
    )
    assert trade.shares == Decimal("84.729786")
    assert trade.cost == pytest.approx(Decimal("51.082562"), abs=Decimal("0.000002"))
    assert trade.prices[0] == pytest.approx(0.7, abs=1e-6)


def test_first_trade_opens_the_account_with_the_starting_grant(market_question, trader) -> None:
    trade_execute(user=trader, order=Order(question_id=market_question.pk, outcome=1, shares="5"))
    grant = Transfer.objects.get(kind=Transfer.Kind.GRANT)
    assert sorted(e.amount for e in grant.entries.all()) == [Decimal("-1000"), Decimal("1000")]


def test_sell_returns_money_and_cannot_exceed_the_position(market_question, trader) -> None:
    trade_execute(user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="10"))
    with pytest.raises(TradingError, match="cannot sell more"):
        trade_execute(
            user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="-11")
        )
    sale = trade_execute(
        user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="-10")
    )
    assert sale.cost < 0
    # Round trip: rounding never favours the trader.
    assert balance(trader, market_question) <= Decimal("1000")
    assert Position.objects.get(outcome=0).shares == 0
    assert ledger_verify() == []


def test_a_moved_quote_is_refused_by_the_slippage_limits(market_question, trader) -> None:
    other = UserFactory()
    order = Order(question_id=market_question.pk, outcome=0, shares="50")
    quote = market_quote(user=trader, order=order)
    trade_execute(user=other, order=Order(question_id=market_question.pk, outcome=0, shares="80"))
    with pytest.raises(SlippageExceeded):
        trade_execute(
            user=trader,
            order=Order(
                question_id=market_question.pk, outcome=0, shares="50", max_cost=quote.cost
            ),
        )
    amount_quote = market_quote(
        user=trader, order=Order(question_id=market_question.pk, outcome=0, amount="20")
    )
    trade_execute(user=other, order=Order(question_id=market_question.pk, outcome=0, shares="80"))
    with pytest.raises(SlippageExceeded):
        trade_execute(
            user=trader,
            order=Order(
                question_id=market_question.pk,
                outcome=0,
                amount="20",
                min_shares=amount_quote.shares,
            ),
        )
    assert not Trade.objects.filter(account__user=trader).exists()


def test_insufficient_balance_is_refused_and_writes_nothing(trader) -> None:
    question, _ = make_market(grant="5")
    with pytest.raises(InsufficientBalance):
        trade_execute(user=trader, order=Order(question_id=question.pk, outcome=0, amount="6"))
    assert not Trade.objects.exists()
    assert ledger_verify() == []


def test_closed_and_settled_markets_refuse_trades(trader) -> None:
    question, _ = make_market(close_time=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(MarketNotOpen):
        trade_execute(user=trader, order=Order(question_id=question.pk, outcome=0, shares="1"))
    from markets.resolution.manual import question_resolve

    open_q, _ = make_market()
    question_resolve(question_id=open_q.pk, outcome="yes", reason="known")
    with pytest.raises(MarketNotOpen):
        trade_execute(user=trader, order=Order(question_id=open_q.pk, outcome=0, shares="1"))


def test_a_private_question_is_not_found_for_outsiders(trader) -> None:
    private = TournamentFactory(visibility=Tournament.Visibility.PRIVATE)
    question, _ = make_market(tournament=private)
    order = Order(question_id=question.pk, outcome=0, shares="1")
    with pytest.raises(MarketNotFound):
        market_quote(user=trader, order=order)
    with pytest.raises(MarketNotFound):
        trade_execute(user=trader, order=order)
    private.members.add(trader)
    assert trade_execute(user=trader, order=order).shares == 1


@pytest.mark.parametrize(
    "order",
    [
        dict(outcome=2, shares="1"),
        dict(outcome=0),
        dict(outcome=0, shares="1", amount="1"),
        dict(outcome=0, shares="abc"),
        dict(outcome=0, shares="nan"),
        dict(outcome=0, shares="1e30"),
        dict(outcome=0, target="1"),
        dict(outcome=0, shares="0.0000001"),
        dict(outcome=0, amount="-100"),  # a sale of shares not held
        dict(outcome="0", shares="1"),
    ],
)
def test_bad_orders_raise_trading_errors_and_write_nothing(market_question, trader, order) -> None:
    with pytest.raises(TradingError):
        trade_execute(user=trader, order=Order(question_id=market_question.pk, **order))
    assert not Trade.objects.exists()


def test_markets_only_on_yes_no_and_multiple_choice_of_opted_in_tournaments(db) -> None:
    plain = QuestionFactory()
    with pytest.raises(TradingError, match="opted in"):
        services.market_open(question_id=plain.pk, b="100")
    services.tournament_markets_set(tournament_id=plain.tournament_id)
    numeric = QuestionFactory(
        tournament=plain.tournament, type="numeric", range_min=0.0, range_max=1.0
    )
    with pytest.raises(TradingError, match="yes/no and multiple-choice"):
        services.market_open(question_id=numeric.pk, b="100")
    with pytest.raises(TradingError):
        services.market_open(question_id=plain.pk, b="0")
    choice = QuestionFactory(
        tournament=plain.tournament, type="multiple_choice", options=["A", "B", "C"]
    )
    market = services.market_open(question_id=choice.pk, b="100")
    assert market.q == ["0", "0", "0"]
    quote = market_quote(
        user=UserFactory(), order=Order(question_id=choice.pk, outcome=0, shares="50")
    )
    assert quote.cost == Decimal("19.576449")  # 19.576448… rounded up (§15.6)
    assert quote.worst_loss == pytest.approx(109.861229, abs=1e-6)


def test_liquidity_is_fixed_once_traded(market_question, trader) -> None:
    services.market_open(question_id=market_question.pk, b="50")
    trade_execute(user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="1"))
    with pytest.raises(TradingError, match="Liquidity"):
        services.market_open(question_id=market_question.pk, b="200")


def test_ledger_rows_are_never_edited_or_deleted(market_question, trader) -> None:
    trade = trade_execute(
        user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="3")
    )
    entry = Entry.objects.first()
    assert entry is not None
    entry.amount = Decimal("5")
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        Entry.objects.all().update(amount=0)
    with pytest.raises(AppendOnlyError):
        Transfer.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        trade.delete()


def test_verify_ledger_finds_a_tampered_cached_balance(market_question, trader) -> None:
    trade_execute(user=trader, order=Order(question_id=market_question.pk, outcome=0, shares="3"))
    call_command("verify_ledger")
    Account.objects.filter(user=trader).update(balance=Decimal("999999"))
    Position.objects.filter(outcome=0).update(shares=Decimal("4"))
    with pytest.raises(CommandError, match="2 ledger problem"):
        call_command("verify_ledger")


def test_a_basket_is_all_or_nothing(trader) -> None:
    first, _ = make_market()
    second, _ = make_market(tournament=first.tournament)
    with pytest.raises(InsufficientBalance):
        trades_execute(
            user=trader,
            orders=[
                Order(question_id=second.pk, outcome=0, amount="600"),
                Order(question_id=first.pk, outcome=1, amount="600"),
            ],
        )
    assert not Trade.objects.exists()
    trades = trades_execute(
        user=trader,
        orders=[
            Order(question_id=second.pk, outcome=0, amount="400"),
            Order(question_id=first.pk, outcome=1, amount="400"),
        ],
    )
    assert [t.market.question_id for t in trades] == [second.pk, first.pk]
    assert ledger_verify() == []
