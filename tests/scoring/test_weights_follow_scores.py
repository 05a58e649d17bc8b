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

from forecasts.models import CrowdPoint, CrowdState, FrozenWeights, TrackRecordWeight
from forecasts.services import crowd_recompute, forecast_submit, forecast_withdraw
from markets.resolution.manual import question_resolve
from scoring.models import Score
from scoring.track_record import track_record_weight
from scoring.workflows import question_recompute, tournament_settings_changed
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]
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
    assert pytest.approx(1.4422496, abs=1e-7) == A_WEIGHT
    assert pytest.approx(0.6933613, abs=1e-7) == B_WEIGHT
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
    tournament, q1, q3, a, _b = world
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
    assert (
        f"{tournament.slug}: the stored track-record weight of forecaster {a.pk} is 2; "
        "the current scores give 1.44224957"
    ) in out


def test_verify_crowd_reports_weights_left_behind_by_a_score_change(world, capsys):
    """Scores deleted behind the weights' back (a side door): the stored weights are stale."""
    _tournament, q1, _q3, a, b = world
    Score.objects.filter(question=q1).delete()
    with pytest.raises(CommandError):
        verify(capsys)
    out = capsys.readouterr().out
    assert f"weight of forecaster {a.pk} is 1.44224957; the current scores give 1\n" in out
    assert f"weight of forecaster {b.pk} is 0.6933612744; the current scores give 1\n" in out


def frozen(question) -> dict[str, float] | None:
    row = FrozenWeights.objects.filter(question=question).first()
    return None if row is None else row.weights


def test_a_settled_question_keeps_the_weights_it_settled_with(world, capsys):
    """q1's own crowd was built before its outcome was known: its forecasters' new weights
    (learned from q1 itself) must not reach it. The first change of their weights froze it."""
    tournament, q1, q3, a, b = world
    assert frozen(q1) == {str(a.pk): 1.0, str(b.pk): 1.0}
    # The log pool of 0.9 and 0.1 with equal weights.
    assert crowd(q1) == pytest.approx(0.5, abs=1e-12)
    q3_points = list(CrowdPoint.objects.filter(question=q3).values_list("pk", flat=True))
    question_recompute(question_id=q1.pk)  # an aggregation change rebuilds and rescores it
    assert crowd(q1) == pytest.approx(0.5, abs=1e-12)
    # Rescoring gave the same forecaster scores, so the same weights: q3 was not rebuilt.
    assert weight(a, tournament) == pytest.approx(A_WEIGHT, abs=1e-7)
    assert list(CrowdPoint.objects.filter(question=q3).values_list("pk", flat=True)) == q3_points
    assert "match a recompute" in verify(capsys)


def test_a_question_settled_before_the_weights_changed_keeps_its_crowd(
    world, django_capture_on_commit_callbacks, capsys
):
    """docs/methods.md §6.2, Note: q3 settles while q1's YES stands; annulling q1 later changes
    the weights, not q3's crowd or its scores."""
    tournament, q1, q3, a, b = world
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q3.pk, outcome="yes", resolved_at=LATER)
    crowd_score = Score.objects.get(question=q3, subject="crowd", rule="brier").score
    assert crowd_score == pytest.approx((1 - WEIGHTED_CROWD) ** 2, abs=1e-7)
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="annulled", reason="ambiguous")
    # a_A now rests on q3 alone (a scored question of its own), no longer on q1.
    assert weight(a, tournament) == pytest.approx(
        track_record_weight(forecaster_id=a.pk, tournament_id=tournament.pk), rel=1e-12
    )
    assert weight(a, tournament) != pytest.approx(A_WEIGHT, rel=1e-3)
    assert frozen(q3) == {
        str(a.pk): pytest.approx(A_WEIGHT, rel=1e-12),
        str(b.pk): pytest.approx(B_WEIGHT, rel=1e-12),
    }
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)
    question_recompute(question_id=q3.pk)
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)
    assert Score.objects.get(question=q3, subject="crowd", rule="brier").score == pytest.approx(
        crowd_score, abs=1e-12
    )
    assert "match a recompute" in verify(capsys)


def test_a_submission_after_the_weights_changed_replaces_the_term_the_sums_hold(
    world, django_capture_on_commit_callbacks, capsys
):
    """The O(1) update removes the forecaster's term with the weight the sums hold (the
    current one), not the one stored on the forecast when it was made."""
    _tournament, q1, q3, a, b = world
    with django_capture_on_commit_callbacks(execute=True):
        question_resolve(question_id=q1.pk, outcome="annulled", reason="ambiguous")
    at = CLOSE + dt.timedelta(days=2)
    forecast_submit(question_id=q3.pk, forecaster=a, probability=0.8, at=at)
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)  # the same forecast again: nothing moves
    forecast_withdraw(question_id=q3.pk, forecaster=b, at=at + dt.timedelta(hours=1))
    assert crowd(q3) == pytest.approx(0.8, abs=1e-12)
    forecast_submit(question_id=q3.pk, forecaster=b, probability=0.2, at=at + dt.timedelta(hours=2))
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    assert "match a recompute" in verify(capsys)


def test_turning_weighting_off_and_on_moves_the_unsettled_crowds_only(
    world, django_capture_on_commit_callbacks, capsys
):
    tournament, q1, q3, a, b = world
    tournament.track_record_weighting = False
    tournament.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            tournament_settings_changed(
                tournament_id=tournament.pk, changed=["track_record_weighting"]
            )
            == 1
        )
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    assert crowd(q1) == pytest.approx(0.5, abs=1e-12)
    assert "match a recompute" in verify(capsys)
    tournament.track_record_weighting = True
    tournament.save()
    with django_capture_on_commit_callbacks(execute=True):
        tournament_settings_changed(tournament_id=tournament.pk, changed=["track_record_weighting"])
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)
    assert frozen(q1) == {str(a.pk): 1.0, str(b.pk): 1.0}
    assert "match a recompute" in verify(capsys)


def test_a_submission_before_the_rebuild_after_a_settings_change_rebuilds_first(world, capsys):
    """Turning weighting off enqueues the rebuilds after commit; a forecast that arrives first
    finds its crowd state built under the other setting and rebuilds it."""
    tournament, _q1, q3, a, _b = world
    tournament.track_record_weighting = False
    tournament.save()
    tournament_settings_changed(tournament_id=tournament.pk, changed=["track_record_weighting"])
    # No on-commit callbacks ran: q3 still holds the weighted sums.
    assert crowd(q3) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)
    forecast_submit(
        question_id=q3.pk, forecaster=a, probability=0.8, at=CLOSE + dt.timedelta(days=2)
    )
    assert crowd(q3) == pytest.approx(0.5, abs=1e-12)
    assert "match a recompute" in verify(capsys)


def test_the_migration_freezes_what_settled_crowds_were_built_with():
    """Before issue 20 a crowd pooled each forecast with the a_i stored on it; the migration
    keeps a settled question's crowd as it is."""
    import importlib

    from django.apps import apps

    from forecasts.models import Forecast

    migration = importlib.import_module("forecasts.migrations.0010_frozen_weights")
    tournament = TournamentFactory(track_record_weighting=True)
    settled = QuestionFactory(tournament=tournament, open_time=OPEN, close_time=CLOSE)
    unweighted = QuestionFactory(open_time=OPEN, close_time=CLOSE)  # weighting off, a = 1
    a, b = ForecasterFactory(), ForecasterFactory()
    for question in (settled, unweighted):
        forecast_submit(question_id=question.pk, forecaster=a, probability=0.8, at=OPEN)
        forecast_submit(question_id=question.pk, forecaster=b, probability=0.2, at=OPEN)
    # Old-style rows: a weight stored on each forecast, which the old crowd pooled with.
    Forecast.objects.filter(question=settled, forecaster=a).update(track_record_weight=A_WEIGHT)
    Forecast.objects.filter(question=settled, forecaster=b).update(track_record_weight=B_WEIGHT)
    for question in (settled, unweighted):
        question_resolve(question_id=question.pk, outcome="yes", resolved_at=CLOSE)
    FrozenWeights.objects.all().delete()
    migration.freeze_settled(apps, None)
    assert frozen(settled) == {str(a.pk): A_WEIGHT, str(b.pk): B_WEIGHT}
    assert frozen(unweighted) is None  # weights 1 then and now: nothing to keep
    crowd_recompute(question_id=settled.pk)
    assert crowd(settled) == pytest.approx(WEIGHTED_CROWD, abs=1e-7)
