"""The demo: the trend bot's forecasts on the AI-milestone question pages and in the exports,
labelled as a bot (issue 18)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from rest_framework.test import APIClient

from markets.models import Question
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)  # the METR and SWE-bench questions are open


def test_the_demo_shows_the_trend_bot_on_its_pages_and_in_its_exports(client):
    with time_machine.travel(NOW):
        call_command("load_demo", "--skip-acx", "--no-progress")
    # An hour later: the export's default as_of (a second ago) covers the bots' forecasts.
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        metr = Question.objects.get(key="metr-6000-2026")
        page = client.get(metr.get_absolute_url()).content.decode()
        assert "Bot forecasts" in page and "trend-bot [bot]" in page
        assert "doubling time 4.9 months" in page and "1.5%" in page
        staff = APIClient()
        staff.force_authenticate(UserFactory(is_staff=True, is_superuser=True))
        export = staff.get("/api/v1/tournaments/ai-milestones/forecasts-export/?format=csv")
        body = b"".join(export.streaming_content).decode()
        line = next(x for x in body.splitlines() if "bot:trend-bot" in x and "metr" in x)
        assert "0.0145" in line
        cohorts = staff.get(f"/api/v1/questions/{metr.pk}/cohorts/").json()["cohorts"]
        assert cohorts["bots"]["forecasters"] == 2  # trend and base rate
        assert cohorts["humans"]["forecasters"] == 6
        # The numeric and date questions: the trend bot's CDF in words on the page, and its
        # forecast in the export (docs/methods.md §16.4).
        for key, words in (
            ("metr-6000-date", "median 2027-08-11; 90% interval 2027-02-13 to 2027-12-13"),
            (
                "swebench-best-2027",
                "median 98.65 % resolved; 90% interval 96.51 % resolved to 99.78 % resolved",
            ),
        ):
            question = Question.objects.get(key=key)
            page = client.get(question.get_absolute_url()).content.decode()
            assert "trend-bot [bot]" in page and words in page, key
            assert any("bot:trend-bot" in x and key in x for x in body.splitlines()), (
                f"{key} not in the export"
            )
