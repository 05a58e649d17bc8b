"""Issue 20, case 6: equal totals share a rank, everywhere (docs/methods.md §7.2).

A and B forecast 0.7 and C 0.4, all at the open, on a question that resolves YES. With n = 3 a
forecaster's peer score is 100 · (3 ln p_i − Σ ln p_j)/2, so A and B score 50 · ln(0.7/0.4) =
+27.980789 each (the same arithmetic on the same inputs: bit-identical) and C 100 · ln(0.4/0.7)
= −55.961579. Standard competition ranking ("1224"): A and B are both 1st, C is 3rd; the crowd
(+4.2) would be 3rd, as would the median and the mean.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from django.test import Client
from django.urls import reverse

from forecasts.services import crowd_fill_medians, forecast_submit
from markets.resolution.manual import question_resolve
from scoring.leaderboard import competition_rank, crowd_rank, leaderboard_rebuild
from scoring.models import LeaderboardEntry, Subject
from scoring.services import question_score
from tests.factories import ForecasterFactory, QuestionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]
UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
TIED = 50 * math.log(0.7 / 0.4)  # +27.980789


@pytest.fixture
def board():
    question = QuestionFactory(open_time=OPEN, close_time=CLOSE)
    people = [ForecasterFactory() for _ in range(3)]
    for who, p in zip(people, (0.7, 0.7, 0.4), strict=True):
        forecast_submit(question_id=question.pk, forecaster=who, probability=p, at=OPEN)
    crowd_fill_medians(question_id=question.pk)
    resolution = question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=question.tournament_id)
    return question.tournament, people


def test_competition_rank_is_one_plus_the_number_strictly_better():
    totals = [27.980789, 27.980789, 4.2, -55.96]
    assert [competition_rank(t, totals) for t in totals] == [1, 1, 3, 4]
    assert competition_rank(100.0, totals) == 1
    assert competition_rank(-100.0, totals) == 5
    assert competition_rank(4.2, []) == 1
    with pytest.raises(ValueError, match="NaN"):
        competition_rank(math.nan, totals)


def test_equal_totals_share_a_rank_on_the_leaderboard(board):
    tournament, (a, b, c) = board
    rows = {
        e.forecaster_id: e
        for e in LeaderboardEntry.objects.filter(tournament=tournament, forecaster__isnull=False)
    }
    assert rows[a.pk].total_peer == rows[b.pk].total_peer  # bit-identical
    assert rows[a.pk].total_peer == pytest.approx(TIED, abs=1e-6)
    assert round(rows[a.pk].total_peer, 6) == 27.980789
    assert [rows[f.pk].rank for f in (a, b, c)] == [1, 1, 3]
    # The crowd's would-be rank counts the same way: two forecasters strictly better.
    assert crowd_rank(tournament.pk) == (3, 3)


def test_the_api_and_the_page_show_the_shared_rank_and_say_the_rule(board):
    tournament, _people = board
    body = Client().get(f"/api/v1/tournaments/{tournament.slug}/leaderboard/").json()
    people = [r for r in body["results"] if r["subject"] == "forecaster"]
    assert [(r["rank"], round(r["total_peer"], 6)) for r in people] == [
        (1, 27.980789),
        (1, 27.980789),
        (3, -55.961579),
    ]
    crowd = next(r for r in body["results"] if r["subject"] == Subject.CROWD)
    assert crowd["rank"] is None and crowd["would_rank"] == 3
    page = Client().get(reverse("leaderboard", args=[tournament.slug])).content.decode()
    # The rank is the cell before each row's name: the crowd, median and mean rows in
    # parentheses, then the forecasters.
    assert re.findall(r'<td class="num"[^>]*>([^<]*)</td>\s*<th scope="row">', page) == [
        "(3)",
        "(3)",
        "(3)",
        "1",
        "1",
        "3",
    ]
    assert "Equal totals share a rank" in page
