"""Concurrent trades on PostgreSQL (docs/methods.md §15.6): trades on one question serialize on
the market row; baskets over the same questions in opposite orders do not deadlock (markets are
locked in ascending id). No trade is lost or duplicated, balances equal the ledger, no balance
goes below zero."""

from __future__ import annotations

import contextlib
import os
import random
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from tests.factories import UserFactory
from tests.trading.conftest import make_market
from trading.errors import InsufficientBalance, TradingError
from trading.models import Account, Entry, Market, Trade
from trading.services import Order, ledger_verify, trade_execute, trades_execute

ON_POSTGRES = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
THREADS = 8


def _run_threads(work) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def runner(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    return errors


def _assert_consistent(markets: list[Market]) -> None:
    assert ledger_verify() == []
    for market in markets:
        market.refresh_from_db()
        sequences = list(market.trades.order_by("sequence").values_list("sequence", flat=True))
        assert sequences == list(range(1, market.trade_count + 1))
    assert not Account.objects.filter(kind=Account.Kind.TRADER, balance__lt=0).exists()
    assert sum(Entry.objects.values_list("amount", flat=True), Decimal(0)) == 0


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)")
@pytest.mark.django_db(transaction=True)
def test_8_threads_x_500_random_trades_on_one_question() -> None:
    question, market = make_market(grant="300", b="50")
    users = [UserFactory() for _ in range(THREADS)]
    done = [0] * THREADS
    refused = [0] * THREADS

    def work(i: int) -> None:
        rng = random.Random(i)
        for _ in range(500):
            kind = rng.choice(["shares", "amount", "target"])
            value: object
            if kind == "shares":
                value = Decimal(rng.randint(-3000, 5000)) / 100 or Decimal(1)
            elif kind == "amount":
                value = Decimal(rng.randint(1, 4000)) / 100
            else:
                value = Decimal(rng.randint(5, 95)) / 100
            try:
                trade_execute(
                    user=users[i],
                    order=Order(
                        question_id=question.pk, outcome=rng.randint(0, 1), **{kind: value}
                    ),
                )
                done[i] += 1
            except (InsufficientBalance, TradingError):
                refused[i] += 1  # selling what one lacks, a target already reached, no money

    errors = _run_threads(work)
    assert errors == []
    assert sum(done) + sum(refused) == THREADS * 500
    assert sum(done) > 1000, (done, refused)
    assert Trade.objects.filter(market=market).count() == sum(done)
    for i, user in enumerate(users):
        assert Trade.objects.filter(account__user=user).count() == done[i]
    _assert_consistent([market])


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)")
@pytest.mark.django_db(transaction=True)
def test_baskets_across_questions_in_opposite_orders_never_deadlock() -> None:
    """Each thread trades a basket over three questions, in its own order (half of them in
    reverse). Locking the markets in the order given would deadlock (PostgreSQL would abort one
    transaction with a deadlock error); ascending ids never do. One person in several threads
    shares one account across the questions too."""
    first, m1 = make_market(grant="100000")
    second, m2 = make_market(tournament=first.tournament, grant="100000")
    third, m3 = make_market(tournament=first.tournament, grant="100000")
    questions = [first, second, third]
    shared = UserFactory()
    users = [shared if i % 2 else UserFactory() for i in range(THREADS)]
    done = [0] * THREADS

    def work(i: int) -> None:
        rng = random.Random(100 + i)
        for _ in range(60):
            ordered = questions[:: -1 if i % 2 else 1]
            trades_execute(
                user=users[i],
                orders=[
                    Order(question_id=q.pk, outcome=rng.randint(0, 1), shares=rng.randint(1, 20))
                    for q in ordered
                ],
            )
            done[i] += 1

    errors = _run_threads(work)
    assert errors == []
    assert sum(done) == THREADS * 60
    assert Trade.objects.count() == THREADS * 60 * 3
    _assert_consistent([m1, m2, m3])


def test_random_trades_keep_the_ledger_consistent_on_any_database(db) -> None:
    """The same mix, sequential (SQLite has no row locks; it serializes whole writes)."""
    question, market = make_market(grant="300", b="50")
    users = [UserFactory() for _ in range(3)]
    rng = random.Random(7)
    for _ in range(300):
        with contextlib.suppress(TradingError):
            trade_execute(
                user=rng.choice(users),
                order=Order(
                    question_id=question.pk,
                    outcome=rng.randint(0, 1),
                    shares=Decimal(rng.randint(-3000, 5000)) / 100 or 1,
                ),
            )
    _assert_consistent([market])
    assert connection.vendor in ("sqlite", "postgresql")
