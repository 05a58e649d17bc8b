"""Reveal rules for the crowd forecast (docs/methods.md §9)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser

from forecasts.reveal import crowd_reveal
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2031, 1, 1, tzinfo=UTC)


def with_forecasts(n: int, **tournament) -> Question:
    question = QuestionFactory(tournament=TournamentFactory(**tournament))
    for i in range(n):
        forecast_submit(
            question_id=question.pk,
            forecaster=ForecasterFactory(),
            probability=0.5,
            at=dt.datetime(2030, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=i),
        )
    question.refresh_from_db()
    return question


def test_hidden_until_the_minimum_number_of_forecasters():
    question = with_forecasts(2, min_forecasters=3)
    reveal = crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW)
    assert not reveal.visible and "3 forecasters" in reveal.reason and "2 so far" in reveal.reason
    forecast_submit(
        question_id=question.pk,
        forecaster=ForecasterFactory(),
        probability=0.5,
        at=dt.datetime(2030, 2, 1, tzinfo=UTC),
    )
    question.crowd.refresh_from_db()
    assert crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW).visible


def test_staff_always_see_the_crowd():
    question = with_forecasts(0, min_forecasters=3, hide_until_forecast=True)
    staff = UserFactory(is_staff=True)
    assert crowd_reveal(question, staff, state=None, now=NOW).visible


def test_reveal_time_hides_until_then():
    question = with_forecasts(3, min_forecasters=3, reveal_time=NOW + dt.timedelta(days=1))
    user = UserFactory()
    assert not crowd_reveal(question, user, state=question.crowd, now=NOW).visible
    later = NOW + dt.timedelta(days=2)
    assert crowd_reveal(question, user, state=question.crowd, now=later).visible


def test_hide_until_you_have_forecast():
    question = with_forecasts(3, min_forecasters=3, hide_until_forecast=True)
    user = UserFactory()
    reveal = crowd_reveal(question, user, state=question.crowd, now=NOW)
    assert not reveal.visible and "Make your forecast" in reveal.reason
    forecast_submit(
        question_id=question.pk,
        forecaster=forecaster_for_user(user),
        probability=0.4,
        at=dt.datetime(2030, 3, 1, tzinfo=UTC),
    )
    question.crowd.refresh_from_db()
    assert crowd_reveal(question, user, state=question.crowd, now=NOW).visible
    assert not crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW).visible


def test_settled_questions_show_their_crowd():
    question = with_forecasts(3, min_forecasters=3, hide_until_forecast=True)
    question.status = Question.Status.RESOLVED
    assert crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW).visible


def test_a_settled_question_with_too_few_forecasters_publishes_no_crowd():
    """Issue 13: a point with one forecaster is that person's forecast; settling the question
    does not publish it (staff still see it)."""
    question = with_forecasts(1, min_forecasters=5, hide_until_forecast=True)
    question.status = Question.Status.RESOLVED
    reveal = crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW)
    assert not reveal.visible and "not published" in reveal.reason
    staff = UserFactory(is_staff=True)
    assert crowd_reveal(question, staff, state=question.crowd, now=NOW).visible


def test_the_public_crowd_waits_for_a_batch_of_three_forecasters():
    """With min_forecasters 1 the crowd still needs three forecasters: one forecaster's crowd
    is their forecast; the reason says so."""
    question = with_forecasts(2, min_forecasters=1)
    reveal = crowd_reveal(question, AnonymousUser(), state=question.crowd, now=NOW)
    assert not reveal.visible and "3 forecasters" in reveal.reason and "2 so far" in reveal.reason
