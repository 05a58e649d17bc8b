"""Throttles answer 429 with Retry-After; tokens are created and revoked on the web."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def _hammer(client, n, url="/api/v1/tournaments/"):
    return [client.get(url) for _ in range(n)]


def test_anonymous_clients_are_throttled_with_retry_after(world, rates, api):
    rates(anon="3/min")
    responses = _hammer(api, 4)
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    retry_after = int(responses[-1]["Retry-After"])
    assert 0 < retry_after <= 60
    assert "throttled" in responses[-1].json()["detail"].lower()


def test_a_token_is_throttled_without_locking_its_owner_out(world, rates):
    rates(token="2/min", user="5/min")
    by_token = token_client(world.outsider)
    assert [r.status_code for r in _hammer(by_token, 3)] == [200, 200, 429]
    by_session = APIClient()
    by_session.force_login(world.outsider)
    assert by_session.get("/api/v1/tournaments/").status_code == 200


def test_a_user_is_throttled_across_session_and_token(world, rates):
    rates(token="100/min", user="4/min")
    by_token = token_client(world.outsider)
    by_session = APIClient()
    by_session.force_login(world.outsider)
    assert [r.status_code for r in _hammer(by_token, 2)] == [200, 200]
    assert [r.status_code for r in _hammer(by_session, 3)] == [200, 200, 429]
    assert by_token.get("/api/v1/tournaments/").status_code == 429
    # Another user is not affected.
    assert token_client(world.member).get("/api/v1/tournaments/").status_code == 200


def test_forecast_submissions_have_their_own_limit(world, rates):
    rates(submit="2/min")
    c = token_client(world.outsider)
    codes = [
        c.post(
            "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.5}, format="json"
        ).status_code
        for _ in range(3)
    ]
    assert codes == [201, 201, 429]
    assert c.get("/api/v1/forecasts/").status_code == 200


def test_token_created_on_the_web_works_and_revoking_it_gives_401(world):
    web = APIClient()
    web.force_login(world.outsider)
    assert web.post("/account/tokens/create/").status_code == 302
    page = web.get("/account/tokens/")
    key = Token.objects.get(user=world.outsider).key
    assert key in page.content.decode()
    assert key not in web.get("/account/tokens/").content.decode()  # shown once

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/forecasts/").status_code == 200

    assert web.post("/account/tokens/revoke/").status_code == 302
    r = api.get("/api/v1/forecasts/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == "Token"
    # A revoked token is refused even on public endpoints, not silently treated as anonymous.
    assert api.get("/api/v1/tournaments/").status_code == 401


def test_creating_a_new_token_revokes_the_old_one(world):
    web = APIClient()
    web.force_login(world.outsider)
    web.post("/account/tokens/create/")
    old = Token.objects.get(user=world.outsider).key
    web.post("/account/tokens/create/")
    new = Token.objects.get(user=world.outsider).key
    assert old != new
    stale = APIClient()
    stale.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert stale.get("/api/v1/forecasts/").status_code == 401


def test_token_pages_need_login_and_post(world):
    anonymous = APIClient()
    assert anonymous.get("/account/tokens/").status_code == 302
    web = APIClient()
    web.force_login(world.outsider)
    assert web.get("/account/tokens/create/").status_code == 405


def test_after_a_burst_the_sustained_rate_is_allowed_and_retry_after_is_exact(world, rates):
    """GCRA: 3/min allows 3 at once, then one every 20 s; Retry-After says when."""
    rates(anon="3/min")
    api = APIClient()
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert [r.status_code for r in _hammer(api, 3)] == [200, 200, 200]
        refused = api.get("/api/v1/tournaments/")
        assert refused.status_code == 429
        assert refused["Retry-After"] == "20"
        clock.shift(19.5)
        assert api.get("/api/v1/tournaments/").status_code == 429
        clock.shift(0.5)
        assert api.get("/api/v1/tournaments/").status_code == 200
        assert api.get("/api/v1/tournaments/").status_code == 429
        clock.shift(60)  # idle for the whole period: the full burst is available again
        assert [r.status_code for r in _hammer(api, 4)] == [200, 200, 200, 429]


@pytest.fixture
def redis_throttle(settings):
    """The throttle on a real Redis (CI sets REDIS_URL), in a key prefix of its own."""
    import os
    import uuid

    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs Redis: set REDIS_URL (CI does)")
    prefix = f"test-throttle-{uuid.uuid4().hex}"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {"BACKEND": "config.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix},
    }
    from django.core.cache import caches

    yield caches["throttle"]
    client = caches["throttle"]._cache.get_client(write=True)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


def test_redis_throttle_follows_the_same_rule(world, rates, redis_throttle):
    rates(anon="3/min")
    api = APIClient()
    start = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert [r.status_code for r in _hammer(api, 4)] == [200, 200, 200, 429]
        assert api.get("/api/v1/tournaments/")["Retry-After"] == "20"
        clock.shift(20)
        assert [r.status_code for r in _hammer(api, 2)] == [200, 429]
    # A refused request records nothing: the limit of another scope is untouched by it.
    assert redis_throttle.throttle_gcra([("k", 1, 60)], now=0.0) == 0.0
    assert redis_throttle.throttle_gcra([("k", 1, 60), ("other", 5, 60)], now=1.0) == 59.0
    assert redis_throttle.throttle_gcra([("other", 1, 60)], now=1.0) == 0.0


def test_redis_throttle_is_atomic_under_concurrency(redis_throttle):
    """Forty simultaneous requests against a limit of ten: exactly ten get through."""
    from concurrent.futures import ThreadPoolExecutor

    now = 1_800_000_000.0
    with ThreadPoolExecutor(8) as pool:
        waits = list(
            pool.map(lambda _: redis_throttle.throttle_gcra([("burst", 10, 60)], now), range(40))
        )
    assert sum(w == 0 for w in waits) == 10
    assert all(w > 0 for w in waits if w != 0)


def test_an_inactive_users_token_is_refused(world):
    c = token_client(world.outsider)
    world.outsider.is_active = False
    world.outsider.save()
    r = c.get("/api/v1/tournaments/")
    assert r.status_code == 401
    assert r.json()["detail"] == "User inactive or deleted."
    assert (
        APIClient(HTTP_AUTHORIZATION="Token not-a-token").get("/api/v1/forecasts/").status_code
        == 401
    )


def test_a_submission_by_token_takes_six_statements_on_postgresql(world, django_assert_num_queries):
    """Token + user + forecaster in one; then lock, append and save; then the two cohort
    states the event belongs to (docs/methods.md §16.2): one read, one batch of two updates.

    Inside the test's transaction the service's own transaction is a savepoint: two more.
    """
    c = token_client(world.outsider)
    body = {"question": world.open_q.pk, "probability": 0.4}
    assert c.post("/api/v1/forecasts/", body, format="json").status_code == 201  # forecaster made
    expected = 6 + 2 if connection.vendor == "postgresql" else 11
    with django_assert_num_queries(expected):
        assert c.post("/api/v1/forecasts/", body, format="json").status_code == 201
