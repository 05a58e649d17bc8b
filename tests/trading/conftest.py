from __future__ import annotations

from decimal import Decimal

import pytest

from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from trading.services import market_open, tournament_markets_set


def make_market(*, b: str = "100", grant: str = "1000", tournament=None, **question_fields):
    """An opted-in tournament's open question with a market of liquidity ``b``."""
    tournament = tournament or TournamentFactory()
    tournament_markets_set(tournament_id=tournament.pk, starting_grant=grant)
    question = QuestionFactory(tournament=tournament, **question_fields)
    market = market_open(question_id=question.pk, b=b)
    return question, market


@pytest.fixture
def market_question(db):
    question, _ = make_market()
    return question


@pytest.fixture
def trader(db):
    return UserFactory()


D = Decimal
