"""Issue 15: the track-record pages (a forecaster's, the crowd's) show the calibration of
multiple-choice forecasts (one-vs-rest bins) and of continuous ones (PIT histogram and interval
coverage), from scoring.typed_calibration, next to the yes/no calibration."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from django.test import Client
from django.urls import reverse

from forecasts.services import forecast_submit
from markets.models import Question
from markets.resolution.manual import question_resolve
from scoring.services import question_score
from tests.factories import ForecasterFactory, QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
OPEN = dt.datetime(2030, 1, 1, tzinfo=UTC)
CLOSE = dt.datetime(2030, 1, 11, tzinfo=UTC)
GRID = np.linspace(0.0, 1.0, 201)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_after_2031")]


@pytest.fixture
def world():
    tournament = TournamentFactory(slug="typed-calib", min_forecasters=1)
    user = UserFactory(username="cal")
    people = [ForecasterFactory(user=user), *(ForecasterFactory() for _ in range(3))]
    num = QuestionFactory(
        tournament=tournament,
        type=Question.Type.NUMERIC,
        range_min=0.0,
        range_max=100.0,
        open_time=OPEN,
        close_time=CLOSE,
    )
    mc = QuestionFactory(
        tournament=tournament,
        type=Question.Type.MULTIPLE_CHOICE,
        options=["A", "B", "C"],
        open_time=OPEN,
        close_time=CLOSE,
    )
    for i, who in enumerate(people):
        at = OPEN + dt.timedelta(days=i)
        forecast_submit(question_id=num.pk, forecaster=who, values=GRID, at=at)
        forecast_submit(question_id=mc.pk, forecaster=who, values=[0.6, 0.3, 0.1], at=at)
    for q, kw in (
        (num, {"outcome": "value", "value": 30.0}),
        (mc, {"outcome": "option", "option": 0}),
    ):
        r = question_resolve(question_id=q.pk, resolved_at=CLOSE, **kw)
        question_score(question_id=q.pk, resolution_id=r.pk)
    return {"user": user, "me": people[0], "tournament": tournament}


def test_my_track_record_shows_pit_coverage_and_multiple_choice_calibration(world):
    client = Client()
    client.force_login(world["user"])
    html = client.get(reverse("track-record", args=[world["me"].pk])).content.decode()
    assert "Calibration: multiple choice" in html and 'id="calib-mc"' in html
    assert "Calibration: numeric, date and discrete" in html and 'id="pit"' in html
    # One forecast of a uniform CDF on an outcome at 30: PIT 0.3, inside both central intervals.
    assert "PIT 0.3 to 0.4: 1 of 1 outcomes" in html
    assert "Central 50%" in html and "1 of 1" in html


def test_another_viewer_sees_no_per_forecast_calibration(world):
    client = Client()
    client.force_login(UserFactory(username="nosy"))
    html = client.get(reverse("track-record", args=[world["me"].pk])).content.decode()
    assert "Calibration: numeric" not in html and 'id="pit"' not in html


def test_crowd_track_record_shows_the_crowd_typed_calibration(world):
    html = Client().get(reverse("crowd-track-record")).content.decode()
    assert "Calibration: numeric, date and discrete" in html
    assert "Calibration: multiple choice" in html
    # filtered to a tournament without typed questions: no typed section
    TournamentFactory(slug="plain")
    html = Client().get(reverse("crowd-track-record"), {"tournament": "plain"}).content.decode()
    assert "Calibration: numeric" not in html
