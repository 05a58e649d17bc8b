"""Admin of the play-money markets: staff opt a tournament in and set each question's liquidity
b (with the market maker's worst loss b·ln n shown); both writes go through
``trading.services``. The ledger, trades, positions and settlements are read-only."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from trading.errors import TradingError
from trading.models import (
    Account,
    Entry,
    Market,
    Position,
    Settlement,
    TournamentMarkets,
    Trade,
    Transfer,
)
from trading.services import market_open, market_open_validate, tournament_markets_set
from web.admin.readonly import ReadOnlyAdmin


@admin.register(TournamentMarkets)
class TournamentMarketsAdmin(admin.ModelAdmin):
    list_display = ["tournament", "enabled", "starting_grant", "created_at"]
    raw_id_fields = ["tournament"]

    def save_model(self, request: HttpRequest, obj: TournamentMarkets, form, change: bool) -> None:
        saved = tournament_markets_set(
            tournament_id=obj.tournament_id, enabled=obj.enabled, starting_grant=obj.starting_grant
        )
        obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MarketForm(forms.ModelForm):
    class Meta:
        model = Market
        fields = ["question", "b"]
        help_texts = {
            "b": "Liquidity b. The market maker's worst loss is b·ln n (n outcomes): "
            "b·0.693 for yes/no, b·1.099 for three options. Fixed once the market has trades."
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        question, b = data.get("question"), data.get("b")
        if question is not None and b is not None:
            try:
                market_open_validate(question_id=question.pk, b=b)
            except TradingError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return data


@admin.register(Market)
class MarketAdmin(admin.ModelAdmin):
    form = MarketForm
    list_display = ["question", "b", "worst_loss", "trade_count", "created_at"]
    raw_id_fields = ["question"]
    readonly_fields = ["worst_loss", "q", "trade_count"]

    @admin.display(description="worst loss b·ln n")
    def worst_loss(self, obj: Market) -> str:
        if obj.pk is None or not obj.q:
            return "—"
        return f"{float(obj.b) * math.log(len(obj.q)):.2f}"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "question"] if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Market, form, change: bool) -> None:
        market = market_open(question_id=obj.question_id, b=obj.b)
        obj.pk = market.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["kind", "tournament", "user", "market", "balance"]
    list_filter = ["kind", "tournament"]
    search_fields = ["user__username"]


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    """Trades, transfers and entries are append-only (the models refuse edits too)."""

    list_display = ["created_at", "market", "sequence", "account", "outcome", "shares", "cost"]
    list_filter = ["market__question__tournament"]
    list_select_related = ["market__question", "account__user"]


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["pk", "kind", "tournament", "trade", "settlement", "created_at"]
    list_filter = ["kind"]


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "transfer", "account", "amount"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ["market", "account", "outcome", "shares", "cost"]


@admin.register(Settlement)
class SettlementAdmin(ReadOnlyAdmin):
    list_display = ["market", "resolution", "outcome", "created_at", "reversed_at"]
