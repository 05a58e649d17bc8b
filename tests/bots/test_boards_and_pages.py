"""Leaderboards for humans and bots, head to head against the human crowd (by hand), the cohort
endpoints and exports, and bots labelled on pages and in exports."""

from __future__ import annotations

import datetime as dt
import math
from types import SimpleNamespace

import pytest
import time_machine
from rest_framework.test import APIClient

from forecasts.bots import bot_create, builtin_bot
from forecasts.services import forecast_submit, forecast_withdraw
from markets.models import Question
from markets.resolution.manual import question_resolve
from scoring.bots import cohort_board, head_to_head
from scoring.leaderboard import leaderboard_rebuild
from scoring.services import question_score
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]
T0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def arena():
    """One question open ten days: two humans at 0.6 from the start; bot A (primary) at 0.8
    from day 5; bot B (A's owner's second) at 0.3 from day 2, withdrawn on day 4; the trend bot
    at 0.5 from day 8. Resolved YES at the close."""
    tournament = TournamentFactory(slug="arena")
    q = QuestionFactory(tournament=tournament, key="q1", open_time=T0, close_time=T0 + 10 * DAY)
    humans = [ForecasterFactory(), ForecasterFactory()]
    owner = UserFactory(username="owner")
    bot_a = bot_create(owner=owner, name="bot-a")
    bot_b = bot_create(owner=owner, name="bot-b")
    trend = builtin_bot("trend-bot")
    for h in humans:
        forecast_submit(question_id=q.pk, forecaster=h, probability=0.6, at=T0)
    forecast_submit(question_id=q.pk, forecaster=bot_b, probability=0.3, at=T0 + 2 * DAY)
    forecast_withdraw(question_id=q.pk, forecaster=bot_b, at=T0 + 4 * DAY)
    forecast_submit(question_id=q.pk, forecaster=bot_a, probability=0.8, at=T0 + 5 * DAY)
    forecast_submit(question_id=q.pk, forecaster=trend, probability=0.5, at=T0 + 8 * DAY)
    Question.objects.filter(pk=q.pk).update(status=Question.Status.CLOSED)
    resolution = question_resolve(question_id=q.pk, outcome="yes", resolved_at=T0 + 10 * DAY)
    question_score(question_id=q.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=tournament.pk)
    return SimpleNamespace(
        tournament=tournament, q=q, humans=humans, bot_a=bot_a, bot_b=bot_b, trend=trend
    )


def test_head_to_head_is_each_bots_peer_score_against_the_human_crowd(arena):
    by_bot = {h.forecaster.pk: h for h in head_to_head(arena.tournament)}
    # By hand: (1/T) ∫ 100 (ln b − ln c) over the time both hold a forecast; c = 0.6 throughout.
    a = 5 / 10 * 100 * (math.log(0.8) - math.log(0.6))
    b = 2 / 10 * 100 * (math.log(0.3) - math.log(0.6))
    t = 2 / 10 * 100 * (math.log(0.5) - math.log(0.6))
    assert by_bot[arena.bot_a.pk].total == pytest.approx(a, rel=1e-9)
    assert by_bot[arena.bot_b.pk].total == pytest.approx(b, rel=1e-9)
    assert by_bot[arena.trend.pk].total == pytest.approx(t, rel=1e-9)
    assert by_bot[arena.bot_a.pk].questions == 1 and by_bot[arena.bot_a.pk].by_question == {
        "q1": pytest.approx(a)
    }
    assert [h.forecaster.pk for h in head_to_head(arena.tournament)] == [
        arena.bot_a.pk,
        arena.trend.pk,
        arena.bot_b.pk,
    ]


def test_humans_and_bots_boards_rank_within_their_cohort(arena):
    people = cohort_board(arena.tournament, "humans")
    assert {e.forecaster_id for e in people} == {h.pk for h in arena.humans}
    assert all(e.cohort_rank == 1 for e in people)  # equal totals share a rank
    bots = {e.forecaster_id: e for e in cohort_board(arena.tournament, "bots")}
    assert set(bots) == {arena.bot_a.pk, arena.bot_b.pk, arena.trend.pk}
    assert bots[arena.bot_b.pk].cohort_rank is None  # not its owner's primary bot
    ranked = sorted((e.cohort_rank, e.forecaster_id) for e in bots.values() if e.cohort_rank)
    assert [fid for _, fid in ranked] == sorted(
        [arena.bot_a.pk, arena.trend.pk], key=lambda fid: -bots[fid].total_peer
    )
    with pytest.raises(ValueError, match="humans or bots"):
        cohort_board(arena.tournament, "martians")


def test_the_api_serves_boards_head_to_head_and_marks_bots(arena):
    client = APIClient()
    bots = client.get("/api/v1/tournaments/arena/leaderboard/bots/").json()
    names = {r["forecaster"]: r for r in bots["results"]}
    assert names["bot-a [bot]"]["is_bot"] and names["bot-a [bot]"]["primary"]
    assert names["bot-a [bot]"]["owner"] == "owner"
    assert names["trend-bot [bot]"]["rank"] is not None
    humans_board = client.get("/api/v1/tournaments/arena/leaderboard/humans/").json()
    assert not any(r["is_bot"] for r in humans_board["results"])
    assert client.get("/api/v1/tournaments/arena/leaderboard/martians/").status_code == 404
    h2h = client.get("/api/v1/tournaments/arena/head-to-head/").json()["results"]
    assert h2h[0]["forecaster"] == "bot-a [bot]"
    assert h2h[0]["total_peer_vs_human_crowd"] == pytest.approx(50 * math.log(0.8 / 0.6))
    board = client.get("/api/v1/tournaments/arena/leaderboard/").json()["results"]
    assert {r["forecaster"]: r["is_bot"] for r in board if r["forecaster"].endswith("[bot]")} == {
        "bot-a [bot]": True,
        "bot-b [bot]": True,
        "trend-bot [bot]": True,
    }


def test_cohort_endpoints_give_every_cohort_and_exports_label_bots(arena):
    # Two humans: the crowd is not public yet, nor are its cohorts.
    hidden = APIClient().get(f"/api/v1/questions/{arena.q.pk}/cohorts/")
    assert hidden.status_code == 403 and hidden.json()["hidden"] is True
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = APIClient()
    client.force_authenticate(staff)
    now = client.get(f"/api/v1/questions/{arena.q.pk}/cohorts/").json()
    assert now["default"] == "humans" and now["bots_in_crowd"] is False
    assert now["cohorts"]["humans"]["forecasters"] == 2
    assert now["cohorts"]["humans"]["probability"] == pytest.approx(0.6)
    assert now["cohorts"]["bots"]["forecasters"] == 2  # bot-b withdrew
    assert now["cohorts"]["everyone"]["forecasters"] == 4
    assert now["cohorts"]["bots"]["median"] == pytest.approx(0.65)
    history = client.get(f"/api/v1/questions/{arena.q.pk}/cohorts/bots/history/").json()
    assert [p["forecasters"] for p in history["results"]] == [1, 0, 1, 2]
    assert client.get(f"/api/v1/questions/{arena.q.pk}/cohorts/robots/history/").status_code == 404
    csv = client.get(
        f"/api/v1/questions/{arena.q.pk}/cohorts/everyone/crowd-export/"
    ).content.decode()
    lines = csv.splitlines()
    assert lines[0] == "question,cohort,time,forecasters,probability,median,mean"
    assert len(lines) == 1 + 6 and all(",everyone," in line for line in lines[1:])
    whole = client.get("/api/v1/tournaments/arena/cohorts/bots/crowd-export/")
    assert b"\nq1,bots," in b"".join(whole.streaming_content)
    raw = client.get("/api/v1/tournaments/arena/forecasts-export/?format=csv")
    body = b"".join(raw.streaming_content).decode()
    assert "bot:bot-a" in body and "bot:trend-bot" in body
    # The export's default as_of is a second ago: let the scores be a year old.
    with time_machine.travel(dt.datetime(2041, 1, 1, tzinfo=dt.UTC), tick=False):
        scores = client.get("/api/v1/tournaments/arena/scores-export/?format=csv")
        scored = b"".join(scores.streaming_content).decode()
    assert "bot:bot-a" in scored and "bot:trend-bot" in scored


def test_a_question_page_shows_the_bots_forecasts_labelled(client, arena):
    Question.objects.filter(pk=arena.q.pk).update(status=Question.Status.OPEN)
    # Two humans: below the public threshold, so the crowd — and the bots beside it — is hidden.
    hidden = client.get(arena.q.get_absolute_url()).content.decode()
    assert "Bot forecasts" not in hidden
    client.force_login(UserFactory(is_staff=True))
    page = client.get(arena.q.get_absolute_url()).content.decode()
    assert "Bot forecasts" in page
    assert "trend-bot [bot]" in page and "bot-a [bot]" in page
    assert "bot-b [bot]" not in page  # withdrawn


def test_a_yes_no_only_endpoint_refuses_other_types_clearly():
    q = QuestionFactory(type=Question.Type.MULTIPLE_CHOICE, options=["a", "b"])
    r = APIClient().get(f"/api/v1/questions/{q.pk}/cohorts/")
    assert r.status_code == 400 and "yes/no" in r.content.decode()
