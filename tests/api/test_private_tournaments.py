"""A private tournament's data is absent from every endpoint and export for a non-member.

Every path in the OpenAPI schema is exercised, so a new endpoint is covered automatically.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml
from rest_framework.test import APIClient

from forecasts.models import Forecast
from scoring.models import Rule, Score, Subject
from tests.api.conftest import T0, token_client

pytestmark = pytest.mark.django_db

SECRET_MARKERS = ("secret-club", "secret-q", "0.77")


def _paths():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return schema["paths"]


def _fill(path, world):
    private_forecast = Forecast.objects.get(question=world.private_q)
    values = {
        "slug": world.private.slug,
        "id": world.private_q.pk,
        "cohort": "everyone",
        "board": "humans",
    }
    if path.startswith("/api/v1/forecasts/{id}"):
        values["id"] = private_forecast.pk
    if path.startswith("/api/v1/benchmarks/"):
        return None  # benchmarks are global, not part of any tournament
    names = re.findall(r"{(\w+)}", path)
    assert set(names) <= set(values), f"test does not know how to fill {path}"
    return re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), path)


@pytest.fixture
def private_scores(world):
    resolution_q = world.private_q
    from markets.resolution.manual import question_resolve

    question_resolve(question_id=resolution_q.pk, outcome="no", reason="test", user=world.staff)
    resolution = resolution_q.resolutions.get(state="final")
    Score.objects.create(
        question=resolution_q,
        resolution=resolution,
        subject=Subject.CROWD,
        rule=Rule.BRIER,
        score=0.77,
        coverage=1.0,
    )


def _clients(world):
    return {"anonymous": APIClient(), "outsider": token_client(world.outsider)}


def test_every_get_endpoint_hides_the_private_tournament(world, private_scores):
    checked = 0
    for path, ops in _paths().items():
        if "get" not in ops or not path.startswith("/api/v1/"):
            continue
        url = _fill(path, world)
        if url is None:
            continue
        for who, client in _clients(world).items():
            r = client.get(url)
            body = b"".join(r.streaming_content) if r.streaming else r.content
            text = body.decode(errors="replace")
            if "{" in path:
                assert r.status_code in (401, 404), (who, url, r.status_code)
            else:
                assert r.status_code in (200, 401), (who, url, r.status_code)
            for marker in SECRET_MARKERS:
                assert marker not in text, (who, url, marker)
            checked += 1
    assert checked >= 30


def test_a_member_and_staff_do_see_it(world, private_scores):
    # Two more forecasters, so that the member (no full-history access) has a public crowd.
    from forecasts.services import crowd_recompute
    from tests.factories import ForecasterFactory

    for minutes, p in ((6, 0.5), (7, 0.6)):
        Forecast.objects.create(
            question=world.private_q,
            forecaster=ForecasterFactory(),
            probability=p,
            time=T0 + dt.timedelta(minutes=minutes),
        )
    crowd_recompute(question_id=world.private_q.pk)
    for user in (world.member, world.staff):
        c = token_client(user)
        assert c.get(f"/api/v1/tournaments/{world.private.slug}/").status_code == 200
        assert c.get(f"/api/v1/questions/{world.private_q.pk}/history/").status_code == 200
        r = c.get(f"/api/v1/tournaments/{world.private.slug}/crowd-export/")
        assert b"secret-q" in b"".join(r.streaming_content)


def test_an_outsider_cannot_forecast_or_withdraw_on_it(world):
    c = token_client(world.outsider)
    r = c.post(
        "/api/v1/forecasts/", {"question": world.private_q.pk, "probability": 0.5}, format="json"
    )
    assert r.status_code == 404
    r = c.post("/api/v1/forecasts/withdraw/", {"question": world.private_q.pk}, format="json")
    assert r.status_code == 404
    assert not Forecast.objects.filter(forecaster__user=world.outsider).exists()


def test_a_permitted_researcher_outside_it_still_gets_404_for_raw_forecasts(world):
    from django.contrib.auth.models import Permission

    world.outsider.user_permissions.add(Permission.objects.get(codename="view_forecast"))
    c = token_client(world.outsider)
    assert c.get(f"/api/v1/tournaments/{world.private.slug}/forecasts-export/").status_code == 404
    assert c.get(f"/api/v1/tournaments/{world.public.slug}/forecasts-export/").status_code == 200


def test_the_schema_lists_the_private_paths_we_check(world):
    text = yaml.safe_dump(_paths())
    for needle in ("crowd-export", "forecasts-export", "scores-export", "calibration", "history"):
        assert needle in text
