"""Admin writes of the markets go through trading.services (one door)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from trading.models import Account, Entry, Market, TournamentMarkets

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    return client


def test_staff_opt_in_and_set_b_through_the_service(staff_client) -> None:
    tournament = TournamentFactory()
    page = staff_client.post(
        reverse("admin:trading_tournamentmarkets_add"),
        {"tournament": tournament.pk, "enabled": "on", "starting_grant": "500"},
    )
    assert page.status_code == 302, page.content.decode()[:2000]
    assert TournamentMarkets.objects.get().starting_grant == Decimal("500")
    assert Account.objects.filter(kind="bank", tournament=tournament).exists()  # the service's

    question = QuestionFactory(tournament=tournament)
    page = staff_client.post(
        reverse("admin:trading_market_add"), {"question": question.pk, "b": "100"}
    )
    assert page.status_code == 302
    market = Market.objects.get()
    assert market.q == ["0", "0"]
    assert Account.objects.filter(kind="maker", market=market).exists()  # the service's
    listing = staff_client.get(reverse("admin:trading_market_changelist"))
    assert "69.31" in listing.content.decode()  # worst loss b·ln 2


def test_admin_refuses_a_market_the_service_refuses(staff_client) -> None:
    question = QuestionFactory()  # tournament not opted in
    page = staff_client.post(
        reverse("admin:trading_market_add"), {"question": question.pk, "b": "100"}
    )
    assert page.status_code == 200
    assert "has not opted in" in page.content.decode()
    assert not Market.objects.exists()


def test_ledger_entries_are_read_only_in_the_admin(staff_client) -> None:
    assert staff_client.get(reverse("admin:trading_entry_add")).status_code == 403
    assert not Entry.objects.exists()
