"""The one door for every write of the play-money market (docs/methods.md §15): opt-in, market
opening and liquidity, accounts and grants, quotes, trades, settlement, and the ledger check.
Web views, API views, admin actions, commands and tasks all call these functions.

Lock order (no deadlock across questions): a tournament's bank row (only when an account is
opened, before anything else), then market rows in ascending id, then account rows in ascending
id. Every service that takes more than one lock takes them in that order.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from markets.models import Question, Resolution, Tournament
from trading import lmsr
from trading.errors import (
    InsufficientBalance,
    MarketNotFound,
    MarketNotOpen,
    SlippageExceeded,
    TradingError,
)
from trading.models import (
    ZERO,
    Account,
    Entry,
    Market,
    Position,
    Settlement,
    TournamentMarkets,
    Trade,
    Transfer,
)

UNIT = Decimal("0.000001")
MAX_AMOUNT = Decimal("1e12")
MARKET_TYPES = (Question.Type.BINARY, Question.Type.MULTIPLE_CHOICE)


def to_decimal(value: object, *, name: str) -> Decimal:
    """A finite decimal with at most six places from user input; TradingError otherwise."""
    if isinstance(value, bool) or value is None:
        raise TradingError(f"{name} must be a number.", field=name)
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise TradingError(f"{name} must be a number.", field=name) from exc
    if not number.is_finite() or abs(number) > MAX_AMOUNT:
        raise TradingError(f"{name} must be a finite number below 10¹².", field=name)
    return number.quantize(UNIT, rounding=ROUND_DOWN)


def _outcome_count(question: Question) -> int:
    return 2 if question.type == Question.Type.BINARY else len(question.options or [])


def outcome_labels(question: Question) -> list[str]:
    """Outcome names in market order: yes/no is [Yes, No]; multiple choice its options."""
    if question.type == Question.Type.BINARY:
        return ["Yes", "No"]
    return [str(o) for o in question.options]


# --- opt-in, markets, accounts ---------------------------------------------------------------


@transaction.atomic
def tournament_markets_set(
    *, tournament_id: int, enabled: bool = True, starting_grant: object = "1000"
) -> TournamentMarkets:
    """Opt a tournament in to (or out of) play-money markets with the starting grant each trader
    receives on their first trade; creates the tournament's bank account. Later changes of the
    grant apply to accounts opened afterwards."""
    grant = to_decimal(starting_grant, name="starting_grant")
    if grant < 0:
        raise TradingError("The starting grant cannot be negative.", field="starting_grant")
    if not Tournament.objects.filter(pk=tournament_id).exists():
        raise TradingError("No such tournament.")
    settings_row, _ = TournamentMarkets.objects.update_or_create(
        tournament_id=tournament_id, defaults={"enabled": enabled, "starting_grant": grant}
    )
    _bank(tournament_id)
    return settings_row


def _bank(tournament_id: int) -> Account:
    bank = Account.objects.filter(tournament_id=tournament_id, kind=Account.Kind.BANK).first()
    if bank is not None:
        return bank
    try:
        with transaction.atomic():
            return Account.objects.create(tournament_id=tournament_id, kind=Account.Kind.BANK)
    except IntegrityError:
        return Account.objects.get(tournament_id=tournament_id, kind=Account.Kind.BANK)


def market_open_validate(*, question_id: int, b: object) -> tuple[Question, Decimal]:
    """The checks of ``market_open`` without writing (admin forms show them as form errors):
    the question and the parsed liquidity, or TradingError."""
    liquidity = to_decimal(b, name="b")
    if liquidity <= 0:
        raise TradingError("The liquidity b must be positive.", field="b")
    question = Question.objects.select_related("tournament").filter(pk=question_id).first()
    if question is None:
        raise MarketNotFound("No such question.")
    if question.type not in MARKET_TYPES:
        raise TradingError("Markets trade on yes/no and multiple-choice questions only.")
    opt_in = TournamentMarkets.objects.filter(tournament_id=question.tournament_id).first()
    if opt_in is None or not opt_in.enabled:
        raise TradingError("This tournament has not opted in to markets.")
    if (
        Market.objects.filter(question_id=question_id, trade_count__gt=0)
        .exclude(b=liquidity)
        .exists()
    ):
        raise TradingError("Liquidity cannot change once the market has trades.", field="b")
    return question, liquidity


@transaction.atomic
def market_open(*, question_id: int, b: object) -> Market:
    """Open a market on a yes/no or multiple-choice question of an opted-in tournament with
    liquidity ``b`` (worst loss b·ln n, §15.5), or change ``b`` while nothing has been traded.
    Raises TradingError otherwise."""
    question, liquidity = market_open_validate(question_id=question_id, b=b)
    market = Market.objects.select_for_update().filter(question_id=question_id).first()
    if market is not None:
        if market.trade_count:
            raise TradingError("Liquidity cannot change once the market has trades.", field="b")
        market.b = liquidity
        market.save(update_fields=["b"])
        return market
    n = _outcome_count(question)
    market = Market.objects.create(question=question, b=liquidity, q=["0"] * n)
    Account.objects.create(
        kind=Account.Kind.MAKER, tournament_id=question.tournament_id, market=market
    )
    return market


def account_open(*, tournament_id: int, user: Any) -> Account:
    """The user's trading account in the tournament, opened on first use with the starting
    grant paid by the tournament's bank (one transfer). Safe under concurrency (unique
    constraint; the loser of a race reads the winner's account)."""
    account = Account.objects.filter(
        tournament_id=tournament_id, user=user, kind=Account.Kind.TRADER
    ).first()
    if account is not None:
        return account
    opt_in = TournamentMarkets.objects.filter(tournament_id=tournament_id, enabled=True).first()
    if opt_in is None:
        raise MarketNotOpen("This tournament has no markets.")
    bank = _bank(tournament_id)
    try:
        with transaction.atomic():
            account = Account.objects.create(
                tournament_id=tournament_id, user=user, kind=Account.Kind.TRADER
            )
            if opt_in.starting_grant:
                _transfer(
                    kind=Transfer.Kind.GRANT,
                    tournament_id=tournament_id,
                    source=bank,
                    target=account,
                    amount=opt_in.starting_grant,
                    at=timezone.now(),
                )
            account.refresh_from_db()
            return account
    except IntegrityError:
        return Account.objects.get(tournament_id=tournament_id, user=user, kind=Account.Kind.TRADER)


def _transfer(
    *,
    kind: str,
    tournament_id: int,
    source: Account,
    target: Account,
    amount: Decimal,
    at: dt.datetime,
    trade: Trade | None = None,
    settlement: Settlement | None = None,
    reverses: Transfer | None = None,
) -> Transfer:
    """Move ``amount`` from ``source`` to ``target``: one transfer, two entries summing to zero,
    and the two cached balances, in the caller's transaction."""
    transfer = Transfer.objects.create(
        kind=kind,
        tournament_id=tournament_id,
        trade=trade,
        settlement=settlement,
        reverses=reverses,
        created_at=at,
    )
    Entry.objects.bulk_create(
        [
            Entry(transfer=transfer, account=source, amount=-amount),
            Entry(transfer=transfer, account=target, amount=amount),
        ]
    )
    for account, delta in sorted(((source, -amount), (target, amount)), key=lambda x: x[0].pk):
        Account.objects.filter(pk=account.pk).update(balance=F("balance") + delta)
    return transfer


# --- quotes and trades ------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    """One trade request on ``question_id``'s outcome ``outcome``: exactly one of ``shares``
    (> 0 buys, < 0 sells), ``amount`` (> 0 spends, < 0 sells to receive −amount) or ``target``
    (move the outcome's price to it). Slippage limits: refuse if the cost would exceed
    ``max_cost`` (a sale's cost is negative: −max_cost is the least it must receive) or the
    shares fall below ``min_shares``."""

    question_id: int
    outcome: int
    shares: object = None
    amount: object = None
    target: object = None
    max_cost: object = None
    min_shares: object = None


@dataclass(frozen=True)
class TradeQuote:
    """What an order would do now: signed ``shares`` and ``cost`` (decimals, rounded as in
    §15.6), average price, and the prices before and after."""

    question_id: int
    outcome: int
    shares: Decimal
    cost: Decimal
    prices_before: list[float]
    prices_after: list[float]
    b: Decimal
    worst_loss: float = field(default=0.0)

    @property
    def average_price(self) -> float:
        return float(self.cost / self.shares) if self.shares else self.prices_before[self.outcome]


def _price(q: Sequence[Decimal], b: Decimal, order: Order) -> TradeQuote:
    """Price ``order`` against quantities ``q`` (no database access)."""
    qf = [float(x) for x in q]
    bf = float(b)
    k = order.outcome
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(qf):
        raise TradingError(f"outcome must be an index from 0 to {len(qf) - 1}.", field="outcome")
    given = [name for name in ("shares", "amount", "target") if getattr(order, name) is not None]
    if len(given) != 1:
        raise TradingError("Give exactly one of shares, amount or target.")
    try:
        if order.shares is not None:
            raw = float(to_decimal(order.shares, name="shares"))
        elif order.amount is not None:
            raw = lmsr.shares_for_cost(qf, bf, k, float(to_decimal(order.amount, name="amount")))
        else:
            target = to_decimal(order.target, name="target")
            if not ZERO < target < 1:
                raise TradingError("target must lie strictly between 0 and 1.", field="target")
            raw = lmsr.shares_to_price(qf, bf, k, float(target))
    except lmsr.LmsrError as exc:
        raise TradingError(str(exc)) from exc
    if not math.isfinite(raw) or abs(raw) > float(MAX_AMOUNT):
        raise TradingError("That trade is too large.")
    shares = Decimal(repr(raw)).quantize(UNIT, rounding=ROUND_DOWN)
    if shares == 0:
        raise TradingError("That trade is smaller than one millionth of a share.")
    cost_f = lmsr.trade_cost(qf, bf, k, float(shares))
    cost = Decimal(repr(cost_f)).quantize(UNIT, rounding=ROUND_CEILING)
    after = list(qf)
    after[k] += float(shares)
    return TradeQuote(
        question_id=order.question_id,
        outcome=k,
        shares=shares,
        cost=cost,
        prices_before=lmsr.prices(qf, bf),
        prices_after=lmsr.prices(after, bf),
        b=b,
        worst_loss=lmsr.worst_loss(bf, len(qf)),
    )


def _visible_market(question_id: object, user: Any) -> tuple[Question, Market]:
    question = Question.objects.visible_one(user, question_id)
    market = None if question is None else Market.objects.filter(question=question).first()
    if question is None or market is None:
        raise MarketNotFound("No market on this question.")
    return question, market


def market_quote(*, user: Any, order: Order) -> TradeQuote:
    """Quote ``order`` at the current prices without trading (docs/methods.md §15.2–§15.4).
    Raises MarketNotFound for a question without a market or one ``user`` may not see, and
    TradingError for an order that does not fit the market or sells more than ``user`` holds."""
    question, market = _visible_market(order.question_id, user)
    quote = _price(market.quantities, market.b, order)
    if quote.shares < 0:
        held = (
            Position.objects.filter(
                market=market,
                outcome=quote.outcome,
                account__user=user,
                account__tournament_id=question.tournament_id,
            )
            .values_list("shares", flat=True)
            .first()
        ) or ZERO
        if held + quote.shares < 0:
            raise TradingError(f"You hold {held} shares of this outcome; you cannot sell more.")
    return quote


def market_prices(market: Market) -> list[float]:
    """The market's current prices p_k (§15.1)."""
    return lmsr.prices([float(x) for x in market.quantities], float(market.b))


def trade_execute(*, user: Any, order: Order, at: dt.datetime | None = None) -> Trade:
    """Execute one order for ``user`` (see ``trades_execute``)."""
    return trades_execute(user=user, orders=[order], at=at)[0]


@transaction.atomic
def trades_execute(
    *, user: Any, orders: Sequence[Order], at: dt.datetime | None = None
) -> list[Trade]:
    """Execute ``orders`` for ``user`` all together or not at all, each priced after the ones
    before it. Markets are locked in ascending id, then accounts in ascending id (the lock order
    of this module), so concurrent baskets over the same questions in any order never deadlock.

    Refused (TradingError subclasses, nothing written): a question without a market or one the
    user may not see (MarketNotFound); a question not open now or a settled market
    (MarketNotOpen); a quote beyond ``max_cost`` / ``min_shares`` (SlippageExceeded); a cost
    beyond the balance (InsufficientBalance); selling more shares than held; bad input."""
    if not orders:
        raise TradingError("No order given.")
    if len(orders) > 20:
        raise TradingError("At most 20 orders at once.")
    at = at or timezone.now()
    visible: dict[int, Question] = {}
    for order in orders:
        question, market = _visible_market(order.question_id, user)
        visible[market.pk] = question
    accounts_by_tournament = {
        q.tournament_id: account_open(tournament_id=q.tournament_id, user=user)
        for q in visible.values()
    }
    markets = {
        pk: Market.objects.select_for_update().get(pk=pk) for pk in sorted(visible)
    }  # ascending id: the lock order
    by_question = {m.question_id: m for m in markets.values()}
    settled = set(
        Settlement.objects.filter(
            market_id__in=list(markets), reversed_at__isnull=True
        ).values_list("market_id", flat=True)
    )
    maker_ids = dict(
        Account.objects.filter(market_id__in=list(markets)).values_list("market_id", "pk")
    )
    lock_ids = sorted({*maker_ids.values(), *(a.pk for a in accounts_by_tournament.values())})
    locked = {pk: Account.objects.select_for_update().get(pk=pk) for pk in lock_ids}
    trades = []
    for order in orders:
        market = by_question[int(order.question_id)]  # type: ignore[call-overload]
        question = visible[market.pk]
        if market.pk in settled or not question.is_open_at(at):
            raise MarketNotOpen("This market is not open for trading.")
        account = locked[accounts_by_tournament[question.tournament_id].pk]
        maker = locked[maker_ids[market.pk]]
        trades.append(_execute(market, question, account, maker, order, at))
    return trades


def _limit(order: Order, name: str) -> Decimal | None:
    value = getattr(order, name)
    return None if value is None else to_decimal(value, name=name)


def _execute(
    market: Market,
    question: Question,
    account: Account,
    maker: Account,
    order: Order,
    at: dt.datetime,
) -> Trade:
    """One order under the caller's locks: price, check, record, move money."""
    quote = _price(market.quantities, market.b, order)
    max_cost, min_shares = _limit(order, "max_cost"), _limit(order, "min_shares")
    if max_cost is not None and quote.cost > max_cost:
        raise SlippageExceeded(
            f"The price moved: this trade now costs {quote.cost}, above max_cost {max_cost}."
        )
    if min_shares is not None and quote.shares < min_shares:
        raise SlippageExceeded(
            f"The price moved: this trade now gives {quote.shares} shares, "
            f"below min_shares {min_shares}."
        )
    if quote.cost > account.balance:
        raise InsufficientBalance(
            f"This trade costs {quote.cost}; your balance is {account.balance}."
        )
    position, _ = Position.objects.get_or_create(
        market=market, account=account, outcome=quote.outcome
    )
    if position.shares + quote.shares < 0:
        raise TradingError(
            f"You hold {position.shares} shares of this outcome; you cannot sell more."
        )
    q = market.quantities
    q[quote.outcome] += quote.shares
    market.q = [str(x) for x in q]
    market.trade_count += 1
    market.save(update_fields=["q", "trade_count"])
    trade = Trade.objects.create(
        market=market,
        sequence=market.trade_count,
        account=account,
        outcome=quote.outcome,
        shares=quote.shares,
        cost=quote.cost,
        prices=quote.prices_after,
        created_at=at,
    )
    Position.objects.filter(pk=position.pk).update(
        shares=F("shares") + quote.shares, cost=F("cost") + quote.cost
    )
    if quote.cost >= 0:
        _transfer(
            kind=Transfer.Kind.TRADE,
            tournament_id=question.tournament_id,
            source=account,
            target=maker,
            amount=quote.cost,
            at=at,
            trade=trade,
        )
    else:
        _transfer(
            kind=Transfer.Kind.TRADE,
            tournament_id=question.tournament_id,
            source=maker,
            target=account,
            amount=-quote.cost,
            at=at,
            trade=trade,
        )
    account.balance -= quote.cost
    maker.balance += quote.cost
    return trade


# --- settlement ---------------------------------------------------------------------------


def _winner(question: Question, resolution: Resolution) -> int | None:
    """The winning outcome index, or None for an annulment (§15.7)."""
    if resolution.outcome == Resolution.Outcome.ANNULLED:
        return None
    if question.type == Question.Type.BINARY:
        return 0 if resolution.outcome == Resolution.Outcome.YES else 1
    if resolution.outcome == Resolution.Outcome.OPTION and resolution.option is not None:
        return int(resolution.option)
    raise TradingError(f"A market cannot settle on outcome {resolution.outcome!r}.")


@dataclass(frozen=True)
class SettleResult:
    """What ``market_settle`` did: transfers reversed and transfers applied."""

    reversed: int = 0
    applied: int = 0
    settlement_id: int | None = None


@transaction.atomic
def market_settle(*, question_id: int, at: dt.datetime | None = None) -> SettleResult:
    """Bring the question's market in line with its current final resolution (§15.7): reverse
    the active settlement if it belongs to another (superseded or withdrawn) version, then pay
    each winning share 1, or refund each trader's net cost on annulment. Recomputes from the
    database under the market lock, in one transaction, so a retry, a duplicate or a late task
    does nothing and a crash leaves nothing half done. No market: nothing to do."""
    at = at or timezone.now()
    market = Market.objects.select_for_update().filter(question_id=question_id).first()
    if market is None:
        return SettleResult()
    final = Resolution.objects.filter(question_id=question_id, state=Resolution.State.FINAL).first()
    active = Settlement.objects.filter(market=market, reversed_at__isnull=True).first()
    if active is not None and final is not None and active.resolution_id == final.pk:
        return SettleResult(settlement_id=active.pk)
    if active is None and final is None:
        return SettleResult()
    question = Question.objects.get(pk=question_id)
    maker = Account.objects.get(market=market)
    reversed_count = 0
    if active is not None:
        originals = list(
            active.transfers.exclude(kind=Transfer.Kind.REVERSAL).prefetch_related("entries")
        )
        for original in sorted(originals, key=_counterparty):
            minus, plus = sorted(original.entries.all(), key=lambda e: e.amount)
            _transfer(
                kind=Transfer.Kind.REVERSAL,
                tournament_id=question.tournament_id,
                source=plus.account,
                target=minus.account,
                amount=plus.amount,
                at=at,
                settlement=active,
                reverses=original,
            )
            reversed_count += 1
        Settlement.objects.filter(pk=active.pk).update(reversed_at=at)
    if final is None:
        return SettleResult(reversed=reversed_count)
    winner = _winner(question, final)
    settlement = Settlement.objects.create(
        market=market, resolution=final, outcome=final.outcome, created_at=at
    )
    applied = 0
    for account_id, amount in _settlement_amounts(market, winner):
        account = Account(pk=account_id)
        kind = Transfer.Kind.PAYOUT if winner is not None else Transfer.Kind.REFUND
        source, target = (maker, account) if amount > 0 else (account, maker)
        _transfer(
            kind=kind,
            tournament_id=question.tournament_id,
            source=source,
            target=target,
            amount=abs(amount),
            at=at,
            settlement=settlement,
        )
        applied += 1
    return SettleResult(reversed=reversed_count, applied=applied, settlement_id=settlement.pk)


def _counterparty(transfer: Transfer) -> int:
    return min(e.account_id for e in transfer.entries.all())


def _settlement_amounts(market: Market, winner: int | None) -> list[tuple[int, Decimal]]:
    """(trader account id, amount the maker pays them), ascending id (the lock order), nonzero
    only: winning shares (each pays 1) or, with ``winner`` None, the net cost paid."""
    positions = Position.objects.filter(market=market)
    if winner is not None:
        rows = positions.filter(outcome=winner).values_list("account_id", "shares")
    else:
        rows = (
            positions.values("account_id")
            .annotate(net=Sum("cost"))
            .values_list("account_id", "net")
        )
    totals: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, amount in rows:
        totals[account_id] += amount
    return [(pk, amount) for pk, amount in sorted(totals.items()) if amount != 0]


def settlements_repair(*, batch: int = 200) -> int:
    """The sweep's part (§15.7): settle every market whose active settlement does not belong to
    its question's current final resolution (a lost message, a crashed worker). Bounded batch,
    idempotent. Returns the number of markets settled."""
    finals = dict(
        Resolution.objects.filter(
            state=Resolution.State.FINAL, question__market__isnull=False
        ).values_list("question__market", "pk")
    )
    actives = dict(
        Settlement.objects.filter(reversed_at__isnull=True).values_list(
            "market_id", "resolution_id"
        )
    )
    stale = sorted(pk for pk in set(finals) | set(actives) if finals.get(pk) != actives.get(pk))[
        :batch
    ]
    questions = dict(Market.objects.filter(pk__in=stale).values_list("pk", "question_id"))
    for pk in stale:
        market_settle(question_id=questions[pk])
    return len(stale)


# --- reading and verifying -----------------------------------------------------------------


def positions_of(*, user: Any, tournament_id: int | None = None) -> Iterable[Position]:
    """The user's positions with nonzero shares or cost (markets, questions preloaded)."""
    rows = Position.objects.filter(account__user=user, account__kind=Account.Kind.TRADER).exclude(
        shares=0, cost=0
    )
    if tournament_id is not None:
        rows = rows.filter(account__tournament_id=tournament_id)
    return rows.select_related("market__question", "account").order_by("market_id", "outcome")


def ledger_verify() -> list[str]:
    """Check the ledger (docs/methods.md §15.6): every transfer is two entries summing to zero,
    cached balances equal the entries, cached positions and market quantities equal the trades,
    trade sequences have no gap, every trade has its transfer, no trader balance was driven
    below zero by a trade, and no market maker lost more than b·ln n. Returns the problems."""
    problems: list[str] = []
    per_transfer: dict[int, list[Decimal]] = defaultdict(list)
    per_account: dict[int, Decimal] = defaultdict(Decimal)
    for transfer_id, account_id, amount in Entry.objects.values_list(
        "transfer_id", "account_id", "amount"
    ):
        per_transfer[transfer_id].append(amount)
        per_account[account_id] += amount
    for transfer_id in Transfer.objects.values_list("pk", flat=True):
        amounts = per_transfer.get(transfer_id, [])
        if len(amounts) != 2 or sum(amounts) != 0:
            problems.append(f"transfer {transfer_id}: entries {amounts} are not a zero-sum pair")
    total = sum(per_account.values(), ZERO)
    if total != 0:
        problems.append(f"the ledger sums to {total}, not 0")
    for pk, balance in Account.objects.values_list("pk", "balance"):
        if per_account.get(pk, ZERO) != balance:
            problems.append(f"account {pk}: cached {balance}, ledger {per_account.get(pk, ZERO)}")
    shares: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    costs: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    market_q: dict[int, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    sequences: dict[int, list[int]] = defaultdict(list)
    trade_costs: dict[int, Decimal] = {}
    for pk, market_id, account_id, outcome, n, c, seq in Trade.objects.values_list(
        "pk", "market_id", "account_id", "outcome", "shares", "cost", "sequence"
    ):
        shares[market_id, account_id, outcome] += n
        costs[market_id, account_id, outcome] += c
        market_q[market_id][outcome] += n
        sequences[market_id].append(seq)
        trade_costs[pk] = c
    cached = {
        (m, a, o): (n, c)
        for m, a, o, n, c in Position.objects.values_list(
            "market_id", "account_id", "outcome", "shares", "cost"
        )
    }
    for key in set(cached) | set(shares):
        expected = (shares.get(key, ZERO), costs.get(key, ZERO))
        if cached.get(key, (ZERO, ZERO)) != expected:
            problems.append(f"position {key}: cached {cached.get(key)}, trades {expected}")
    transfer_amounts = {
        trade_id: per_transfer.get(transfer_id, [])
        for transfer_id, trade_id in Transfer.objects.filter(trade__isnull=False).values_list(
            "pk", "trade_id"
        )
    }
    for pk, c in trade_costs.items():
        paid = transfer_amounts.get(pk)
        if paid is None or max(paid, default=ZERO) != abs(c):
            problems.append(f"trade {pk}: cost {c} but transfer {paid}")
    for market in Market.objects.all():
        q = market.quantities
        expected_q = [market_q[market.pk][k] for k in range(len(q))]
        if q != expected_q:
            problems.append(f"market {market.pk}: quantities {q}, trades {expected_q}")
        seqs = sorted(sequences[market.pk])
        if seqs != list(range(1, market.trade_count + 1)):
            problems.append(f"market {market.pk}: trade sequence has gaps or duplicates")
        maker_balance = per_account.get(
            Account.objects.filter(market=market).values_list("pk", flat=True).first() or 0, ZERO
        )
        worst = lmsr.worst_loss(float(market.b), len(q))
        settled = Settlement.objects.filter(market=market, reversed_at__isnull=True).exists()
        if settled and float(maker_balance) < -worst - 1e-6:
            problems.append(f"market {market.pk}: maker lost {-maker_balance} > b·ln n {worst}")
    return problems


@dataclass(frozen=True)
class ProfitRow:
    """One trader's standing in a tournament's market: cash ``balance``, ``holdings`` (open
    positions valued at current prices), ``granted`` (starting grants received) and
    ``profit`` = balance + holdings − granted."""

    user: Any
    balance: Decimal
    holdings: float
    granted: Decimal
    profit: float


def profit_leaderboard(*, tournament_id: int) -> list[ProfitRow]:
    """Traders of the tournament by profit, best first (docs/methods.md §15.6): realised profit
    is in the balance, unrealised profit in the open positions valued at current prices."""
    accounts = list(
        Account.objects.filter(tournament_id=tournament_id, kind=Account.Kind.TRADER)
        .select_related("user")
        .order_by("pk")
    )
    granted: dict[int, Decimal] = defaultdict(Decimal)
    for account_id, amount in Entry.objects.filter(
        account__in=accounts, transfer__kind=Transfer.Kind.GRANT
    ).values_list("account_id", "amount"):
        granted[account_id] += amount
    settled = set(
        Settlement.objects.filter(reversed_at__isnull=True).values_list("market_id", flat=True)
    )
    prices: dict[int, list[float]] = {}
    holdings: dict[int, float] = defaultdict(float)
    for position in Position.objects.filter(account__in=accounts, shares__gt=0).select_related(
        "market"
    ):
        if position.market_id in settled:
            continue
        if position.market_id not in prices:
            prices[position.market_id] = market_prices(position.market)
        holdings[position.account_id] += (
            float(position.shares) * prices[position.market_id][position.outcome]
        )
    rows = [
        ProfitRow(
            user=a.user,
            balance=a.balance,
            holdings=holdings[a.pk],
            granted=granted[a.pk],
            profit=float(a.balance - granted[a.pk]) + holdings[a.pk],
        )
        for a in accounts
    ]
    return sorted(rows, key=lambda r: -r.profit)
