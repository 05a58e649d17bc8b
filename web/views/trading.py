"""The play-money market on the website: the trade panel on the question page, the quote page
(shown before confirming), the confirmation, and the portfolio (docs/methods.md §15).

Every write goes through ``trading.services``; the confirmation carries the quote's cost and
shares as ``max_cost`` / ``min_shares``, so a price that moved in between is refused, never
silently worse.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from markets.models import Question
from trading import lmsr
from trading.errors import TradingError
from trading.models import Account, Market, Position, Settlement, Transfer
from trading.services import (
    Order,
    market_prices,
    market_quote,
    outcome_labels,
    positions_of,
    trade_execute,
)

MODES = {
    "buy_amount": "Spend an amount",
    "buy_shares": "Buy shares",
    "sell_shares": "Sell shares",
    "target": "Move the price to",
}


def market_panel(request: HttpRequest, question: Question) -> dict[str, Any] | None:
    """What the question page shows of the market: prices per outcome, b and the worst loss,
    and for a logged-in trader their balance and position. None without a market."""
    market = Market.objects.filter(question=question).first()
    if market is None:
        return None
    labels = outcome_labels(question)
    prices = market_prices(market)
    panel: dict[str, Any] = {
        "market": market,
        "outcomes": list(zip(range(len(labels)), labels, prices, strict=True)),
        "worst_loss": lmsr.worst_loss(float(market.b), market.n),
        "modes": MODES,
        "settled": Settlement.objects.filter(market=market, reversed_at__isnull=True).exists(),
        "open": question.is_open_at(_now()),
    }
    if request.user.is_authenticated:
        account = Account.objects.filter(
            user=request.user, tournament_id=question.tournament_id, kind=Account.Kind.TRADER
        ).first()
        panel["balance"] = account.balance if account else None
        panel["positions"] = (
            [
                (labels[p.outcome], p.shares, p.cost)
                for p in Position.objects.filter(market=market, account=account).exclude(
                    shares=0, cost=0
                )
            ]
            if account
            else []
        )
    return panel


def _now():
    from django.utils import timezone

    return timezone.now()


def _order(question: Question, data: Any) -> Order:
    mode = data.get("mode", "")
    raw = (data.get("value") or "").strip()
    try:
        outcome = int(data.get("outcome", ""))
    except ValueError:
        raise TradingError("Choose an outcome.") from None
    if mode not in MODES:
        raise TradingError("Choose what to do: spend, buy, sell, or move the price.")
    if not raw:
        raise TradingError("Enter a number.")
    if mode == "target":
        return Order(question_id=question.pk, outcome=outcome, target=raw)
    if mode == "buy_amount":
        return Order(question_id=question.pk, outcome=outcome, amount=raw)
    sign = "-" if mode == "sell_shares" else ""
    if raw.startswith(("-", "+")):
        raise TradingError("Enter a positive number of shares.")
    return Order(question_id=question.pk, outcome=outcome, shares=sign + raw)


def _question(request: HttpRequest, pk: int) -> Question:
    question = Question.objects.visible_one(request.user, pk)
    if question is None:
        raise Http404("No such question.")
    return question


@login_required
def trade_quote_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The quote for the panel's order at the current prices, with a confirm button."""
    question = _question(request, pk)
    try:
        order = _order(question, request.GET)
        quote = market_quote(user=request.user, order=order)
    except TradingError as exc:
        messages.error(request, f"{exc} Nothing was traded.")
        return redirect(question)
    labels = outcome_labels(question)
    context = {
        "question": question,
        "quote": quote,
        "label": labels[quote.outcome],
        "rows": list(zip(labels, quote.prices_before, quote.prices_after, strict=True)),
        "receive": -quote.cost if quote.cost < 0 else None,
    }
    return render(request, "trading/quote.html", context)


@require_POST
@login_required
def trade_confirm_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Execute the quoted trade, refusing it if the price moved past the quote."""
    question = _question(request, pk)
    data = request.POST
    try:
        order = Order(
            question_id=question.pk,
            outcome=int(data.get("outcome", "-1")),
            shares=data.get("shares"),
            max_cost=data.get("max_cost"),
            min_shares=data.get("shares") if Decimal(data.get("shares") or "0") > 0 else None,
        )
        trade = trade_execute(user=request.user, order=order)
    except (TradingError, ArithmeticError, ValueError) as exc:
        messages.error(request, f"{exc} Nothing was traded.")
        return redirect(question)
    verb = "Bought" if trade.shares > 0 else "Sold"
    messages.success(
        request,
        f"{verb} {abs(trade.shares)} shares of {outcome_labels(question)[trade.outcome]} "
        f"for {abs(trade.cost)}.",
    )
    return redirect(question)


@login_required
def portfolio(request: HttpRequest) -> HttpResponse:
    """Your balances and positions: per market the net cost, the value at current prices
    (unrealised profit) or what settlement paid (realised profit)."""
    accounts = Account.objects.filter(user=request.user, kind=Account.Kind.TRADER).select_related(
        "tournament"
    )
    by_market: dict[int, dict[str, Any]] = {}
    for p in positions_of(user=request.user):
        market = p.market
        row = by_market.setdefault(
            market.pk,
            {
                "question": market.question,
                "tournament": p.account.tournament,
                "holdings": [],
                "cost": Decimal(0),
                "value": 0.0,
                "settled": None,
                "paid": Decimal(0),
                "prices": market_prices(market),
                "account": p.account,
            },
        )
        label = outcome_labels(market.question)[p.outcome]
        row["holdings"].append((label, p.shares))
        row["cost"] += p.cost
        row["value"] += float(p.shares) * row["prices"][p.outcome]
    for market_id, row in by_market.items():
        active = Settlement.objects.filter(market_id=market_id, reversed_at__isnull=True).first()
        if active is not None:
            row["settled"] = active
            paid = Decimal(0)
            for transfer in Transfer.objects.filter(settlement=active).exclude(
                kind=Transfer.Kind.REVERSAL
            ):
                for entry in transfer.entries.filter(account=row["account"]):
                    paid += entry.amount
            row["paid"] = paid
            row["profit"] = float(paid - row["cost"])
        else:
            row["profit"] = row["value"] - float(row["cost"])
    context = {
        "accounts": accounts,
        "rows": sorted(by_market.values(), key=lambda r: (r["settled"] is not None, -r["value"])),
    }
    return render(request, "trading/portfolio.html", context)


def market_leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    """A tournament's traders by play-money profit (beside the scoring leaderboard)."""
    from markets.models import Tournament
    from trading.models import TournamentMarkets
    from trading.services import profit_leaderboard

    tournament = Tournament.objects.visible_to(request.user).filter(slug=slug).first()
    if tournament is None or not TournamentMarkets.objects.filter(tournament=tournament).exists():
        raise Http404("No markets in this tournament.")
    rows = profit_leaderboard(tournament_id=tournament.pk)
    return render(request, "trading/leaderboard.html", {"tournament": tournament, "rows": rows})
