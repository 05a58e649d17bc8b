"""The play-money market for people and trading bots (docs/methods.md §15): quote, trade,
positions, balances and your trade history, plus each market's public state and price history.

Every write goes through ``trading.services`` (the one door); domain errors are mapped to HTTP
by ``api.errors.exception_handler`` (404 market not found or not visible, 409 market not open,
balance too low or the quote moved past ``max_cost`` / ``min_shares``, 400 bad input).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.base import ApiViewMixin, visible_question
from api.errors import READ_ERRORS, ErrorSerializer, errors
from api.params import MAX_ID, param_int, param_text
from api.throttling import TradeThrottle
from trading import lmsr
from trading.models import Account, Market, Trade
from trading.services import (
    Order,
    TradeQuote,
    market_prices,
    market_quote,
    outcome_labels,
    positions_of,
    trades_execute,
)

MONEY = {"max_digits": 20, "decimal_places": 6, "required": False}


class OrderSerializer(serializers.Serializer):
    question = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    outcome = serializers.IntegerField(
        min_value=0, max_value=1000, help_text="Outcome index: yes/no 0 = YES, 1 = NO."
    )
    shares = serializers.DecimalField(**MONEY, help_text="Shares to buy (> 0) or sell (< 0).")  # type: ignore[arg-type]
    amount = serializers.DecimalField(
        **MONEY, help_text="Play money to spend (> 0), or to receive by selling (< 0)."
    )  # type: ignore[arg-type]
    target = serializers.DecimalField(
        **MONEY, help_text="Move this outcome's price to it, in (0, 1)."
    )  # type: ignore[arg-type]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [k for k in ("shares", "amount", "target") if attrs.get(k) is not None]
        if len(given) != 1:
            raise serializers.ValidationError("Give exactly one of shares, amount or target.")
        return attrs


class TradeRequestSerializer(OrderSerializer):
    max_cost = serializers.DecimalField(
        **MONEY, help_text="Refuse (409) if the trade would cost more (a sale: receive less)."
    )  # type: ignore[arg-type]
    min_shares = serializers.DecimalField(
        **MONEY, help_text="Refuse (409) if the trade would give fewer shares."
    )  # type: ignore[arg-type]


class QuoteSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    outcome = serializers.IntegerField()
    shares = serializers.DecimalField(max_digits=20, decimal_places=6)
    cost = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="Negative: what a sale receives."
    )
    average_price = serializers.FloatField()
    prices_before = serializers.ListField(child=serializers.FloatField())
    prices_after = serializers.ListField(child=serializers.FloatField())


class TradeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.IntegerField()
    sequence = serializers.IntegerField()
    outcome = serializers.IntegerField()
    shares = serializers.DecimalField(max_digits=20, decimal_places=6)
    cost = serializers.DecimalField(max_digits=20, decimal_places=6)
    prices = serializers.ListField(child=serializers.FloatField())
    time = serializers.DateTimeField()


class PositionSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    tournament = serializers.CharField()
    outcome = serializers.IntegerField()
    label = serializers.CharField()
    shares = serializers.DecimalField(max_digits=20, decimal_places=6)
    cost = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="Net play money paid for these shares."
    )
    price = serializers.FloatField(help_text="The outcome's current price.")
    value = serializers.FloatField(help_text="shares × price: what the position is worth now.")


class BalanceSerializer(serializers.Serializer):
    tournament = serializers.CharField()
    balance = serializers.DecimalField(max_digits=20, decimal_places=6)


class MarketSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    outcomes = serializers.ListField(child=serializers.CharField())
    b = serializers.DecimalField(max_digits=20, decimal_places=6)
    worst_loss = serializers.FloatField(help_text="The market maker's worst loss b·ln n.")
    prices = serializers.ListField(child=serializers.FloatField())
    trades = serializers.IntegerField()


def money(value: Decimal) -> str:
    """Play money and shares as exact decimal strings (six places): JSON numbers are floats."""
    return f"{value:f}"


def quote_data(quote: TradeQuote) -> dict[str, Any]:
    return {
        "question": quote.question_id,
        "outcome": quote.outcome,
        "shares": money(quote.shares),
        "cost": money(quote.cost),
        "average_price": quote.average_price,
        "prices_before": quote.prices_before,
        "prices_after": quote.prices_after,
    }


def trade_data(trade: Trade) -> dict[str, Any]:
    return {
        "id": trade.pk,
        "question": trade.market.question_id,
        "sequence": trade.sequence,
        "outcome": trade.outcome,
        "shares": money(trade.shares),
        "cost": money(trade.cost),
        "prices": trade.prices,
        "time": trade.created_at,
    }


ORDER_EXAMPLES = [
    OpenApiExample(
        "Spend 10 on YES", value={"question": 1, "outcome": 0, "amount": "10"}, request_only=True
    ),
    OpenApiExample(
        "Buy 50 shares of option A, at most 20",
        value={"question": 2, "outcome": 0, "shares": "50", "max_cost": "20"},
        request_only=True,
    ),
    OpenApiExample(
        "Move YES to 0.7", value={"question": 1, "outcome": 0, "target": "0.7"}, request_only=True
    ),
    OpenApiExample(
        "Sell 5 YES shares for at least 2",
        value={"question": 1, "outcome": 0, "shares": "-5", "max_cost": "-2"},
        request_only=True,
    ),
]
CONFLICT = OpenApiResponse(
    ErrorSerializer,
    description="The market is not open, the balance is too low, or the quote moved past "
    "max_cost / min_shares. Nothing was traded.",
)


class QuoteView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Quote a trade at the current prices (nothing is traded)",
        description="docs/methods.md §15.2–§15.4. Exactly one of shares, amount, target.",
        request=OrderSerializer,
        examples=[
            *ORDER_EXAMPLES[:3],
            OpenApiExample(
                "Quote",
                value={
                    "question": 1,
                    "outcome": 0,
                    "shares": "19.090282",
                    "cost": "9.999999",
                    "average_price": 0.523827,
                    "prices_before": [0.5, 0.5],
                    "prices_after": [0.547581, 0.452419],
                },
                response_only=True,
            ),
        ],
        responses={200: QuoteSerializer, **errors(400, 401, 404, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        data = OrderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = _order_from(data.validated_data)
        return Response(quote_data(market_quote(user=request.user, order=order)))


class TradesView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [TradeThrottle]
    parser_classes = [JSONParser]

    @extend_schema(
        summary="Your trades, newest first",
        parameters=[
            OpenApiParameter("question", int, description="Question id."),
            OpenApiParameter("tournament", str, description="Tournament slug."),
        ],
        responses={200: TradeSerializer(many=True), **errors(*READ_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        rows = (
            Trade.objects.filter(account__user=request.user)
            .select_related("market")
            .order_by("-created_at", "-id")
        )
        if (qid := param_int(request, "question", minimum=1, maximum=MAX_ID)) is not None:
            rows = rows.filter(market__question_id=qid)
        if slug := param_text(request, "tournament"):
            rows = rows.filter(account__tournament__slug=slug)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response([trade_data(t) for t in page or []])

    @extend_schema(
        summary="Trade: buy or sell shares by number, by amount, or to a target price",
        description=(
            "docs/methods.md §15. Exactly one of shares, amount, target; max_cost and "
            "min_shares refuse (409) a quote that moved. Or send a list of orders: a basket "
            "traded all together or not at all."
        ),
        request=TradeRequestSerializer,
        examples=ORDER_EXAMPLES,
        responses={201: TradeSerializer, 409: CONFLICT, **errors(400, 401, 404, 413, 429)},
    )
    def post(self, request: Request) -> Response:
        many = isinstance(request.data, list)
        data = TradeRequestSerializer(data=request.data, many=many)
        data.is_valid(raise_exception=True)
        rows = data.validated_data if many else [data.validated_data]
        orders = [_order_from(row) for row in rows]
        trades = trades_execute(user=request.user, orders=orders)
        body: Any = [trade_data(t) for t in trades] if many else trade_data(trades[0])
        return Response(body, status=status.HTTP_201_CREATED)


def _order_from(row: dict[str, Any]) -> Order:
    return Order(
        question_id=row["question"],
        outcome=row["outcome"],
        shares=row.get("shares"),
        amount=row.get("amount"),
        target=row.get("target"),
        max_cost=row.get("max_cost"),
        min_shares=row.get("min_shares"),
    )


class PositionsView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = None  # one row per outcome held: short, and a bot wants them all

    @extend_schema(
        summary="Your positions (shares held and net cost), valued at current prices",
        parameters=[OpenApiParameter("tournament", str, description="Tournament slug.")],
        responses={200: PositionSerializer(many=True), **errors(*READ_ERRORS)},
    )
    def get(self, request: Request) -> Response:
        rows = positions_of(user=request.user)
        if slug := param_text(request, "tournament"):
            rows = [p for p in rows if p.account.tournament.slug == slug]
        out = []
        for p in rows:
            question = p.market.question
            price = market_prices(p.market)[p.outcome]
            out.append(
                {
                    "question": question.pk,
                    "tournament": p.account.tournament.slug,
                    "outcome": p.outcome,
                    "label": outcome_labels(question)[p.outcome],
                    "shares": money(p.shares),
                    "cost": money(p.cost),
                    "price": price,
                    "value": float(p.shares) * price,
                }
            )
        return Response(out)


class BalancesView(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = None  # one row per tournament

    @extend_schema(
        summary="Your play-money balance in each tournament where you have traded",
        responses={200: BalanceSerializer(many=True), **errors(401, 429)},
    )
    def get(self, request: Request) -> Response:
        rows = Account.objects.filter(user=request.user, kind=Account.Kind.TRADER).select_related(
            "tournament"
        )
        return Response(
            [{"tournament": a.tournament.slug, "balance": money(a.balance)} for a in rows]
        )


class MarketView(ApiViewMixin, APIView):
    @extend_schema(
        summary="A question's market: liquidity, worst loss, current prices",
        responses={200: MarketSerializer, **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        question = visible_question(request, pk)
        market = Market.objects.filter(question=question).first()
        if market is None:
            raise NotFound("This question has no market.")
        return Response(
            {
                "question": question.pk,
                "outcomes": outcome_labels(question),
                "b": money(market.b),
                "worst_loss": lmsr.worst_loss(float(market.b), market.n),
                "prices": market_prices(market),
                "trades": market.trade_count,
            }
        )


class MarketHistorySerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    time = serializers.DateTimeField()
    prices = serializers.ListField(child=serializers.FloatField())


class MarketHistoryView(ApiViewMixin, APIView):
    @extend_schema(
        summary="A market's price history: one point per trade, oldest first (no traders)",
        responses={200: MarketHistorySerializer(many=True), **errors(*READ_ERRORS)},
    )
    def get(self, request: Request, pk: int) -> Response:
        question = visible_question(request, pk)
        market = Market.objects.filter(question=question).first()
        if market is None:
            raise NotFound("This question has no market.")
        rows = market.trades.order_by("sequence").values("sequence", "created_at", "prices")
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(
            [
                {"sequence": r["sequence"], "time": r["created_at"], "prices": r["prices"]}
                for r in page or []
            ]
        )
