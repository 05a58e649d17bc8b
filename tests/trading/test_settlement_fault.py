"""A real Celery worker SIGKILLed in the middle of a settlement (PostgreSQL + Redis): the
killed transaction leaves nothing, and the restarted worker with the sweep settles exactly once
(docs/methods.md §15.7)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection, transaction

from tests.factories import UserFactory
from tests.markets.celery_harness import wait_for
from tests.markets.test_celery_integration import (  # noqa: F401 (fixtures)
    ON_POSTGRES,
    cluster,
    env,
    spare_redis,
)
from tests.trading.conftest import make_market
from trading.models import Account, Settlement, Transfer
from trading.services import Order, ledger_verify, market_settle, trade_execute

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ON_POSTGRES, reason="needs DATABASE_URL=postgres://… (set in CI)"),
    pytest.mark.django_db(transaction=True),
]


def blocked_on_account_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            ['%"trading_account"%'],
        )
        return cursor.fetchone()[0] > 0


def test_worker_killed_mid_settlement_then_retried_settles_exactly_once(cluster) -> None:  # noqa: F811
    question, _ = make_market()
    winners = [UserFactory() for _ in range(3)]
    costs = {
        user.pk: trade_execute(
            user=user, order=Order(question_id=question.pk, outcome=0, shares="10")
        ).cost
        for user in winners
    }
    accounts = sorted(Account.objects.filter(kind=Account.Kind.TRADER), key=lambda a: a.pk)
    worker = cluster.worker("worker-1")

    with transaction.atomic():
        # Hold the last winner's account row: the settlement (accounts in ascending id) has
        # written its settlement row and the first payouts when it blocks here.
        Account.objects.select_for_update().get(pk=accounts[-1].pk)
        resolved = cluster.manage(
            "shell",
            "-c",
            "from markets.resolution.manual import question_resolve; "
            f"question_resolve(question_id={question.pk}, outcome='yes', reason='happened')",
        )
        assert resolved.returncode == 0, resolved.stdout + resolved.stderr
        wait_for(
            blocked_on_account_lock,
            timeout=60,
            what="the worker to block mid-settlement on an account lock",
            logs=cluster.logs,
        )
        worker.kill()  # SIGKILL, main process and pool children alike
        assert not worker.running
    # The killed transaction committed nothing: no settlement, no payout.
    assert not Settlement.objects.exists()
    assert not Transfer.objects.filter(kind=Transfer.Kind.PAYOUT).exists()

    cluster.worker("worker-2")
    cluster.beat()  # trading.repair_settlements every 2 s
    wait_for(
        lambda: Settlement.objects.exists(),
        timeout=90,
        what="the restarted worker or the sweep to settle the market",
        logs=cluster.logs,
    )
    # A further retry of the task (redelivery, a late duplicate) changes nothing.
    assert market_settle(question_id=question.pk).applied == 0
    assert Settlement.objects.count() == 1
    assert Transfer.objects.filter(kind=Transfer.Kind.PAYOUT).count() == 3
    for account in accounts:
        account.refresh_from_db()
        assert account.balance == Decimal("1000") - costs[account.user_id] + 10  # paid once
    assert ledger_verify() == []
