"""Issue 13, "no 5xx on bad input": each case replays the request of the issue.

Every answer here is a clean 4xx in the API's JSON error shape, and nothing changes.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from forecasts.models import Forecast
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

LEVELS = 5_000  # the body: 5,000 levels of nesting
DEEP_BODIES = {
    "arrays": "[" * LEVELS + "]" * LEVELS,
    "objects": '{"question":' * LEVELS + "1" + "}" * LEVELS,
}


@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
@pytest.mark.parametrize("path", ["/api/v1/forecasts/", "/api/v1/forecasts/withdraw/"])
def test_a_deeply_nested_json_body_is_a_json_400(world, path, shape):
    """Python's JSON parser raised RecursionError, which DRF's parser let through: a 500."""
    client = token_client(world.forecasters[0].user)
    before = Forecast.objects.count()
    r = client.post(path, data=DEEP_BODIES[shape], content_type="application/json")
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"detail": "JSON parse error - nested too deeply."}
    assert Forecast.objects.count() == before


def test_json_nested_within_the_limit_still_parses(world):
    """The depth guard refuses only what the parser cannot take: a moderately nested body
    reaches the serializer, which names the field."""
    client = token_client(world.forecasters[0].user)
    body = '{"question": ' + "[" * 50 + "]" * 50 + ', "probability": 0.5}'
    r = client.post("/api/v1/forecasts/", data=body, content_type="application/json")
    assert r.status_code == 400
    assert "question" in r.json()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/questions/?tournament=%00",
        "/api/v1/questions/?key=%00",
        "/api/v1/questions/?benchmark=%00",
        "/api/v1/questions/?status=%00",
        "/api/v1/scores/?tournament=%00",
        "/api/v1/scores/?rule=%00",
        "/api/v1/forecasts/?tournament=%00",
        "/api/v1/benchmarks/metr-p50/results/?current=%00",
        "/api/v1/tournaments/ai-public/calibration/?subject=%00",
        "/api/v1/tournaments/ai-public/crowd-export/?as_of=%00",
        "/api/v1/questions/?page=%00",
        "/api/v1/questions/?%00=1",
    ],
)
def test_a_nul_character_in_a_query_parameter_is_a_json_400(world, url):
    """PostgreSQL text cannot hold NUL: a filter with one failed in the database (a 500)."""
    client = token_client(world.forecasters[0].user)
    r = client.get(url)
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    name = url.split("?")[1].split("=")[0].replace("%00", "\x00")
    assert r.json() == {name: ["No NUL characters."]}


def test_calibration_csv_with_an_out_of_range_bins_is_a_json_400(world):
    """The issue's request: the CSV renderer was handed the error body and raised TypeError."""
    url = "/api/v1/tournaments/ai-public/calibration/?bins=101&format=csv&subject=crowd"
    r = Client().get(url)
    assert r.status_code == 400
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"bins": ["A whole number from 1 to 100."]}
    # Every other error of this endpoint is JSON too, whatever format was asked for.
    r = Client().get("/api/v1/tournaments/nope/calibration/?format=csv")
    assert (r.status_code, r["Content-Type"]) == (404, "application/json")
    assert r.json() == {"detail": "No such tournament."}
    # And the CSV itself still comes when the request is valid.
    r = Client().get("/api/v1/tournaments/ai-public/calibration/?bins=4&format=csv")
    assert r.status_code == 200 and r["Content-Type"] == "text/csv; charset=utf-8"
    assert r.content.decode().splitlines()[0].startswith("lower,upper,count")
    assert len(r.content.decode().splitlines()) == 5


def test_options_on_the_calibration_csv_is_json(world):
    """Found by the schema fuzzer: OPTIONS with ?format=csv handed DRF's metadata to the CSV
    renderer (KeyError, a 500)."""
    r = Client().options("/api/v1/tournaments/ai-public/calibration/?format=csv")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    assert r.json()["name"] == "Calibration"


def test_an_oversized_body_is_the_apis_json_413(world):
    """Django refused the body (RequestDataTooBig) with its HTML 400 page under /api/."""
    client = token_client(world.forecasters[0].user)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    before = Forecast.objects.count()
    pad = "x" * (limit + 1)
    body = f'{{"question": {world.open_q.pk}, "probability": 0.5, "rationale": "{pad}"}}'
    r = client.post("/api/v1/forecasts/", data=body, content_type="application/json")
    assert r.status_code == 413
    assert r["Content-Type"] == "application/json"
    assert r.json() == {"detail": f"The request body is larger than {limit} bytes."}
    # A form-encoded body of the same size, read by Django rather than by DRF: the same answer.
    r = client.post(
        "/api/v1/forecasts/withdraw/",
        data=f"question={world.open_q.pk}&pad={pad}",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 413 and r["Content-Type"] == "application/json"
    assert Forecast.objects.count() == before
    # Documented where a body is sent.
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path in ("/api/v1/forecasts/", "/api/v1/forecasts/withdraw/"):
        assert "413" in paths[path]["post"]["responses"]


def test_a_body_at_the_limit_is_read(world):
    client = token_client(world.forecasters[0].user)
    head = f'{{"question": {world.open_q.pk}, "probability": 0.5, "rationale": "'
    pad = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - len(head) - 2)
    r = client.post("/api/v1/forecasts/", data=head + pad + '"}', content_type="application/json")
    # Read and validated: the rationale is longer than the field allows.
    assert r.status_code == 400 and "rationale" in r.json()


# --- a browser opening documented API URLs --------------------------------------------------

BROWSER_ACCEPT = "text/html"
FILES = ("crowd-export/", "forecasts-export/", "scores-export/", "trades-export/", "/api/schema/")


def _documented_get_paths() -> list[str]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(path for path, operations in schema["paths"].items() if "get" in operations)


def _fill(path: str, world) -> str:
    forecast = Forecast.objects.filter(forecaster=world.forecasters[0]).first()
    if path.startswith("/api/v1/forecasts/"):
        return path.replace("{id}", str(forecast.pk))
    if path.startswith("/api/v1/conditionals/"):
        return path.replace("{id}", str(_a_conditional(world).pk))
    return (
        path.replace("{id}", str(world.open_q.pk))
        .replace("/tournaments/{slug}", "/tournaments/ai-public")
        .replace("/benchmarks/{slug}", "/benchmarks/metr-p50")
        .replace("{cohort}", "everyone")
        .replace("{board}", "humans")
    )


def _a_conditional(world):
    """A conditional pair in the public tournament (made on first use)."""
    from markets.models import Conditional
    from markets.questions import conditional_create

    found = Conditional.objects.filter(parent=world.closed_q, child=world.open_q).first()
    return found or conditional_create(parent=world.closed_q, child=world.open_q)


def test_every_documented_get_endpoint_is_covered_here():
    """The browser test below walks the schema: a new endpoint is covered without an edit."""
    paths = _documented_get_paths()
    assert len(paths) == 38  # + trades-export/ and its manifest/ (issue 16)
    assert "/api/v1/conditionals/{id}/" in paths
    assert "/api/v1/questions/{id}/history/" in paths
    assert "/api/v1/tournaments/{slug}/calibration/" in paths
    assert "/api/v1/tournaments/{slug}/trades-export/manifest/" in paths


def _expected_status(who: str, template: str) -> int:
    if who == "anonymous" and template.startswith(
        ("/api/v1/forecasts/", "/api/v1/bots/", "/api/v1/trading/")
    ):
        return 401  # your own forecasts, bots or trades: log in or send a token
    if "/market/" in template:
        return 404  # the world's question has no play-money market
    if who != "staff" and template.endswith(
        (
            "forecasts-export/",
            "scores-export/",
            "scores-export/manifest/",
            "trades-export/",
            "trades-export/manifest/",
        )
    ):
        return 403  # individual-level data: staff and permitted researchers (docs/privacy.md)
    if who == "staff" and template == "/api/v1/forecasts/{id}/":
        return 404  # somebody else's forecast event
    return 200


@pytest.mark.parametrize("who", ["anonymous", "forecaster", "staff"])
def test_every_api_get_endpoint_opened_in_a_browser_answers_the_browsable_api(world, who):
    """A browser's Accept header (text/html) made DRF build its HTML page, which failed on the
    history and leaderboard views (500); calibration answered 406 while every other endpoint
    showed the page, and the OpenAPI document answered 406. Now every JSON endpoint shows the
    browsable API (errors included), and the file endpoints (exports, the OpenAPI document)
    give their file, as they do for any Accept header."""
    client = Client()
    if who == "forecaster":
        client.force_login(world.forecasters[0].user)
    elif who == "staff":
        client.force_login(world.staff)
    paths = [*_documented_get_paths(), "/api/v1/", "/api/schema/", "/api/docs/"]
    for template in paths:
        path = _fill(template, world)
        r = client.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
        assert r.status_code < 500, (path, r.status_code)
        if path.endswith(FILES) and r.status_code == 200:
            assert not r["Content-Type"].startswith("text/html"), path
            continue
        assert r["Content-Type"].startswith("text/html"), (path, r.status_code, r["Content-Type"])
        assert r.status_code == _expected_status(who, template), (path, r.status_code)
    # The URLs, by name: history, a tournament leaderboard, calibration.
    for path in (
        f"/api/v1/questions/{world.open_q.pk}/history/",
        "/api/v1/tournaments/ai-public/leaderboard/",
        "/api/v1/tournaments/ai-public/calibration/",
    ):
        r = client.get(path, HTTP_ACCEPT=BROWSER_ACCEPT)
        assert r.status_code == 200 and r["Content-Type"].startswith("text/html")


def test_the_openapi_document_opened_in_a_browser_is_the_document(db):
    r = Client().get("/api/schema/", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert r.status_code == 200
    assert r.content.startswith(b"openapi: 3.")
    r = Client().get("/api/schema/?format=json", HTTP_ACCEPT=BROWSER_ACCEPT)
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")


def test_a_nul_character_in_an_api_path_is_a_json_400(db):
    r = Client().get("/api/v1/tournaments/%00/leaderboard/")
    assert r.status_code == 400 and r["Content-Type"] == "application/json"
    assert r.json() == {"detail": "No NUL characters in the address."}
