"""The play-money market's price history scored as an aggregate, with the crowd's rules
(docs/methods.md §4.5–§4.7, §15.8): hand-computed values on yes/no and multiple choice."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from forecasts.services import crowd_fill_medians, forecast_submit
from markets.models import Question
from markets.resolution.manual import question_resolve
from scoring.models import Rule, Score, Subject
from scoring.services import question_score, questions_score_many
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory
from trading.services import Order, market_open, tournament_markets_set, trade_execute

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)  # T = 10 days
DAY = dt.timedelta(days=1)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]


def market_question(**fields) -> Question:
    tournament = TournamentFactory()
    tournament_markets_set(tournament_id=tournament.pk, starting_grant="1000")
    question = QuestionFactory(tournament=tournament, open_time=OPEN, close_time=CLOSE, **fields)
    market_open(question_id=question.pk, b="100")
    return question


def move(question, outcome, target, at) -> None:
    trade_execute(
        user=UserFactory(),
        order=Order(question_id=question.pk, outcome=outcome, target=target),
        at=at,
    )


def market(question, rule) -> Score:
    return Score.objects.get(question=question, subject=Subject.MARKET, rule=rule)


def binary_setup() -> Question:
    """One forecaster holds 0.9 all window; the market: no trade for days 0–2, YES at 0.8 for
    days 2–6, at 0.4 for days 6–10."""
    question = market_question()
    forecast_submit(
        question_id=question.pk, forecaster=ForecasterFactory(), probability=0.9, at=OPEN
    )
    crowd_fill_medians(question_id=question.pk)
    move(question, 0, "0.8", OPEN + 2 * DAY)
    move(question, 1, "0.6", OPEN + 6 * DAY)  # NO to 0.6: YES to 0.4
    return question


def test_the_market_price_is_scored_like_the_crowd_with_hand_computed_values():
    question = binary_setup()
    resolution = question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    assert Score.objects.filter(question=question, subject=Subject.MARKET).count() == 8
    brier = market(question, Rule.BRIER)
    # Covered 8 of 10 days: Brier and log average over covered time (§4.5).
    assert brier.coverage == pytest.approx(0.8)
    assert brier.forecaster_id is None
    assert brier.score == pytest.approx((4 * 0.2**2 + 4 * 0.6**2) / 8, rel=1e-6)  # 0.2
    log = (math.log(0.8) + math.log(0.4)) / 2
    assert market(question, Rule.LOG).score == pytest.approx(log, rel=1e-6)
    # Baseline and peer average over the whole window, uncovered time counting 0.
    baseline = (4 * 100 * (math.log2(0.8) + 1) + 4 * 100 * (math.log2(0.4) + 1)) / 10
    assert market(question, Rule.BASELINE).score == pytest.approx(baseline, rel=1e-6)
    # Peer against the mean log score of the one active forecaster (0.9): §4.7.
    peer = (4 * 100 * math.log(0.8 / 0.9) + 4 * 100 * math.log(0.4 / 0.9)) / 10
    assert market(question, Rule.PEER).score == pytest.approx(peer, rel=1e-6)
    spot = market(question, Rule.SPOT_BRIER)
    assert spot.forecast == pytest.approx(0.4, abs=1e-6) and spot.coverage == 1.0
    assert spot.score == pytest.approx(0.36, rel=1e-5)
    assert market(question, Rule.SPOT_LOG).score == pytest.approx(math.log(0.4), rel=1e-6)
    assert market(question, Rule.SPOT_PEER).score == pytest.approx(
        100 * math.log(0.4 / 0.9), rel=1e-6
    )
    # The crowd's own rows are unchanged by the market: the one forecaster's 0.9.
    crowd = Score.objects.get(question=question, subject=Subject.CROWD, rule=Rule.BRIER)
    assert crowd.score == pytest.approx(0.01)


def test_an_early_resolution_ends_the_market_series_as_it_ends_the_crowds():
    question = binary_setup()
    # Resolved NO on day 4: the 0.8 held days 2–4 only; T stays 10 days.
    resolution = question_resolve(question_id=question.pk, outcome="no", resolved_at=OPEN + 4 * DAY)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    brier = market(question, Rule.BRIER)
    assert brier.coverage == pytest.approx(0.2)
    assert brier.score == pytest.approx(0.64, rel=1e-5)
    assert market(question, Rule.SPOT_BRIER).forecast == pytest.approx(0.8, abs=1e-6)


def test_the_batched_scoring_writes_the_same_market_rows():
    one, many = binary_setup(), binary_setup()
    r1 = question_resolve(question_id=one.pk, outcome="yes", resolved_at=CLOSE)
    r2 = question_resolve(question_id=many.pk, outcome="yes", resolved_at=CLOSE)
    Score.objects.all().delete()
    question_score(question_id=one.pk, resolution_id=r1.pk)
    questions_score_many(pairs=[(many.pk, r2.pk)])

    def rows(q):
        return sorted(
            Score.objects.filter(question=q, subject=Subject.MARKET).values_list(
                "rule", "score", "coverage", "forecast"
            )
        )

    assert rows(one) == rows(many) and len(rows(one)) == 8


def test_a_question_without_a_market_or_trades_has_no_market_scores():
    question = market_question()
    forecast_submit(
        question_id=question.pk, forecaster=ForecasterFactory(), probability=0.7, at=OPEN
    )
    resolution = question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    assert Score.objects.filter(question=question, subject=Subject.CROWD).exists()
    assert not Score.objects.filter(question=question, subject=Subject.MARKET).exists()


def test_a_multiple_choice_market_is_scored_with_the_multiple_choice_rules():
    question = market_question(type=Question.Type.MULTIPLE_CHOICE, options=["A", "B", "C"])
    alice = ForecasterFactory()
    forecast_submit(question_id=question.pk, forecaster=alice, values=[0.6, 0.3, 0.1], at=OPEN)
    # Option A to 0.5 on day 5: B and C at 0.25 each (they keep equal shares).
    move(question, 0, "0.5", OPEN + 5 * DAY)
    resolution = question_resolve(
        question_id=question.pk, outcome="option", option=0, resolved_at=CLOSE
    )
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    brier = market(question, Rule.MC_BRIER)
    assert brier.coverage == pytest.approx(0.5)
    assert brier.score == pytest.approx(0.5**2 + 2 * 0.25**2, rel=1e-5)  # 0.375
    assert market(question, Rule.LOG).score == pytest.approx(math.log(0.5), rel=1e-6)
    baseline = 5 * 100 * (1 + math.log(0.5) / math.log(3)) / 10
    assert market(question, Rule.BASELINE).score == pytest.approx(baseline, rel=1e-6)
    peer = 5 * 100 * math.log(0.5 / 0.6) / 10
    assert market(question, Rule.PEER).score == pytest.approx(peer, rel=1e-6)
    assert market(question, Rule.SPOT_LOG).forecast == pytest.approx(0.5, abs=1e-6)


def test_the_crowd_record_page_shows_log_pool_median_and_market_on_the_same_questions():
    from django.test import Client
    from django.urls import reverse

    question = binary_setup()
    resolution = question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    # A second resolved question without a market is not in the comparison.
    other = QuestionFactory(tournament=question.tournament, open_time=OPEN, close_time=CLOSE)
    forecast_submit(question_id=other.pk, forecaster=ForecasterFactory(), probability=0.5, at=OPEN)
    r2 = question_resolve(question_id=other.pk, outcome="yes", resolved_at=CLOSE)
    question_score(question_id=other.pk, resolution_id=r2.pk)
    response = Client().get(reverse("crowd-track-record"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Crowd and market on the same questions" in html
    section = html.split('id="market-heading"')[1].split("</section>")[0]
    assert "The 1 question whose play-money market was scored" in section
    rows = section.split("<tbody>")[1]
    # Log pool and median of one forecaster at 0.9: Brier 0.010; the market 0.200 (above).
    assert rows.count("0.010") == 2 and "Market price" in rows and "0.200" in rows
    assert "Market price" in html.split('id="market-heading"')[0]  # a comparator too
