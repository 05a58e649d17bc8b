"""Scoring a resolved question through the service: once per resolution, replaced on change."""

from __future__ import annotations

import datetime as dt
import math
import threading

import pytest
from django.db import connection

from forecasts.services import crowd_fill_medians, forecast_submit, forecast_withdraw
from markets.models import Resolution
from markets.resolution.manual import question_resolve
from scoring.leaderboard import leaderboard_rebuild
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from scoring.services import question_score
from scoring.track_record import track_record_weight
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)


# Questions in 2030–2031 resolve with effective times in the past (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("clock_after_2031")


def make_question(probabilities=(0.9, 0.2, 0.6)):
    question = QuestionFactory(open_time=OPEN, close_time=CLOSE)
    people = [ForecasterFactory() for _ in probabilities]
    for i, (who, p) in enumerate(zip(people, probabilities, strict=True)):
        forecast_submit(
            question_id=question.pk, forecaster=who, probability=p, at=OPEN + dt.timedelta(days=i)
        )
    crowd_fill_medians(question_id=question.pk)
    return question, people


def resolve(question, outcome, **kw) -> Resolution:
    kw.setdefault("resolved_at", CLOSE)
    return question_resolve(question_id=question.pk, outcome=outcome, **kw)


def peer(question, forecaster) -> float:
    return Score.objects.get(question=question, forecaster=forecaster, rule=Rule.PEER).score


@pytest.mark.django_db
def test_a_final_resolution_scores_every_forecaster_and_the_crowd():
    question, people = make_question()
    resolution = resolve(question, "yes")
    written = question_score(question_id=question.pk, resolution_id=resolution.pk)
    assert written == Score.objects.filter(question=question).count() > 0
    # Every forecaster: 4 time-averaged rules + 4 spot rules; crowd, median, mean likewise.
    assert Score.objects.filter(question=question, subject=Subject.FORECASTER).count() == 3 * 8
    for subject in (Subject.CROWD, Subject.MEDIAN, Subject.MEAN):
        assert Score.objects.filter(question=question, subject=subject).count() == 8
    first = people[0]
    # Held 0.9 for the whole window (forecast at open): Brier (0.9 - 1)^2.
    brier = Score.objects.get(question=question, forecaster=first, rule=Rule.BRIER)
    assert brier.score == pytest.approx(0.01)
    assert brier.coverage == pytest.approx(1.0)
    late = Score.objects.get(question=question, forecaster=people[2], rule=Rule.BRIER)
    assert late.coverage == pytest.approx(0.8)  # forecast on day 2 of 10
    spot = Score.objects.get(question=question, forecaster=first, rule=Rule.SPOT_BRIER)
    assert spot.forecast == pytest.approx(0.9)
    # Peer scores of one instant sum to zero: the spot peers do.
    spots = Score.objects.filter(question=question, subject=Subject.FORECASTER, rule=Rule.SPOT_PEER)
    assert sum(s.score for s in spots) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.django_db
def test_scoring_the_same_resolution_twice_leaves_one_set():
    question, _ = make_question()
    resolution = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    count = Score.objects.count()
    assert question_score(question_id=question.pk, resolution_id=resolution.pk) == 0
    assert Score.objects.count() == count


@pytest.mark.django_db
def test_re_resolving_flips_peer_scores_and_never_keeps_both_versions():
    question, people = make_question()
    yes = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=yes.pk)
    before = {p.pk: peer(question, p) for p in people}
    no = resolve(question, "no", reason="The source was misread")
    question_score(question_id=question.pk, resolution_id=no.pk)
    assert set(Score.objects.filter(question=question).values_list("resolution_id", flat=True)) == {
        no.pk
    }
    # peer(YES) − peer(NO) = 100 · (logit p_i − mean_j≠i logit p_j): the most confident YES
    # forecaster gains most under YES and loses most under NO.
    assert max(before, key=before.get) == people[0].pk
    assert min(people, key=lambda p: peer(question, p)) == people[0]
    # A stale task for the old version does nothing.
    assert question_score(question_id=question.pk, resolution_id=yes.pk) == 0
    assert set(Score.objects.filter(question=question).values_list("resolution_id", flat=True)) == {
        no.pk
    }


@pytest.mark.django_db
def test_peer_scores_flip_sign_exactly_for_two_symmetric_forecasters():
    question, people = make_question((0.8, 0.3))
    yes = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=yes.pk)
    yes_peer = peer(question, people[1])
    no = resolve(question, "no", reason="flip")
    question_score(question_id=question.pk, resolution_id=no.pk)
    spot = Score.objects.get(question=question, forecaster=people[1], rule=Rule.SPOT_PEER).score
    assert spot == pytest.approx(100 * (math.log(0.7) - math.log(0.2)))
    # With two forecasters, re-resolving always flips the sign of each peer score.
    assert yes_peer < 0 < peer(question, people[1])


@pytest.mark.django_db
def test_annulled_questions_score_nothing():
    question, _ = make_question()
    yes = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=yes.pk)
    annulled = resolve(question, "annulled", reason="Ambiguous")
    question_score(question_id=question.pk, resolution_id=annulled.pk)
    assert not Score.objects.filter(question=question).exists()


@pytest.mark.django_db
def test_withdrawn_and_late_forecasts_count_only_while_held():
    question = QuestionFactory(open_time=OPEN, close_time=CLOSE)
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=question.pk, forecaster=a, probability=0.7, at=OPEN)
    forecast_submit(question_id=question.pk, forecaster=b, probability=0.4, at=OPEN)
    forecast_withdraw(question_id=question.pk, forecaster=a, at=OPEN + dt.timedelta(days=5))
    resolution = resolve(question, "yes", resolved_at=OPEN + dt.timedelta(days=8))
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    cov = Score.objects.get(question=question, forecaster=a, rule=Rule.BRIER).coverage
    assert cov == pytest.approx(0.5)
    # b held through the early resolution (day 8 of 10): the rest is uncovered.
    assert Score.objects.get(
        question=question, forecaster=b, rule=Rule.LOG
    ).coverage == pytest.approx(0.8)
    assert not Score.objects.filter(question=question, forecaster=a, rule=Rule.SPOT_BRIER).exists()


@pytest.mark.django_db
def test_leaderboard_ranks_by_total_peer_with_the_crowd_as_reference():
    question, people = make_question()
    resolution = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=question.tournament_id)
    ranked = list(LeaderboardEntry.objects.filter(rank__isnull=False).order_by("rank"))
    assert ranked[0].forecaster_id == people[0].pk  # 0.9 on a YES
    assert ranked == sorted(ranked, key=lambda e: -e.total_peer)
    crowd = LeaderboardEntry.objects.get(subject=Subject.CROWD)
    assert crowd.rank is None and crowd.questions == 1


@pytest.mark.django_db
def test_track_record_weight_rewards_a_good_track_record():
    question, people = make_question()
    resolution = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    assert (
        track_record_weight(forecaster_id=people[0].pk)
        > 1.0
        > track_record_weight(forecaster_id=people[1].pk)
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_scoring_in_two_workers_leaves_one_set():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks; CI runs it")
    question, _ = make_question()
    resolution = resolve(question, "yes")
    Score.objects.all().delete()  # eager scoring ran on commit; start from nothing
    errors: list[BaseException] = []

    def work() -> None:
        try:
            question_score(question_id=question.pk, resolution_id=resolution.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Score.objects.filter(question=question).count() == 3 * 8 + 3 * 8


@pytest.mark.django_db
def test_track_record_weight_counts_only_the_given_tournament():
    question, people = make_question()
    resolution = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    other = TournamentFactory()
    best = people[0].pk
    assert track_record_weight(forecaster_id=best, tournament_id=question.tournament_id) > 1.0
    assert track_record_weight(forecaster_id=best, tournament_id=other.pk) == 1.0


@pytest.mark.django_db
def test_crowd_rank_is_where_the_crowd_would_stand():
    from scoring.leaderboard import crowd_rank

    question, _ = make_question()
    resolution = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=question.tournament_id)
    crowd = LeaderboardEntry.objects.get(subject=Subject.CROWD)
    ranked = LeaderboardEntry.objects.filter(rank__isnull=False)
    better = sum(1 for e in ranked if e.total_peer > crowd.total_peer)
    assert crowd_rank(question.tournament_id) == (better + 1, ranked.count())


def stored_weight(forecaster, tournament_id) -> float:
    from forecasts.models import TrackRecordWeight

    return TrackRecordWeight.objects.get(forecaster=forecaster, tournament_id=tournament_id).weight


@pytest.mark.django_db
def test_precomputed_track_record_weights_follow_every_score_change():
    question, people = make_question()
    question.tournament.track_record_weighting = True
    question.tournament.save()
    tid = question.tournament_id
    yes = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=yes.pk)
    # peer scores (0.9, 0.2, 0.6 on YES held from their days): a = exp(1/6 · peer / 100)
    for who in people:
        live = track_record_weight(forecaster_id=who.pk, tournament_id=tid)
        assert stored_weight(who, tid) == pytest.approx(live, rel=1e-12)
        expected = math.exp(peer(question, who) / 100 / 6)
        assert live == pytest.approx(expected, rel=1e-12)
    good = stored_weight(people[0], tid)
    assert good > 1.0 > stored_weight(people[1], tid)
    # Re-resolved NO: the scores flip and so do the stored weights.
    no = resolve(question, "no", reason="the source corrected itself")
    question_score(question_id=question.pk, resolution_id=no.pk)
    assert stored_weight(people[0], tid) < 1.0 < stored_weight(people[1], tid)
    # Annulled: no scores at all, every weight back to 1.
    annulled = resolve(question, "annulled", reason="ambiguous")
    question_score(question_id=question.pk, resolution_id=annulled.pk)
    assert [stored_weight(who, tid) for who in people] == [1.0, 1.0, 1.0]


@pytest.mark.django_db
def test_track_record_weighting_uses_the_precomputed_weight_at_submission():
    from forecasts.models import Forecast

    question, people = make_question()
    tid = question.tournament_id
    yes = resolve(question, "yes")
    question_score(question_id=question.pk, resolution_id=yes.pk)
    later = QuestionFactory(
        tournament=question.tournament,
        open_time=OPEN,
        close_time=dt.datetime(2031, 1, 1, tzinfo=UTC),
    )
    at = dt.datetime(2030, 2, 1, tzinfo=UTC)
    # Weighting off: every new forecast carries a = 1.
    forecast_submit(question_id=later.pk, forecaster=people[0], probability=0.7, at=at)
    assert Forecast.objects.filter(question=later).get().track_record_weight == 1.0
    # Weighting on: the stored a_i, and the crowd pools with it (docs/methods.md §2.3).
    question.tournament.track_record_weighting = True
    question.tournament.save()
    from scoring.workflows import tournament_settings_changed

    tournament_settings_changed(
        tournament_id=question.tournament_id, changed=["track_record_weighting"]
    )
    forecast_submit(question_id=later.pk, forecaster=people[1], probability=0.2, at=at)
    event = Forecast.objects.filter(question=later, forecaster=people[1]).get()
    assert event.track_record_weight == pytest.approx(stored_weight(people[1], tid))
    assert event.track_record_weight < 1.0
