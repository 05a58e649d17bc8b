"""verify_crowd detects a crowd that no longer matches its log (issue 12): a deleted or an extra
event, a stale crowd state; a recompute repairs it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from forecasts.models import CrowdState, Forecast
from forecasts.services import crowd_recompute, forecast_submit
from markets.models import Question
from tests.factories import ForecasterFactory, QuestionFactory

pytestmark = pytest.mark.django_db
OPEN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def question() -> Question:
    q = QuestionFactory(open_time=OPEN, close_time=OPEN + dt.timedelta(days=30))
    for i, p in enumerate((0.6, 0.5, 0.01)):
        forecast_submit(
            question_id=q.pk,
            forecaster=ForecasterFactory(),
            probability=p,
            at=OPEN + dt.timedelta(hours=i + 1),
        )
    return q


def verify(capsys) -> str:
    call_command("verify_crowd", "--no-progress")
    return capsys.readouterr().out


def test_a_consistent_crowd_verifies(question, capsys):
    assert "match a recompute" in verify(capsys)
    state = CrowdState.objects.get(question=question)
    assert (state.forecasters, state.events) == (3, 3)
    assert state.probability == pytest.approx(0.198364, abs=1e-6)


def test_a_deleted_event_is_detected_and_a_recompute_repairs_it(question, capsys):
    Forecast.objects.filter(question=question, probability=0.01).delete()  # a side door
    with pytest.raises(CommandError, match="differ"):
        verify(capsys)
    crowd_recompute(question_id=question.pk)
    state = CrowdState.objects.get(question=question)
    assert (state.forecasters, state.events) == (2, 2)
    assert state.probability == pytest.approx(0.5505102572, abs=1e-9)
    assert "match a recompute" in verify(capsys)


def test_an_event_written_behind_the_engine_is_detected(question, capsys):
    Forecast.objects.bulk_create(
        [
            Forecast(
                question=question,
                forecaster=ForecasterFactory(),
                probability=0.9,
                time=OPEN + dt.timedelta(days=2),
            )
        ]
    )
    with pytest.raises(CommandError, match="differ"):
        verify(capsys)
    assert "3 stored points for 4 forecast events" in capsys.readouterr().out


def test_a_stale_crowd_state_is_detected(question, capsys):
    CrowdState.objects.filter(question=question).update(probability=0.42)
    with pytest.raises(CommandError, match="differ"):
        verify(capsys)


def test_a_tampered_median_is_named_with_its_difference(question, capsys):
    """Found by a new-user probe: a tampered median was reported as "largest probability
    difference 0"."""
    from forecasts.models import CrowdPoint
    from forecasts.services import crowd_fill_medians

    crowd_fill_medians(question_id=question.pk)
    CrowdPoint.objects.filter(question=question, seq=2).update(median=0.9)  # right: 0.55
    with pytest.raises(CommandError, match="differ"):
        verify(capsys)
    assert "1 of 3 points differ (largest difference: median 0.35)" in capsys.readouterr().out
