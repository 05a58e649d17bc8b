"""The forecasts a calibration counts: those held at the cutoff (close, or earlier resolution)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser

from api.scoring import calibration_inputs
from forecasts.services import forecast_submit, forecast_withdraw
from markets.resolution.manual import question_resolve
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]
UTC = dt.UTC
T = dt.datetime(2030, 1, 1, tzinfo=UTC)


def test_held_forecasts_at_the_cutoff_per_subject():
    tournament = TournamentFactory()
    q = QuestionFactory(tournament=tournament, key="b")
    other = QuestionFactory(tournament=tournament, key="a")  # resolved NO, nobody forecast
    a, b, c = ForecasterFactory(), ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=q.pk, forecaster=a, probability=0.6, at=T)
    forecast_submit(question_id=q.pk, forecaster=a, probability=0.8, at=T + dt.timedelta(hours=1))
    forecast_submit(question_id=q.pk, forecaster=b, probability=0.3, at=T)
    forecast_withdraw(question_id=q.pk, forecaster=b, at=T + dt.timedelta(hours=2))
    forecast_submit(question_id=q.pk, forecaster=c, probability=0.9, at=T + dt.timedelta(hours=5))
    # The truth was known at hour 4: c's later forecast is not held at the cutoff.
    question_resolve(question_id=q.pk, outcome="yes", resolved_at=T + dt.timedelta(hours=4))
    question_resolve(question_id=other.pk, outcome="no", resolved_at=T)

    assert calibration_inputs(tournament, "forecasters", None) == ([0.8], [1], 1)
    assert calibration_inputs(tournament, "me", a.user) == ([0.8], [1], 1)
    assert calibration_inputs(tournament, "me", b.user) == ([], [], 0)
    staff = UserFactory(is_staff=True)
    probs, outcomes, questions = calibration_inputs(tournament, "crowd", staff)
    assert probs == [pytest.approx(0.8)] and outcomes == [1] and questions == 1
    # Everyone else: the public series' crowd at the cutoff, and a crowd of one forecaster
    # (a's 0.8) is never public (docs/privacy.md).
    assert calibration_inputs(tournament, "crowd", AnonymousUser()) == ([], [], 0)


def test_every_forecasters_held_forecasts_are_cached_until_the_log_or_a_resolution_changes(
    django_assert_max_num_queries,
):
    """Issue 19: the forecasters' calibration reads the whole log (0.3 s on ACX), so it is
    cached; a new event (a backdated import is a new row) or a new resolution version gives a
    fresh result, never the cached one."""
    from forecasts.models import Forecast

    tournament = TournamentFactory()
    q = QuestionFactory(tournament=tournament, key="q")
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=q.pk, forecaster=a, probability=0.6, at=T)
    question_resolve(question_id=q.pk, outcome="yes", resolved_at=T + dt.timedelta(hours=4))
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6], [1], 1)
    # The second time the log is not read: the finals and the newest id, nothing else.
    with django_assert_max_num_queries(2):
        assert calibration_inputs(tournament, "forecasters", None) == ([0.6], [1], 1)
    # An event written into the past (as an import does) is a new row: counted at once.
    Forecast.objects.create(
        question=q, forecaster=b, probability=0.2, time=T + dt.timedelta(hours=1)
    )
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6, 0.2], [1, 1], 1)
    # A re-resolution (a new final version): the outcome follows.
    question_resolve(
        question_id=q.pk, outcome="no", resolved_at=T + dt.timedelta(hours=4), reason="typo"
    )
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6, 0.2], [0, 0], 1)
    # An earlier resolution moves the cutoff before b's event: it drops out.
    question_resolve(
        question_id=q.pk, outcome="no", resolved_at=T + dt.timedelta(minutes=30), reason="early"
    )
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6], [0], 1)


def test_a_scoring_run_warms_the_cache_the_calibration_reads(monkeypatch):
    """Issue 19: after scores change (the debounced leaderboard task), every forecaster's held
    forecasts are computed and cached, so the next calibration request reads no log; what it
    returns is what a cold computation returns."""
    from forecasts.models import Forecast
    from scoring import held
    from scoring.tasks import leaderboard_rebuild_task

    tournament = TournamentFactory()
    q = QuestionFactory(tournament=tournament, key="q")
    a, b = ForecasterFactory(), ForecasterFactory()
    forecast_submit(question_id=q.pk, forecaster=a, probability=0.6, at=T)
    forecast_submit(question_id=q.pk, forecaster=b, probability=0.3, at=T)
    question_resolve(question_id=q.pk, outcome="yes", resolved_at=T + dt.timedelta(hours=4))
    reads = []
    real = held.forecasts_held_at

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(held, "forecasts_held_at", counting)
    leaderboard_rebuild_task(tournament.pk)  # what runs after a scoring run
    assert len(reads) == 1
    assert not held.held_forecasts_warm(tournament_id=tournament.pk)  # warm already
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6, 0.3], [1, 1], 1)
    assert len(reads) == 1, "the calibration read the log although the cache was warm"
    # A change after the warm-up is never answered from the old entry.
    Forecast.objects.create(
        question=q, forecaster=b, probability=0.9, time=T + dt.timedelta(hours=1)
    )
    assert calibration_inputs(tournament, "forecasters", None) == ([0.6, 0.9], [1, 1], 1)
    assert len(reads) == 2


def test_the_scoring_workflow_runs_on_when_the_cache_is_down(monkeypatch):
    """Warming is best effort: a cache outage must not stop the leaderboard or the fit."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from scoring import workflows
    from scoring.models import LeaderboardEntry

    def down(**kwargs):
        raise RedisConnectionError("cache down")

    tournament = TournamentFactory()
    q = QuestionFactory(tournament=tournament, key="q")
    forecast_submit(question_id=q.pk, forecaster=ForecasterFactory(), probability=0.6, at=T)
    question_resolve(question_id=q.pk, outcome="yes", resolved_at=T + dt.timedelta(hours=4))
    from scoring.services import question_score

    question_score(question_id=q.pk, resolution_id=q.resolutions.get(state="final").pk)
    monkeypatch.setattr(workflows, "held_forecasts_warm", down)
    assert workflows.tournament_scores_changed(tournament_id=tournament.pk) is False
    assert LeaderboardEntry.objects.filter(tournament=tournament).exists()
