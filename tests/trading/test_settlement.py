"""Settlement of play-money markets (docs/methods.md §15.7): payouts, annulment refunds,
re-resolution reversals, idempotence, the sweep's repair, and the ledger after random mixes."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from markets.errors import ResolutionError
from markets.models import Resolution
from markets.resolution.manual import question_resolve, question_unresolve
from tests.factories import UserFactory
from tests.trading.conftest import make_market
from trading.errors import TradingError
from trading.models import Account, Settlement, Transfer
from trading.services import (
    Order,
    ledger_verify,
    market_settle,
    settlements_repair,
    trade_execute,
)

pytestmark = pytest.mark.django_db


def balance(user, question) -> Decimal:
    return Account.objects.get(user=user, tournament_id=question.tournament_id).balance


def two_traders(question):
    yes, no = UserFactory(), UserFactory()
    a = trade_execute(user=yes, order=Order(question_id=question.pk, outcome=0, shares="30"))
    b = trade_execute(user=no, order=Order(question_id=question.pk, outcome=1, shares="10"))
    return yes, no, a, b


def test_winning_shares_pay_one_each(django_capture_on_commit_callbacks) -> None:
    question, _ = make_market()
    yes, no, a, b = two_traders(question)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=question.pk, outcome="yes", reason="it happened")
    assert balance(yes, question) == Decimal("1000") - a.cost + 30
    assert balance(no, question) == Decimal("1000") - b.cost
    assert Settlement.objects.get().outcome == "yes"
    assert ledger_verify() == []


def test_annulment_refunds_each_traders_net_cost(django_capture_on_commit_callbacks) -> None:
    question, _ = make_market()
    yes, no, _, _ = two_traders(question)
    trade_execute(user=yes, order=Order(question_id=question.pk, outcome=0, shares="-5"))
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=question.pk, outcome="annulled", reason="void")
    assert balance(yes, question) == Decimal("1000")
    assert balance(no, question) == Decimal("1000")
    assert ledger_verify() == []


def test_re_resolution_reverses_the_earlier_settlement(django_capture_on_commit_callbacks) -> None:
    question, _ = make_market()
    yes, no, a, b = two_traders(question)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=question.pk, outcome="yes", reason="first")
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=question.pk, outcome="no", reason="corrected")
    assert balance(yes, question) == Decimal("1000") - a.cost
    assert balance(no, question) == Decimal("1000") - b.cost + 10
    first, second = Settlement.objects.order_by("pk")
    assert first.reversed_at is not None and second.reversed_at is None
    assert Transfer.objects.filter(kind=Transfer.Kind.REVERSAL).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        question_unresolve(question_id=question.pk, reason="withdrawn")
    assert balance(no, question) == Decimal("1000") - b.cost
    assert not Settlement.objects.filter(reversed_at__isnull=True).exists()
    assert ledger_verify() == []


def test_settling_twice_settles_once() -> None:
    question, _ = make_market()
    two_traders(question)
    question_resolve(question_id=question.pk, outcome="no", reason="x")  # no on_commit here
    first = market_settle(question_id=question.pk)
    again = market_settle(question_id=question.pk)
    assert first.applied == 1 and again.applied == 0 and again.settlement_id == first.settlement_id
    assert Transfer.objects.filter(kind=Transfer.Kind.PAYOUT).count() == 1


def test_the_sweep_settles_what_a_lost_message_left() -> None:
    question, _ = make_market()
    two_traders(question)
    question_resolve(question_id=question.pk, outcome="yes", reason="x")  # task never ran
    assert not Settlement.objects.exists()
    from scoring.workflows import sweep

    assert sweep().settlements == 1
    assert settlements_repair() == 0
    assert Settlement.objects.get().outcome == "yes"


def test_multiple_choice_settles_on_the_option() -> None:
    question, _ = make_market(type="multiple_choice", options=["A", "B", "C"])
    user = UserFactory()
    trade_execute(user=user, order=Order(question_id=question.pk, outcome=2, shares="7"))
    question_resolve(question_id=question.pk, outcome="option", option=2, reason="C")
    market_settle(question_id=question.pk)
    assert Transfer.objects.get(kind=Transfer.Kind.PAYOUT).entries.get(
        account__user=user
    ).amount == Decimal("7")


ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("trade"),
            st.integers(0, 2),  # trader
            st.integers(0, 1),  # question
            st.integers(0, 1),  # outcome
            st.decimals(min_value=-40, max_value=60, places=3),
        ),
        st.tuples(
            st.just("resolve"), st.integers(0, 1), st.sampled_from(["yes", "no", "annulled"])
        ),
        st.tuples(st.just("unresolve"), st.integers(0, 1)),
    ),
    max_size=25,
)


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a DB test takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=ACTIONS)
def test_the_ledger_sums_to_zero_after_any_mix(db, actions) -> None:
    """Random trades, settlements, annulments, re-resolutions and withdrawals: the ledger sums
    to zero, caches equal it, and the money supply equals the grants."""
    with transaction.atomic():
        question, _ = make_market(grant="200")
        other, _ = make_market(tournament=question.tournament, grant="200")
        questions = [question, other]
        users = [UserFactory() for _ in range(3)]
        for action in actions:
            if action[0] == "trade":
                _, u, qi, k, shares = action
                if shares == 0:
                    continue
                with contextlib.suppress(TradingError):
                    trade_execute(
                        user=users[u],
                        order=Order(question_id=questions[qi].pk, outcome=k, shares=shares),
                    )
            elif action[0] == "resolve":
                _, qi, outcome = action
                try:
                    question_resolve(question_id=questions[qi].pk, outcome=outcome, reason="r")
                except ResolutionError:  # the same outcome again: nothing to change
                    continue
                market_settle(question_id=questions[qi].pk)
            else:
                qi = action[1]
                if Resolution.objects.filter(question=questions[qi], state="final").exists():
                    question_unresolve(question_id=questions[qi].pk, reason="w")
                    market_settle(question_id=questions[qi].pk)
        assert ledger_verify() == []
        grants = Account.objects.filter(kind=Account.Kind.TRADER).count() * Decimal("200")
        bank = Account.objects.get(kind=Account.Kind.BANK)
        assert bank.balance == -grants
        transaction.set_rollback(True)
