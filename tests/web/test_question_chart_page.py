"""The question page's chart controls (time range) and the spread of current forecasts, with
its privacy rule (docs/privacy.md, "The spread of forecasts")."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from forecasts.models import CrowdPoint
from forecasts.selectors import forecast_spread
from forecasts.services import forecast_withdraw, forecaster_for_user
from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from tests.web.conftest import forecast, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def question():
    now = timezone.now()
    t = TournamentFactory(slug="spread", name="Spread", min_forecasters=3)
    return QuestionFactory(
        tournament=t,
        open_time=now - dt.timedelta(days=400),
        close_time=now + dt.timedelta(days=100),
    )


def _users(*names: str):
    return [UserFactory(username=n) for n in names]


def _spread_total(body: str) -> int | None:
    m = re.search(
        r"Spread of current forecasts</strong> <span class=\"muted\">· (\d+) forecasters", body
    )
    return int(m.group(1)) if m else None


def test_time_range_redraws_the_window_and_bad_values_are_refused(question):
    now = timezone.now()
    users = _users("a", "b", "c")
    for i, u in enumerate(users):
        forecast(question, u, 0.3 + 0.1 * i, at=now - dt.timedelta(days=300 - i))
    url = question.get_absolute_url()
    body = Client().get(url).content.decode()
    start = question.open_time
    assert f"Crowd forecast from {start:%d %b %Y}" in body
    body = Client().get(url + "?range=1m").content.decode()
    assert f"Crowd forecast from {now - dt.timedelta(days=30):%d %b %Y}" in body
    assert 'href="?range=1m#q-chart" aria-current="true">1M</a>' in body
    # The crowd's value in force when the window opens is drawn from its left edge.
    headline = re.search(r"data-crowd-value>([^<]+)<", body).group(1)
    latest = re.findall(r'data-latest="" [^>]*>([^<]+)</text>', body)
    assert latest == [headline, headline]  # the wide and the narrow drawing
    response = Client().get(url + "?range=2w")
    assert response.status_code == 400
    assert "Unknown chart range &#x27;2w&#x27;: choose one of 1m, 6m, 1y, all." in (
        response.content.decode()
    )


def test_forecast_spread_bins_what_is_held_at_the_instant(question):
    now = timezone.now()
    a, b, c, d = _users("a", "b", "c", "d")
    forecast(question, a, 0.3, at=now - dt.timedelta(days=5))  # 0.3 is in [30, 40)
    forecast(question, b, 0.999, at=now - dt.timedelta(days=5))  # the last bin is closed
    forecast(question, c, 0.05, at=now - dt.timedelta(days=5))
    forecast(question, c, 0.71, at=now - dt.timedelta(days=1))  # an update moves c
    forecast(question, d, 0.5, at=now - dt.timedelta(days=4))
    forecast_withdraw(
        question_id=question.pk, forecaster=forecaster_for_user(d), at=now - dt.timedelta(days=2)
    )
    assert forecast_spread(question.pk, now) == [0, 0, 0, 1, 0, 0, 0, 1, 0, 1]
    assert forecast_spread(question.pk, now - dt.timedelta(days=3)) == [
        1,
        0,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        1,
    ]
    with pytest.raises(ValueError, match="bins must be at least 1"):
        forecast_spread(question.pk, now, bins=0)


def test_spread_is_public_only_as_of_the_latest_public_point(question):
    now = timezone.now()
    users = _users("a", "b", "c", "d")
    # A batch of three: a public point pooling three forecasters.
    for i, (u, p) in enumerate(zip(users[:3], (0.15, 0.25, 0.35), strict=True)):
        forecast(question, u, p, at=now - dt.timedelta(days=10 - i))
    # A fourth forecaster, alone since the batch: not public yet.
    forecast(question, users[3], 0.95, at=now - dt.timedelta(days=1))
    public = CrowdPoint.objects.filter(question=question, public_seq__isnull=False)
    assert public.count() == 1
    url = question.get_absolute_url()

    anonymous = Client().get(url).content.decode()
    assert _spread_total(anonymous) == 3
    assert "0 to 10%: 0 forecasters" in anonymous and "90 to 100%: 0 forecasters" in anonymous
    assert "10 to 20%: 1 forecaster<" in anonymous
    # The fourth forecaster, logged in, sees the same batch: not their own forecast added.
    assert _spread_total(login(users[3]).get(url).content.decode()) == 3

    staff = login(UserFactory(username="staff", is_staff=True)).get(url).content.decode()
    assert _spread_total(staff) == 4
    assert "90 to 100%: 1 forecaster<" in staff


def test_spread_needs_as_many_forecasters_as_the_crowd(question):
    now = timezone.now()
    question.tournament.min_forecasters = 5
    question.tournament.save()
    users = _users("a", "b", "c", "d")
    for i, u in enumerate(users):
        forecast(question, u, 0.2 + 0.1 * i, at=now - dt.timedelta(days=10 - i))
    staff = login(UserFactory(username="staff", is_staff=True))
    body = staff.get(question.get_absolute_url()).content.decode()
    assert "Crowd forecast over time" in body  # staff see the crowd...
    assert _spread_total(body) is None  # ...but four forecasters are fewer than max(3, 5)
    forecast(question, UserFactory(username="e"), 0.6)
    assert _spread_total(staff.get(question.get_absolute_url()).content.decode()) == 5


def test_no_spread_while_the_crowd_is_hidden(question):
    now = timezone.now()
    question.tournament.hide_until_forecast = True
    question.tournament.save()
    for i, u in enumerate(_users("a", "b", "c")):
        forecast(question, u, 0.2 + 0.1 * i, at=now - dt.timedelta(days=10 - i))
    body = login(UserFactory(username="viewer")).get(question.get_absolute_url()).content
    assert "The crowd forecast is hidden" in body.decode()
    assert _spread_total(body.decode()) is None
    assert _spread_total(Client().get(question.get_absolute_url()).content.decode()) is None


def test_spread_stops_at_the_public_point_even_among_events_at_the_same_instant(question):
    # Imports often share timestamps: the fourth event at the public point's own instant comes
    # after it in the log and is not public yet.
    at = timezone.now() - dt.timedelta(days=3)
    users = _users("a", "b", "c", "d")
    for u, p in zip(users, (0.15, 0.25, 0.35, 0.95), strict=True):
        forecast(question, u, p, at=at)
    point = CrowdPoint.objects.get(question=question, public_seq__isnull=False)
    assert (point.seq, point.time) == (3, at)
    assert forecast_spread(question.pk, at, events=3) == [0, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert forecast_spread(question.pk, at, events=0) == [0] * 10
    assert sum(forecast_spread(question.pk, at)) == 4
    assert sum(forecast_spread(question.pk, at, events=99)) == 4
    assert _spread_total(Client().get(question.get_absolute_url()).content.decode()) == 3
