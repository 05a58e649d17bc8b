"""Every page renders with multiple-choice and continuous questions in the database: no 5xx,
and a yes/no probability sent for them is refused with a clear 400 (their forms: issue 15,
tests/web/test_typed_forms.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from forecasts.models import Forecast
from markets.models import Question, Tournament
from tests.factories import QuestionFactory

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "metaculus-format" / "forecasts.csv"


def _urls(tournament: Tournament) -> list[str]:
    slug = tournament.slug
    urls = [
        "/",
        "/?status=resolved",
        "/questions/",
        "/tournaments/",
        f"/tournaments/{slug}/",
        f"/tournaments/{slug}/leaderboard/",
        "/crowd/",
        "/scoring/",
        "/api/v1/questions/",
        f"/api/v1/tournaments/{slug}/leaderboard/",
        f"/api/v1/tournaments/{slug}/calibration/",
        "/api/v1/scores/",
    ]
    for q in Question.objects.all():
        urls += [f"/questions/{q.pk}/", f"/api/v1/questions/{q.pk}/"]
        urls.append(f"/api/v1/questions/{q.pk}/history/")
    return urls


def test_every_page_renders_with_typed_questions() -> None:
    call_command(
        "import_forecasts",
        "--format",
        "metaculus",
        str(SAMPLE),
        "--tournament",
        "meta",
        "--no-progress",
    )
    tournament = Tournament.objects.get(slug="meta")
    staff = get_user_model().objects.create_superuser("boss", "b@example.org", "a-long-pass-123")
    anonymous, admin = Client(), Client()
    admin.force_login(staff)
    failed = []
    for client in (anonymous, admin):
        for url in _urls(tournament):
            status = client.get(url).status_code
            if status >= 500 or status == 404:
                failed.append((url, status))
    for q in Question.objects.all():
        status = admin.get(f"/admin/markets/question/{q.pk}/change/").status_code
        if status != 200:
            failed.append((q.key, status))
    assert failed == []


def test_a_yes_no_probability_is_refused_by_a_typed_question() -> None:
    # Issue 15: the question's own form answers (one percentage per option), saving nothing.
    now = dt.datetime.now(dt.UTC)
    q = QuestionFactory(
        type=Question.Type.MULTIPLE_CHOICE,
        options=["A", "B", "C"],
        open_time=now - dt.timedelta(days=1),
        close_time=now + dt.timedelta(days=10),
        status=Question.Status.OPEN,
    )
    user = get_user_model().objects.create_user("fc", "f@example.org", "a-long-pass-123")
    client = Client()
    client.force_login(user)
    response = client.post(
        f"/questions/{q.pk}/forecast/", {"probability": "40"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert "Enter a percentage for “A” (each option needs one)" in response.json()["error"]
    assert not Forecast.objects.filter(question=q).exists()


def test_the_question_page_shows_the_typed_crowd_and_outcome() -> None:
    call_command(
        "import_forecasts",
        "--format",
        "metaculus",
        str(SAMPLE),
        "--tournament",
        "meta",
        "--no-progress",
    )
    client = Client()
    mc = Question.objects.get(key="metaculus-102")
    html = client.get(f"/questions/{mc.pk}/").content.decode()
    assert "Resolved Org B" in html
    for label in ("Org A", "Org B", "Org C", "Other"):
        assert f'<th scope="row">{label}</th>' in html
    assert "No current forecasts yet" not in html
    log_q = Question.objects.get(key="metaculus-104")
    html = client.get(f"/questions/{log_q.pk}/").content.decode()
    assert "Resolved 1,450" in html
    assert '<th scope="row">50%</th>' in html and "Below the range:" in html
    # the list's badge does not print a type's internal outcome name
    listing = client.get("/questions/?status=resolved").content.decode()
    assert "Resolved OPTION" not in listing and "Resolved VALUE" not in listing
