"""The trade panel, quote-then-confirm flow and portfolio page (web/views/trading.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from markets.models import Tournament
from markets.resolution.manual import question_resolve
from tests.factories import TournamentFactory, UserFactory
from tests.trading.conftest import make_market
from trading.models import Account, Trade
from trading.services import Order, market_settle, trade_execute

pytestmark = pytest.mark.django_db


def test_question_page_shows_the_market_and_the_quote_comes_before_the_trade(client) -> None:
    question, _ = make_market()
    page = client.get(question.get_absolute_url())
    assert (
        "Play-money market" in page.content.decode() and "worst loss 69.31" in page.content.decode()
    )
    client.force_login(UserFactory())
    quote = client.get(
        reverse("trade-quote", args=[question.pk]),
        {"outcome": "0", "mode": "buy_amount", "value": "10"},
    )
    assert quote.status_code == 200
    body = quote.content.decode()
    assert "19.090282" in body and "Confirm" in body
    assert not Trade.objects.exists()  # a quote trades nothing
    done = client.post(
        reverse("trade-confirm", args=[question.pk]),
        {"outcome": "0", "shares": "19.090282", "max_cost": quote.context["quote"].cost},
        follow=True,
    )
    assert "Bought 19.090282 shares of Yes" in done.content.decode()
    assert "Your balance" in done.content.decode()
    assert Trade.objects.count() == 1


def test_a_quote_that_moved_is_refused_on_confirm(client) -> None:
    question, _ = make_market()
    user = UserFactory()
    client.force_login(user)
    quote = client.get(
        reverse("trade-quote", args=[question.pk]),
        {"outcome": "0", "mode": "buy_shares", "value": "20"},
    ).context["quote"]
    trade_execute(user=UserFactory(), order=Order(question_id=question.pk, outcome=0, shares="50"))
    done = client.post(
        reverse("trade-confirm", args=[question.pk]),
        {"outcome": "0", "shares": str(quote.shares), "max_cost": str(quote.cost)},
        follow=True,
    )
    assert "The price moved" in done.content.decode()
    assert not Trade.objects.filter(account__user=user).exists()


@pytest.mark.parametrize(
    "params",
    [
        {"outcome": "0", "mode": "buy_shares", "value": "abc"},
        {"outcome": "x", "mode": "buy_shares", "value": "1"},
        {"outcome": "0", "mode": "nope", "value": "1"},
        {"outcome": "0", "mode": "sell_shares", "value": "5"},
        {"outcome": "0", "mode": "target", "value": "2"},
    ],
)
def test_bad_panel_input_is_a_message_not_a_500(client, params) -> None:
    question, _ = make_market()
    client.force_login(UserFactory())
    page = client.get(reverse("trade-quote", args=[question.pk]), params, follow=True)
    assert page.status_code == 200
    assert "Nothing was traded." in page.content.decode()


def test_private_market_pages_are_404_for_outsiders(client) -> None:
    private = TournamentFactory(visibility=Tournament.Visibility.PRIVATE)
    question, _ = make_market(tournament=private)
    client.force_login(UserFactory())
    quote = client.get(
        reverse("trade-quote", args=[question.pk]),
        {"outcome": "0", "mode": "buy_shares", "value": "1"},
    )
    assert quote.status_code == 404
    confirm = client.post(
        reverse("trade-confirm", args=[question.pk]), {"outcome": "0", "shares": "1"}
    )
    assert confirm.status_code == 404


def test_portfolio_shows_unrealised_and_realised_profit(client) -> None:
    user = UserFactory()
    open_q, _ = make_market()
    settled_q, _ = make_market(tournament=open_q.tournament)
    trade_execute(user=user, order=Order(question_id=open_q.pk, outcome=0, shares="10"))
    bought = trade_execute(user=user, order=Order(question_id=settled_q.pk, outcome=1, shares="10"))
    question_resolve(question_id=settled_q.pk, outcome="no", reason="x")
    market_settle(question_id=settled_q.pk)
    client.force_login(user)
    page = client.get(reverse("portfolio"))
    rows = {r["question"].pk: r for r in page.context["rows"]}
    assert rows[settled_q.pk]["paid"] == Decimal("10")
    assert rows[settled_q.pk]["profit"] == pytest.approx(float(10 - bought.cost))
    assert "unrealised" in page.content.decode() and "realised" in page.content.decode()
    balance = Account.objects.get(user=user).balance
    assert f"{balance:.2f}" in page.content.decode()


def test_the_question_chart_draws_the_market_price_beside_the_crowd(client) -> None:
    question, _ = make_market()
    assert "market price" not in client.get(question.get_absolute_url()).content.decode()
    trade_execute(user=UserFactory(), order=Order(question_id=question.pk, outcome=0, target="0.7"))
    body = client.get(question.get_absolute_url()).content.decode()
    assert "market price" in body and 'class="line market"' in body


def test_market_leaderboard_ranks_traders_by_profit_beside_the_scoring_one(client) -> None:
    question, _ = make_market()
    winner, loser = UserFactory(username="winner"), UserFactory(username="loser")
    trade_execute(user=winner, order=Order(question_id=question.pk, outcome=0, shares="40"))
    trade_execute(user=loser, order=Order(question_id=question.pk, outcome=1, shares="40"))
    question_resolve(question_id=question.pk, outcome="yes", reason="x")
    market_settle(question_id=question.pk)
    slug = question.tournament.slug
    scoring = client.get(reverse("leaderboard", args=[slug])).content.decode()
    assert reverse("market-leaderboard", args=[slug]) in scoring
    page = client.get(reverse("market-leaderboard", args=[slug]))
    rows = page.context["rows"]
    assert [r.user.username for r in rows] == ["winner", "loser"]
    assert rows[0].profit > 0
    assert rows[1].profit < 0
    private = TournamentFactory(visibility=Tournament.Visibility.PRIVATE)
    make_market(tournament=private)
    assert client.get(reverse("market-leaderboard", args=[private.slug])).status_code == 404
