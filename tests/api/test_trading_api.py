"""The trading API (api/trading.py): quote, trade, basket, positions, balances, history, the
market's public state, errors and throttling (docs/methods.md §15)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from markets.models import Tournament
from tests.api.conftest import token_client
from tests.factories import TournamentFactory, UserFactory
from tests.trading.conftest import make_market
from trading.models import Trade
from trading.services import ledger_verify

pytestmark = pytest.mark.django_db
QUOTE = "/api/v1/trading/quote/"
TRADES = "/api/v1/trading/trades/"


def test_quote_then_trade_then_positions_balance_and_history() -> None:
    question, _ = make_market()
    bot = token_client(UserFactory())
    quote = bot.post(QUOTE, {"question": question.pk, "outcome": 0, "amount": "10"}, format="json")
    assert quote.status_code == 200, quote.content
    assert quote.json()["shares"] == "19.090282"
    assert quote.json()["prices_after"][0] == pytest.approx(0.547581, abs=1e-6)
    trade = bot.post(
        TRADES,
        {"question": question.pk, "outcome": 0, "amount": "10", "max_cost": "10"},
        format="json",
    )
    assert trade.status_code == 201, trade.content
    assert trade.json()["sequence"] == 1
    positions = bot.get("/api/v1/trading/positions/").json()
    assert positions[0]["shares"] == "19.090282" and positions[0]["label"] == "Yes"
    balances = bot.get("/api/v1/trading/balances/").json()
    assert Decimal(balances[0]["balance"]) == Decimal("1000") - Decimal(trade.json()["cost"])
    history = bot.get(TRADES, {"question": question.pk}).json()
    assert [t["id"] for t in history["results"]] == [trade.json()["id"]]
    market = bot.get(f"/api/v1/questions/{question.pk}/market/").json()
    assert market["worst_loss"] == pytest.approx(69.314718, abs=1e-6)
    assert market["trades"] == 1
    points = bot.get(f"/api/v1/questions/{question.pk}/market/history/").json()["results"]
    assert [p["sequence"] for p in points] == [1]
    assert "account" not in points[0] and "user" not in points[0]


def test_a_basket_is_traded_all_together() -> None:
    first, _ = make_market()
    second, _ = make_market(tournament=first.tournament)
    bot = token_client(UserFactory())
    body = [
        {"question": first.pk, "outcome": 0, "shares": "5"},
        {"question": second.pk, "outcome": 1, "target": "0.6"},
    ]
    response = bot.post(TRADES, body, format="json")
    assert response.status_code == 201, response.content
    assert len(response.json()) == 2
    body[1]["target"] = "0.7"
    body.append({"question": second.pk, "outcome": 1, "amount": "5000"})  # beyond the balance
    assert bot.post(TRADES, body, format="json").status_code == 409
    assert Trade.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"outcome": 0, "shares": "1"}, 400),
        ({"outcome": 0}, 400),
        ({"outcome": 0, "shares": "1", "amount": "1"}, 400),
        ({"outcome": 0, "shares": "x"}, 400),
        ({"outcome": 7, "shares": "1"}, 400),
        ({"outcome": 0, "target": "1.5"}, 400),
        ({"outcome": 0, "shares": "1.0000001"}, 400),
        ({"outcome": 0, "shares": "-5"}, 400),  # selling shares not held
        ({"outcome": 0, "amount": "5000"}, 409),  # balance
        ({"outcome": 0, "shares": "10", "max_cost": "1"}, 409),  # slippage
    ],
)
def test_bad_trades_answer_4xx_and_write_nothing(body, code) -> None:
    question, _ = make_market()
    bot = token_client(UserFactory())
    if "outcome" in body and "question" not in body and body != {"outcome": 0, "shares": "1"}:
        body = {"question": question.pk, **body}
    response = bot.post(TRADES, body, format="json")
    assert response.status_code == code, response.content
    assert not Trade.objects.exists()
    assert ledger_verify() == []


def test_private_market_is_404_for_outsiders_and_anonymous_cannot_trade() -> None:
    private = TournamentFactory(visibility=Tournament.Visibility.PRIVATE)
    question, _ = make_market(tournament=private)
    outsider = token_client(UserFactory())
    body = {"question": question.pk, "outcome": 0, "shares": "1"}
    assert outsider.post(TRADES, body, format="json").status_code == 404
    assert outsider.post(QUOTE, body, format="json").status_code == 404
    assert outsider.get(f"/api/v1/questions/{question.pk}/market/").status_code == 404
    from rest_framework.test import APIClient

    assert APIClient().post(TRADES, body, format="json").status_code in (401, 403)


def test_trades_are_throttled_per_user(settings) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "trade": "2/min",
        },
    }
    question, _ = make_market()
    bot = token_client(UserFactory())
    body = {"question": question.pk, "outcome": 0, "shares": "1"}
    codes = [bot.post(TRADES, body, format="json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert bot.get(TRADES).status_code == 200  # reading is not a trade


def test_schema_documents_the_trading_endpoints() -> None:
    schema = token_client(UserFactory()).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    assert "/api/v1/trading/trades/" in paths and "/api/v1/trading/quote/" in paths
    examples = paths["/api/v1/trading/trades/"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert "MoveYESTo0.7" in examples
