"""Scoring multiple-choice and continuous questions through the services: the stored scores
equal the pure rules' values, the crowd is scored, re-resolution rescores, annulment removes,
the sweep repairs, leaderboards and exports include them (docs/methods.md §4.16)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from forecasts.distributions import Scale, resolution_bucket
from forecasts.services import forecast_submit, forecast_withdraw
from markets.models import Question, Resolution
from markets.resolution.manual import question_resolve
from scoring import rules_types
from scoring.leaderboard import leaderboard_rebuild
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from scoring.services import question_score, scores_repair
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
DAY = dt.timedelta(days=1)
GRID = np.linspace(0.0, 1.0, 201)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]


def mc_question(k: int = 3, **kwargs) -> Question:
    kwargs.setdefault("tournament", TournamentFactory())
    return QuestionFactory(
        type=Question.Type.MULTIPLE_CHOICE,
        options=[f"option {i}" for i in range(k)],
        open_time=OPEN,
        close_time=CLOSE,
        **kwargs,
    )


def numeric_question(qtype=Question.Type.NUMERIC, open_lower=False, open_upper=False, **kw):
    kw.setdefault("tournament", TournamentFactory())
    return QuestionFactory(
        type=qtype,
        range_min=0.0,
        range_max=100.0,
        open_lower_bound=open_lower,
        open_upper_bound=open_upper,
        open_time=OPEN,
        close_time=CLOSE,
        **kw,
    )


def uniform_cdf(open_lower=False, open_upper=False) -> np.ndarray:
    below = 0.05 if open_lower else 0.0
    above = 0.05 if open_upper else 0.0
    return below + (1.0 - below - above) * GRID


def peaked_cdf(centre_bucket: int, mass: float = 0.2) -> np.ndarray:
    """A closed-bounds CDF with ``mass`` in inbound bucket ``centre_bucket`` (1…200), the rest
    spread evenly."""
    pmf = np.full(200, (1.0 - mass) / 199)
    pmf[centre_bucket - 1] = mass
    return np.concatenate([[0.0], np.cumsum(pmf)])


def submit(question, who, values, at):
    return forecast_submit(question_id=question.pk, forecaster=who, values=values, at=at)


def resolve(question, outcome, **kw) -> Resolution:
    kw.setdefault("resolved_at", CLOSE)
    return question_resolve(question_id=question.pk, outcome=outcome, **kw)


def score(question, resolution) -> int:
    return question_score(question_id=question.pk, resolution_id=resolution.pk)


def get(question, rule, forecaster=None, subject=Subject.FORECASTER) -> Score:
    if forecaster is None:
        return Score.objects.get(question=question, subject=subject, rule=rule)
    return Score.objects.get(question=question, forecaster=forecaster, rule=rule)


def test_multiple_choice_one_forecaster_all_window_scores_the_rules():
    question = mc_question(3)
    alice = ForecasterFactory()
    submit(question, alice, [0.6, 0.3, 0.1], OPEN)
    written = score(question, resolve(question, "option", option=0))
    assert written == Score.objects.filter(question=question).count()
    # Forecaster, crowd and mean: 4 time-averaged + 4 spot rules each; no median for MC.
    assert Score.objects.filter(question=question).count() == 3 * 8
    assert not Score.objects.filter(question=question, subject=Subject.MEDIAN).exists()
    # The 0.26 case: (0.6 - 1)² + 0.3² + 0.1² = 0.26, on the 0..2 scale, its own rule.
    assert get(question, Rule.MC_BRIER, alice).score == pytest.approx(0.26)
    assert get(question, Rule.SPOT_MC_BRIER, alice).score == pytest.approx(0.26)
    assert not Score.objects.filter(question=question, rule=Rule.BRIER).exists()
    log = get(question, Rule.LOG, alice)
    assert log.score == pytest.approx(math.log(0.6)) and log.coverage == pytest.approx(1.0)
    assert get(question, Rule.BASELINE, alice).score == pytest.approx(53.502648, abs=1e-6)
    assert get(question, Rule.PEER, alice).score == pytest.approx(0.0)
    spot = get(question, Rule.SPOT_LOG, alice)
    assert spot.forecast == pytest.approx(0.6)  # the probability held on what happened
    # The crowd of one forecaster is that forecaster's forecast: same log and Brier.
    for subject in (Subject.CROWD, Subject.MEAN):
        assert get(question, Rule.LOG, subject=subject).score == pytest.approx(math.log(0.6))
        assert get(question, Rule.MC_BRIER, subject=subject).score == pytest.approx(0.26)
        assert get(question, Rule.PEER, subject=subject).score == pytest.approx(0.0, abs=1e-9)


def test_multiple_choice_scores_equal_the_pure_functions():
    question = mc_question(4)
    people = [ForecasterFactory() for _ in range(3)]
    forecasts = [
        (people[0], [0.1, 0.2, 0.3, 0.4], OPEN),
        (people[1], [0.7, 0.1, 0.1, 0.1], OPEN + 2 * DAY),
        (people[0], [0.25, 0.25, 0.25, 0.25], OPEN + 5 * DAY),
        (people[2], [0.05, 0.05, 0.8, 0.1], OPEN + 6 * DAY),
    ]
    for who, values, at in forecasts:
        submit(question, who, values, at)
    forecast_withdraw(question_id=question.pk, forecaster=people[1], at=OPEN + 8 * DAY)
    score(question, resolve(question, "option", option=2))
    times = [at.timestamp() for _, _, at in forecasts] + [(OPEN + 8 * DAY).timestamp()]
    codes = [0, 1, 0, 2, 1]
    probs = np.array([v for _, v, _ in forecasts] + [[math.nan] * 4])
    want = rules_types.score_question_mc(
        times,
        codes,
        probs,
        outcome=2,
        open_time=OPEN.timestamp(),
        close_time=CLOSE.timestamp(),
        resolved_at=CLOSE.timestamp(),
        n_forecasters=3,
    )
    for code, who in enumerate(people):
        assert get(question, Rule.MC_BRIER, who).score == pytest.approx(want.brier[code])
        assert get(question, Rule.LOG, who).score == pytest.approx(want.log[code])
        assert get(question, Rule.PEER, who).score == pytest.approx(want.peer[code])
        assert get(question, Rule.BASELINE, who).coverage == pytest.approx(want.coverage[code])
    # people[1] withdrew before the close: no spot scores.
    assert not Score.objects.filter(
        question=question, forecaster=people[1], rule=Rule.SPOT_LOG
    ).exists()
    # The crowd: the log pool of the active forecasts after each event, scored as a series.
    crowd_log = get(question, Rule.LOG, subject=Subject.CROWD).score
    assert math.isfinite(crowd_log)
    mean_brier = get(question, Rule.MC_BRIER, subject=Subject.MEAN).score
    assert 0.0 <= mean_brier <= 2.0


def test_continuous_one_forecaster_whole_window_scores_ln_p_b_and_crps():
    question = numeric_question()
    alice = ForecasterFactory()
    cdf = peaked_cdf(101)
    submit(question, alice, cdf, OPEN)
    value = 50.3  # location 0.503: bucket 101, (0.5, 0.505]
    assert resolution_bucket(value, Scale(0.0, 100.0)) == 101
    score(question, resolve(question, "value", value=value))
    assert get(question, Rule.LOG, alice).score == pytest.approx(math.log(0.2))
    # Baseline 100 · ln(0.2 / (1/200)) / 2 (closed bounds): SPEC's +184.4440.
    assert get(question, Rule.BASELINE, alice).score == pytest.approx(184.4440, abs=1e-4)
    crps = rules_types.continuous_crps(cdf, value, Scale(0.0, 100.0))[0]
    assert get(question, Rule.CRPS, alice).score == pytest.approx(crps)
    assert get(question, Rule.SPOT_CRPS, alice).score == pytest.approx(crps)
    assert get(question, Rule.SPOT_LOG, alice).forecast == pytest.approx(0.2)
    for subject in (Subject.CROWD, Subject.MEAN):
        assert get(question, Rule.LOG, subject=subject).score == pytest.approx(math.log(0.2))
        assert get(question, Rule.CRPS, subject=subject).score == pytest.approx(crps)
    assert not Score.objects.filter(question=question, rule__in=[Rule.BRIER, Rule.MC_BRIER])


def test_continuous_scores_equal_the_pure_functions_with_the_crowd_pool():
    question = numeric_question(open_upper=True)
    rng = np.random.default_rng(3)
    people = [ForecasterFactory() for _ in range(3)]
    cdfs = []
    for i, who in enumerate(people):
        g = np.concatenate([[0.0], np.cumsum(rng.dirichlet(np.full(200, 3.0)))])
        cdf = 0.989 * g + 0.01 * GRID
        cdfs.append(cdf)
        submit(question, who, cdf, OPEN + i * DAY)
    score(question, resolve(question, "above"))
    scale = Scale(0.0, 100.0, False, True)
    times = [(OPEN + i * DAY).timestamp() for i in range(3)]
    lp = np.log(rules_types.bucket_probability(np.array(cdfs), 201))
    crps = rules_types.continuous_crps(np.array(cdfs), math.inf, scale)
    window = {
        "open_time": OPEN.timestamp(),
        "close_time": CLOSE.timestamp(),
        "resolved_at": CLOSE.timestamp(),
    }
    bounds = {"bucket": 201, "open_lower": False, "open_upper": True}
    want = rules_types.score_question_continuous(
        times, [0, 1, 2], lp, crps=crps, n_forecasters=3, **bounds, **window
    )
    for code, who in enumerate(people):
        assert get(question, Rule.LOG, who).score == pytest.approx(want.log[code])
        assert get(question, Rule.PEER, who).score == pytest.approx(want.peer[code])
        assert get(question, Rule.BASELINE, who).score == pytest.approx(want.baseline[code])
        assert get(question, Rule.CRPS, who).score == pytest.approx(want.crps[code])
    # The crowd: at the end the log pool of all three PMFs (equal weights, no extremizing).
    pmf = np.diff(np.array(cdfs), axis=1, prepend=0.0, append=1.0)
    geometric = np.exp(np.mean(np.log(pmf[:, 1:]), axis=0))  # bucket 0 is off the support
    pooled_above = geometric[-1] / geometric.sum()
    spot = get(question, Rule.SPOT_LOG, subject=Subject.CROWD)
    assert spot.score == pytest.approx(math.log(pooled_above), rel=1e-9)
    mean_spot = get(question, Rule.SPOT_LOG, subject=Subject.MEAN)
    assert mean_spot.score == pytest.approx(math.log(np.mean(pmf[:, -1])), rel=1e-9)


def test_discrete_questions_have_no_crps():
    question = numeric_question(Question.Type.DISCRETE)
    submit(question, ForecasterFactory(), uniform_cdf(), OPEN)
    score(question, resolve(question, "value", value=40.0))
    assert Score.objects.filter(question=question, rule=Rule.LOG).count() == 3
    assert not Score.objects.filter(question=question, rule__in=[Rule.CRPS, Rule.SPOT_CRPS])


def test_re_resolution_rescores_and_annulment_removes():
    question = mc_question(3)
    alice = ForecasterFactory()
    submit(question, alice, [0.6, 0.3, 0.1], OPEN)
    first = resolve(question, "option", option=0)
    score(question, first)
    second = resolve(question, "option", option=1, reason="misread")
    score(question, second)
    log = get(question, Rule.LOG, alice)
    assert log.resolution_id == second.pk and log.score == pytest.approx(math.log(0.3))
    assert not Score.objects.filter(resolution=first).exists()
    annulled = resolve(question, "annulled", reason="ambiguous")
    assert score(question, annulled) == 0
    assert not Score.objects.filter(question=question).exists()


def test_the_sweep_scores_a_typed_final_resolution_left_unscored(
    django_capture_on_commit_callbacks,
):
    question = numeric_question()
    submit(question, ForecasterFactory(), uniform_cdf(), OPEN)
    resolve(question, "value", value=20.0)
    assert not Score.objects.filter(question=question).exists()
    later = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        found = scores_repair(now=later)
    assert found.missing == 1
    assert Score.objects.filter(question=question, rule=Rule.CRPS).count() == 3


def test_leaderboard_ranks_every_type_by_peer_and_keeps_brier_binary():
    tournament = TournamentFactory()
    alice, bob = ForecasterFactory(), ForecasterFactory()
    mc = mc_question(3, tournament=tournament)
    submit(mc, alice, [0.6, 0.3, 0.1], OPEN)
    submit(mc, bob, [0.2, 0.4, 0.4], OPEN)
    score(mc, resolve(mc, "option", option=0))
    num = numeric_question(tournament=tournament)
    submit(num, alice, peaked_cdf(101), OPEN)
    submit(num, bob, uniform_cdf(), OPEN)
    score(num, resolve(num, "value", value=50.3))
    leaderboard_rebuild(tournament_id=tournament.pk)
    entry = LeaderboardEntry.objects.get(tournament=tournament, forecaster=alice)
    peers = Score.objects.filter(forecaster=alice, rule=Rule.PEER).values_list("score", flat=True)
    assert entry.questions == 2 and entry.total_peer == pytest.approx(sum(peers))
    assert entry.rank == 1
    # No yes/no question: no Brier mean (the multiple-choice Brier is on 0..2, not mixed in).
    assert entry.mean_brier is None


def calibration(client, tournament, subject):
    r = client.get(f"/api/v1/tournaments/{tournament.slug}/calibration/", {"subject": subject})
    assert r.status_code == 200, r.content
    return r.json()


def test_calibration_endpoint_shows_pit_coverage_and_multiple_choice_bins():
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    tournament = TournamentFactory()
    people = [ForecasterFactory() for _ in range(4)]
    num = numeric_question(tournament=tournament)
    for i, who in enumerate(people):
        submit(num, who, uniform_cdf(), OPEN + i * DAY)
    resolve(num, "value", value=30.0)  # every PIT is F(30) = 0.3
    mc = mc_question(3, tournament=tournament)
    submit(mc, people[0], [0.6, 0.3, 0.1], OPEN)
    submit(mc, people[1], [0.2, 0.5, 0.3], OPEN)
    resolve(mc, "option", option=0)
    body = calibration(APIClient(), tournament, "forecasters")
    assert body["forecasts"] == 0 and body["questions"] == 0  # no yes/no question
    cont = body["continuous"]
    assert cont["questions"] == 1 and cont["forecasts"] == 4
    counts = [b["count"] for b in cont["pit_histogram"]]
    assert counts == [0, 0, 0, 4, 0, 0, 0, 0, 0, 0]
    assert [c["hits"] for c in cont["interval_coverage"]] == [4, 4]
    assert cont["interval_coverage"][0]["level"] == 0.5
    assert cont["interval_coverage"][0]["wilson_low"] == pytest.approx(0.5101, abs=1e-4)
    choice = body["multiple_choice"]
    assert choice["questions"] == 1 and choice["forecasts"] == 2 and choice["pairs"] == 6
    bins = {round(b["lower"], 1): b for b in choice["bins"] if b["count"]}
    assert bins[0.6]["observed_frequency"] == 1.0  # the 0.6 on what happened
    assert bins[0.5]["observed_frequency"] == 0.0
    assert sum(b["count"] for b in choice["bins"]) == 6
    # The crowd (staff: the full history): the log pool of four uniform CDFs is uniform.
    staff = APIClient()
    staff.force_authenticate(UserFactory(is_staff=True))
    crowd = calibration(staff, tournament, "crowd")
    assert crowd["continuous"]["forecasts"] == 1
    assert crowd["continuous"]["pit_histogram"][3]["count"] == 1
    assert crowd["multiple_choice"]["forecasts"] == 1
    mean = calibration(staff, tournament, "mean")
    assert mean["multiple_choice"]["pairs"] == 3
    top = max(
        (b for b in mean["multiple_choice"]["bins"] if b["count"]),
        key=lambda b: b["mean_forecast"],
    )
    assert top["mean_forecast"] == pytest.approx(0.4)  # (0.6 + 0.2)/2 on option 0, and 0.4
    assert "continuous" not in calibration(APIClient(), TournamentFactory(), "crowd")


def test_score_export_holds_typed_rows_with_their_outcome():
    from scoring.exports import render_scores_csv

    tournament = TournamentFactory()
    mc = mc_question(3, tournament=tournament, key="a-mc")
    submit(mc, ForecasterFactory(), [0.6, 0.3, 0.1], OPEN)
    score(mc, resolve(mc, "option", option=0))
    num = numeric_question(tournament=tournament, key="b-num")
    submit(num, ForecasterFactory(), uniform_cdf(), OPEN)
    score(num, resolve(num, "value", value=30.0))
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=1)
    text = b"".join(render_scores_csv(tournament, as_of=later)).decode()
    lines = text.splitlines()
    assert any(line.startswith("a-mc,1,option:0,crowd,,mc_brier,") for line in lines)
    assert any(
        line.startswith("b-num,1,value:30.0,forecaster,") and ",crps," in line for line in lines
    )


def test_track_record_shows_typed_questions_with_their_own_brier():
    from django.test import Client
    from django.urls import reverse

    from tests.factories import UserFactory

    tournament = TournamentFactory()
    user = UserFactory()
    alice = ForecasterFactory(user=user)
    mc = mc_question(3, tournament=tournament, title="Which lab first?")
    mc.options = ["Lab A", "Lab B", "Lab C"]
    mc.save()
    submit(mc, alice, [0.6, 0.3, 0.1], OPEN)
    score(mc, resolve(mc, "option", option=0))
    num = numeric_question(tournament=tournament, title="How many parameters?")
    submit(num, alice, peaked_cdf(101), OPEN)
    score(num, resolve(num, "value", value=50.3))
    client = Client()
    client.force_login(user)
    response = client.get(reverse("track-record", args=[alice.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Which lab first?" in body and "How many parameters?" in body
    assert "Lab A" in body and "50.3" in body
    assert "Mean Brier, multiple choice" in body and "0.260" in body
    assert "60%" in body and "20%" in body  # the probability held on what happened
    # Peer totals over both types: 0 each for a lone forecaster.
    summary = response.context["summary"]
    assert summary["questions"] == 2 and summary["scored"] == 2
    assert summary["mean_brier"] is None and summary["mean_mc_brier"] == pytest.approx(0.26)
    assert summary["mean_coverage"] == pytest.approx(1.0)


def test_question_page_lists_the_typed_rules():
    from django.test import Client

    from tests.factories import UserFactory

    user = UserFactory()
    alice = ForecasterFactory(user=user)
    mc = mc_question(3)
    submit(mc, alice, [0.6, 0.3, 0.1], OPEN)
    score(mc, resolve(mc, "option", option=0))
    num = numeric_question()
    submit(num, alice, peaked_cdf(101), OPEN)
    score(num, resolve(num, "value", value=50.3))
    client = Client()
    client.force_login(user)
    mc_page = client.get(mc.get_absolute_url())
    assert mc_page.status_code == 200
    assert "Brier (multiple choice, 0–2)" in mc_page.content.decode()
    num_page = client.get(num.get_absolute_url())
    assert num_page.status_code == 200
    assert "CRPS" in num_page.content.decode()
