"""Issue 19: the "How scoring works" page, and links to it from every score shown."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils import timezone

from forecasts.models import Forecaster
from scoring.models import LeaderboardEntry, Rule, Score
from tests.web.conftest import login

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_scoring_page_explains_every_number_with_its_formula_and_section():
    response = Client().get("/scoring/")
    assert response.status_code == 200
    html = response.content.decode()
    text = _text(html)
    for anchor in (
        "brier",
        "log",
        "baseline",
        "peer",
        "coverage",
        "early",
        "spot",
        "mean-brier",
        "crowd",
        "leaderboard",
        "calibration",
    ):
        assert f'id="{anchor}"' in html, anchor
    for section in ("§4.1", "§4.2", "§4.3", "§4.4", "§4.5", "§4.6", "§4.7", "§5.4", "§7.1"):
        assert f"docs/methods.md {section}" in text, section
    # The worked examples come from scoring.rules; the values are docs/methods.md §4.9's.
    assert "0.0100" in text and "−0.1054" in text and "+84.8" in text  # 90%, YES
    assert "+95.5" in text and "+34.7" in text and "−130.1" in text  # peer of 90/60/20%
    # A: coverage 75%, Brier 0.04, baseline +50.9, peer +17.3; B: 50%, 0.36, −16.1, −17.3.
    assert "A 75% 0.0400 −0.2231 +50.9 +17.3 none held" in text
    assert "B 50% 0.3600 −0.9163 −16.1 −17.3 0.3600" in text
    # Early resolution halves baseline, not Brier: 80% YES, baseline 67.8 → 33.9.
    assert (
        "baseline +67.8" in text
        and "coverage 50%, Brier 0.0400 (unchanged), baseline +33.9" in (text)
    )


def _score(question, resolution, forecaster, rule, score, coverage):
    Score.objects.create(
        question=question,
        resolution=resolution,
        subject="forecaster" if forecaster else "crowd",
        forecaster=forecaster,
        rule=rule,
        score=score,
        coverage=coverage,
    )


def test_every_score_links_to_the_scoring_page(site):
    resolution = site.resolved_q.resolutions.get()
    alice = Forecaster.objects.get(user=site.alice)
    # The spot row first: the coverage shown must be the time-averaged rows', not its 1.
    _score(site.resolved_q, resolution, alice, Rule.SPOT_BRIER, 0.49, 1.0)
    _score(site.resolved_q, resolution, alice, Rule.BRIER, 0.49, 0.5)
    _score(site.resolved_q, resolution, alice, Rule.PEER, 3.0, 0.5)
    _score(site.resolved_q, resolution, None, Rule.BRIER, 0.3, 1.0)
    client = login(site.alice)
    question = client.get(site.resolved_q.get_absolute_url()).content.decode()
    for anchor in ("brier", "peer", "spot", "coverage"):
        assert f'href="/scoring/#{anchor}"' in question, anchor
    assert re.search(r"Your coverage ?: 50% of the question(&#x27;|')s window", _text(question))

    LeaderboardEntry.objects.create(
        tournament=site.tournament,
        forecaster=alice,
        subject="forecaster",
        questions=1,
        total_peer=3.0,
        mean_peer=3.0,
        mean_brier=0.49,
        mean_coverage=0.5,
        rank=1,
        eligible=True,
        computed_at=timezone.now(),
    )
    board = client.get(f"/tournaments/{site.tournament.slug}/leaderboard/").content.decode()
    for anchor in ("peer", "mean-brier", "coverage", "leaderboard"):
        assert f'href="/scoring/#{anchor}"' in board, anchor

    record = client.get(f"/forecasters/{alice.pk}/").content.decode()
    for anchor in ("mean-brier", "peer", "baseline", "coverage", "early", "spot", "calibration"):
        assert f'href="/scoring/#{anchor}"' in record, anchor
    assert "(of the forecasts at close, not time-averaged)" in _text(record)
    crowd = Client().get("/crowd/").content.decode()
    assert 'href="/scoring/#mean-brier"' in crowd
    # And the footer of every page.
    assert 'href="/scoring/"' in Client().get("/").content.decode()


def test_early_resolution_is_explained_next_to_the_coverage(site):
    resolution = site.resolved_q.resolutions.get()  # resolved now, closes in 60 days
    alice = Forecaster.objects.get(user=site.alice)
    _score(site.resolved_q, resolution, alice, Rule.BASELINE, 10.0, 0.14)
    text = _text(login(site.alice).get(site.resolved_q.get_absolute_url()).content.decode())
    assert "resolved before its scheduled close" in text
    resolution.resolved_at = site.resolved_q.close_time
    resolution.save(update_fields=["resolved_at"])
    text = _text(login(site.alice).get(site.resolved_q.get_absolute_url()).content.decode())
    assert "resolved before its scheduled close" not in text


def test_track_record_marks_questions_resolved_early(site):
    resolution = site.resolved_q.resolutions.get()  # resolved now, closes in 60 days
    alice = Forecaster.objects.get(user=site.alice)
    _score(site.resolved_q, resolution, alice, Rule.BRIER, 0.49, 0.14)
    _score(site.resolved_q, resolution, alice, Rule.PEER, 1.0, 0.14)
    client = login(site.alice)
    html = client.get(f"/forecasters/{alice.pk}/").content.decode()
    assert '#early" title="Resolved before its scheduled close' in html
    resolution.resolved_at = site.resolved_q.close_time
    resolution.save(update_fields=["resolved_at"])
    html = client.get(f"/forecasters/{alice.pk}/").content.decode()
    assert '#early" title="Resolved before its scheduled close' not in html
