"""Play-money markets: tournament opt-in, one market per question, accounts, the double-entry
ledger, trades, cached positions and settlements (docs/methods.md §15).

Writes go through ``trading.services`` only. Ledger entries, transfers and trades are
append-only: ``save`` refuses to update a stored row and ``delete`` refuses outright, on the
instance and on the queryset (``AppendOnlyQuerySet``); the admin shows them read-only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from markets.models import Question, Resolution, Tournament

ZERO = Decimal("0")


class AppendOnlyError(Exception):
    """An attempt to edit or delete a row of the append-only ledger."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are never edited")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows are never deleted")


class AppendOnly(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are never edited")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{type(self).__name__} rows are never deleted")


class TournamentMarkets(models.Model):
    """A tournament's opt-in to play-money markets and its starting grant per trader."""

    tournament = models.OneToOneField(Tournament, on_delete=models.CASCADE, related_name="trading")
    enabled = models.BooleanField(default=True)
    starting_grant = models.DecimalField(
        max_digits=20,
        decimal_places=6,
        default=Decimal("1000"),
        help_text="Play money each trader starts with.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "tournament market settings"
        verbose_name_plural = "tournament market settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(starting_grant__gte=0), name="trading_grant_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"markets of {self.tournament}"


class Market(models.Model):
    """The LMSR market maker of one question: liquidity ``b`` and the shares sold per outcome
    ``q`` (decimal strings, docs/methods.md §15.1). Its row is the lock that serializes trades."""

    question = models.OneToOneField(Question, on_delete=models.CASCADE, related_name="market")
    b = models.DecimalField(
        max_digits=20,
        decimal_places=6,
        help_text="Liquidity b; the market maker's worst loss is b·ln n (§15.5).",
    )
    q = models.JSONField(default=list, help_text="Shares sold per outcome (decimal strings).")
    trade_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(b__gt=0), name="trading_b_positive")]

    def __str__(self) -> str:
        return f"market on {self.question}"

    @property
    def quantities(self) -> list[Decimal]:
        return [Decimal(x) for x in self.q]

    @property
    def n(self) -> int:
        return len(self.q)


class Account(models.Model):
    """A holder of play money: a trader in a tournament, a market's maker, or a tournament's
    bank (which pays the starting grants). ``balance`` caches the sum of its entries."""

    class Kind(models.TextChoices):
        TRADER = "trader", "Trader"
        MAKER = "maker", "Market maker"
        BANK = "bank", "Bank"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    tournament = models.ForeignKey(
        Tournament, on_delete=models.CASCADE, related_name="trading_accounts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="trading_accounts",
    )
    market = models.OneToOneField(
        Market, null=True, blank=True, on_delete=models.CASCADE, related_name="maker_account"
    )
    balance = models.DecimalField(max_digits=20, decimal_places=6, default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tournament", "user"],
                condition=Q(kind="trader"),
                name="trading_one_account_per_trader",
            ),
            models.UniqueConstraint(
                fields=["tournament"], condition=Q(kind="bank"), name="trading_one_bank"
            ),
            models.CheckConstraint(
                condition=(Q(kind="trader") & Q(user__isnull=False, market__isnull=True))
                | (Q(kind="maker") & Q(user__isnull=True, market__isnull=False))
                | (Q(kind="bank") & Q(user__isnull=True, market__isnull=True)),
                name="trading_account_owner",
            ),
        ]

    def __str__(self) -> str:
        owner = self.user or self.market or "bank"
        return f"{self.get_kind_display()} {owner} ({self.tournament_id})"


class Trade(AppendOnly):
    """One executed trade: ``shares`` of outcome ``outcome`` (negative: a sale) for ``cost``
    (negative: received). ``sequence`` numbers a market's trades 1, 2, … without gaps; ``prices``
    are the market's prices after the trade (the market's price history, a point per trade)."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="trades")
    sequence = models.PositiveIntegerField()
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="trades")
    outcome = models.PositiveSmallIntegerField()
    shares = models.DecimalField(max_digits=20, decimal_places=6)
    cost = models.DecimalField(max_digits=20, decimal_places=6)
    prices = models.JSONField(help_text="Prices of every outcome after the trade.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["market", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["market", "sequence"], name="trading_trade_sequence_unique"
            ),
            models.CheckConstraint(condition=~Q(shares=0), name="trading_trade_nonzero"),
        ]

    def __str__(self) -> str:
        return f"trade {self.market_id}#{self.sequence}"


class Settlement(models.Model):
    """A market settled for one final resolution version. At most one per market is active
    (``reversed_at`` empty): the key that makes settlement idempotent (§15.7)."""

    market = models.ForeignKey(Market, on_delete=models.PROTECT, related_name="settlements")
    resolution = models.ForeignKey(Resolution, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10)
    created_at = models.DateTimeField()
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["market"],
                condition=Q(reversed_at__isnull=True),
                name="trading_one_active_settlement",
            )
        ]

    def __str__(self) -> str:
        return f"settlement of {self.market_id} for {self.resolution_id}"


class Transfer(AppendOnly):
    """One movement of money: exactly two entries, −amount and +amount (double entry)."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Starting grant"
        TRADE = "trade", "Trade"
        PAYOUT = "payout", "Settlement payout"
        REFUND = "refund", "Annulment refund"
        REVERSAL = "reversal", "Reversal"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    tournament = models.ForeignKey(Tournament, on_delete=models.PROTECT, related_name="+")
    trade = models.OneToOneField(
        Trade, null=True, blank=True, on_delete=models.PROTECT, related_name="transfer"
    )
    settlement = models.ForeignKey(
        Settlement, null=True, blank=True, on_delete=models.PROTECT, related_name="transfers"
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class Entry(AppendOnly):
    """One side of a transfer: ``amount`` added to ``account`` (negative: taken out)."""

    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount = models.DecimalField(max_digits=20, decimal_places=6)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.amount:+} to {self.account_id}"


class Position(models.Model):
    """Cached: a trader's shares of one outcome and net cost paid, per market (sums of trades,
    verified by ``verify_ledger``)."""

    market = models.ForeignKey(Market, on_delete=models.CASCADE, related_name="positions")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="positions")
    outcome = models.PositiveSmallIntegerField()
    shares = models.DecimalField(max_digits=20, decimal_places=6, default=ZERO)
    cost = models.DecimalField(max_digits=20, decimal_places=6, default=ZERO)

    class Meta:
        ordering = ["market", "outcome"]
        constraints = [
            models.UniqueConstraint(
                fields=["market", "account", "outcome"], name="trading_position_unique"
            ),
            models.CheckConstraint(condition=Q(shares__gte=0), name="trading_no_short"),
        ]

    def __str__(self) -> str:
        return f"{self.shares} of {self.outcome} in {self.market_id}"
