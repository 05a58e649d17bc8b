"""JSON API floats are rounded to 12 significant digits (issue 19: ``0.5549999999999999``);
exports and their manifests keep every digit (api.renderers)."""

from __future__ import annotations

import json
import math

import pytest

from api.renderers import round_float, round_floats
from forecasts.models import CrowdState
from scoring.models import Rule, Score, Subject
from tests.api.conftest import token_client


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (0.5549999999999999, "0.555"),
        (0.7000000000000001, "0.7"),
        (0.1 + 0.2, "0.3"),
        (-0.8472978603872037, "-0.847297860387"),
        (1e-15, "1e-15"),
        (0.001, "0.001"),
        (123456.78901234567, "123456.789012"),
    ],
)
def test_round_float_keeps_twelve_significant_digits(raw, shown):
    assert repr(round_float(raw)) == shown


def test_round_floats_walks_containers_and_leaves_other_values():
    data = {"a": [0.30000000000000004, 1, True, "0.30000000000000004"], "b": (None, math.inf)}
    assert round_floats(data) == {"a": [0.3, 1, True, "0.30000000000000004"], "b": [None, math.inf]}


@pytest.mark.django_db
def test_question_and_score_json_show_rounded_floats(world):
    CrowdState.objects.filter(question=world.open_q).update(
        median=0.5549999999999999, mean=0.7000000000000001
    )
    client = token_client(world.staff)
    r = client.get(f"/api/v1/questions/{world.open_q.pk}/")
    assert r.status_code == 200
    assert b'"median":0.555' in r.content and b'"mean":0.7' in r.content
    assert b"0.5549999999999999" not in r.content and b"0.7000000000000001" not in r.content
    resolution = world.resolved_q.resolutions.get(state="final")
    Score.objects.create(
        question=world.resolved_q,
        resolution=resolution,
        subject=Subject.CROWD,
        rule=Rule.BRIER,
        score=0.1 + 0.2,
        coverage=1.0,
    )
    r = client.get("/api/v1/scores/", {"subject": "crowd"})
    assert [row["score"] for row in r.json()["results"]] == [0.3]
    assert b"0.30000000000000004" not in r.content


@pytest.mark.django_db
def test_export_manifests_keep_every_digit(world):
    world.public.base_rate = 0.3  # base_logit ≈ -0.8472978603872038
    world.public.save()
    r = token_client(world.staff).get(
        "/api/v1/tournaments/ai-public/crowd-export/manifest/",
        {"as_of": "2025-06-01T00:00:00Z"},
    )
    assert r.status_code == 200
    exact = world.public.base_logit
    assert len(repr(exact)) > 14  # more digits than the rounded API form has
    assert json.loads(r.content)["method"]["parameters"]["base_logit"] == exact
    assert repr(exact).encode() in r.content
