"""Issue 20, case 4: track-record weights follow the scores they derive from, and so do the
crowds that use them (docs/methods.md §6.2).

q1 (YES): A forecast 0.9 and B 0.1 over the whole window, so A's peer score is 100 · ln 9 and
B's −100 · ln 9; with one scored question the shrinkage is 1/6, so a_A = 9^(1/6) = 3^(1/3) =
1.4422496 and a_B = 3^(−1/3) = 0.6933613. On the open q3, A forecasts 0.8 and B 0.2: the pool
is σ(ln 4 · (a_A − a_B)/(a_A + a_B)) = 0.6191938. Annulling q1 takes their scores away, the
weights go back to 1 and q3's crowd to 0.5.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest
from django.core.management import CommandError, call_command

from forecasts.models import CrowdPoint, CrowdState, TrackRecordWeight
from forecasts.services import crowd_recompute, forecast_submit
from markets.resolution.manual import question_resolve
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
LATER = dt.datetime(2031, 1, 1, tzinfo=UTC)

A_WEIGHT = 3 ** (1 / 3)  # 1.4422496
B_WEIGHT = 3 ** (-1 / 3)  # 0.6933613
WEIGHTED_CROWD = 0.6191938


def weight(forecaster, tournament) -> float:
    return TrackRecordWeight.objects.get(forecaster=forecaster, tournament=tournament).weight


def crowd(question) -> float:
    return CrowdState.objects.get(question=question).probability


def verify(capsys) -> str:
    call_command("verify_crowd", "--no-progress")
    return capsys.readouterr().out


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    """q1 resolved YES and scored (through the real after-commit scoring task), then A and B
    forecast 0.8 and 0.2 on the open q3."""
    tournament = TournamentFactory(track_record_weighting=True)
    q1 = QuestionFactory(tournament=tournament, key="q1", open_time=OPEN, close_time=CLOSE)
    q3 = QuestionFactory(tournament=tournament, key="q3", open_time=OPEN, close_time=LATER)
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=q1.pk, forecaster=a, probability=0.9, at=OPEN)
    forecast_submit(question_id=q1.pk, forecaster=b, probability=0.1, at=OPEN)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="yes", resolved_at=CLOSE)
    at = CLOSE + dt.timedelta(days=1)
    forecast_submit(question_id=q3.pk, forecaster=a, probability=0.8, at=at)
    forecast_submit(question_id=q3.pk, forecaster=b, probability=0.2, at=at)
    return tournament, q1, q3, a, b


def test_the_reference_values():
    assert A_WEIGHT == pytest.approx(1.4422496, abs=1e-7)
    assert B_WEIGHT == pytest.approx(0.6933613, abs=1e-7)
    x = math.log(4) * (A_WEIGHT - B_WEIGHT) / (A_WEIGHT + B_WEIGHT)
    assert 1 / (1 + math.exp(-x)) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)


def test_weights_and_crowd_after_q1_resolved_yes(world):
    tournament, _q1, q3, a, b = world
    assert weight(a, tournament) == pytest.approx(A_WEIGHT, abs=1e-7)
    assert weight(b, tournament) == pytest.approx(B_WEIGHT, abs=1e-7)
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)


def test_annulling_q1_takes_the_weights_and_the_crowd_back(
    world, django_capture_on_commit_callbacks, capsys
):
    tournament, q1, q3, a, b = world
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="annulled", reason="ambiguous")
    assert weight(a, tournament) == 1.0 and weight(b, tournament) == 1.0
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    last = CrowdPoint.objects.filter(question=q3).order_by("-seq").first()
    assert last.probability == pytest.approx(0.5, abs=1e-12)
    crowd_recompute(question_id=q3.pk)
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    assert "match a recompute" in verify(capsys)


def test_re_resolving_q1_yes_brings_the_weights_and_the_crowd_back(
    world, django_capture_on_commit_callbacks
):
    tournament, q1, q3, a, b = world
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="annulled", reason="ambiguous")
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="yes", reason="clarified", resolved_at=CLOSE)
    assert weight(a, tournament) == pytest.approx(A_WEIGHT, abs=1e-7)
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)


def test_verify_crowd_reports_a_tampered_weight(world, capsys):
    tournament, _q1, _q3, a, _b = world
    assert "match a recompute" in verify(capsys)
    TrackRecordWeight.objects.filter(forecaster=a, tournament=tournament).update(weight=2.0)
    with pytest.raises(CommandError):
        verify(capsys)
    out = capsys.readouterr().out
    assert "track-record weight" in out and "2" in out


def test_verify_crowd_reports_weights_left_behind_by_a_score_change(world, capsys):
    """Scores deleted behind the weights' back (a side door): the stored weights are stale."""
    from scoring.models import Score

    tournament, q1, _q3, a, b = world
    Score.objects.filter(question=q1).delete()
    with pytest.raises(CommandError):
        verify(capsys)
    out = capsys.readouterr().out
    assert "track-record weight" in out
