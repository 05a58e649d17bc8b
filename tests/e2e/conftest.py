"""Shared browser-test fixtures: headless Debian Chromium and in-process scoring."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from markets.models import Resolution

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def scoring_inline(monkeypatch):
    """Score and rebuild the leaderboard in-process right after a resolution: CI has a broker
    but no worker, so the tasks the services enqueue would never run."""
    from scoring.leaderboard import leaderboard_rebuild
    from scoring.services import question_score

    calls: list[Resolution] = []
    monkeypatch.setattr(
        "scoring.receivers.schedule_scoring",
        lambda *, question_id, resolution_id: calls.append(
            Resolution.objects.get(pk=resolution_id)
        ),
    )
    monkeypatch.setattr("scoring.services._after_scoring", lambda tournament_id: None)

    def run() -> None:
        for resolution in calls:
            question_score(question_id=resolution.question_id, resolution_id=resolution.pk)
        for tournament_id in {r.question.tournament_id for r in calls}:
            leaderboard_rebuild(tournament_id=tournament_id)

    return run
