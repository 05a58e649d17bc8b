"""Schemathesis against the generated OpenAPI schema, through Django's WSGI application, on a
populated database (``tests.api.populated``: ACX 2023 imported, every question state).

For every operation a bounded number of generated requests (``SCHEMATHESIS_EXAMPLES``, default
25) is sent as an authenticated forecaster (with the raw-forecasts permission); every response
must be free of server errors and conform to the schema (status code, content type, headers,
body). Generated ids and slugs would almost never name a row, so Hypothesis also draws whether
to replace each by a real one: requests then reach the populated tournaments, questions,
benchmarks and the user's own forecasts.

The database is built once for the module, inside a transaction rolled back at its end; each
operation's requests run in a savepoint of their own.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.pagination import MAX_WINDOW
from api.serializers.typed import TYPED_INPUTS
from tests.api.populated import Populated, build_populated

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(scope="module")
def populated(django_db_setup, django_db_blocker, tmp_path_factory):
    """The populated database (built once; rolled back after the module). Scoring and the
    leaderboard run in-process while it is built, never through a broker or a shared cache."""
    from django.db import transaction
    from django.test import override_settings

    with (
        django_db_blocker.unblock(),
        pytest.MonkeyPatch.context() as patch,
        override_settings(CACHES=LOCMEM),
    ):
        patch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)
        patch.setattr("scoring.services._after_scoring", lambda tournament_id: None)
        with transaction.atomic():
            data = build_populated(tmp_path_factory.mktemp("acx"))
            _grant_raw_forecasts(data.world.forecasters[0].user)
            yield data
            transaction.set_rollback(True)


def _grant_raw_forecasts(user: Any) -> None:
    from django.contrib.auth.models import Permission

    user.user_permissions.add(Permission.objects.get(codename="view_forecast"))


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Calls go through the real WSGI handler, whose request signals would close the test's
    database connection (mid-transaction on PostgreSQL); Django's own test client detaches
    them the same way."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def generous_throttles(settings):
    # Throttling is tested on its own; here it would only turn later examples into 429s.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "anon": "100000/min",
            "user": "100000/min",
            "token": "100000/min",
            "submit": "100000/min",
            "trade": "100000/min",
        },
    }


@pytest.fixture
def auth_header(populated):
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=populated.world.forecasters[0].user)
    return {"Authorization": f"Token {token.key}"}


@pytest.fixture(scope="module")
def real(populated) -> dict[str, list[Any]]:
    return targets(populated)


def targets(data: Populated) -> dict[str, list[Any]]:
    """Real values for generated ids, slugs and keys, by what they name."""
    from forecasts.models import Forecast

    world = data.world
    acx = list(data.acx.questions.order_by("key"))
    return {
        "question": [
            *(q.pk for q in (world.open_q, world.closed_q, world.resolved_q, world.private_q)),
            data.proposed_q.pk,
            data.annulled_q.pk,
            *(q.pk for q in (data.mc_q, data.numeric_q, data.date_q)),
            data.conditional.if_yes_id,
            data.conditional.if_no_id,
            *(q.pk for q in acx[:3]),
        ],
        "tournament": [world.public.slug, world.private.slug, data.acx.slug],
        "benchmark": [world.open_q.benchmark.slug],
        "forecast": list(
            Forecast.objects.filter(forecaster=world.forecasters[0]).values_list("pk", flat=True)
        ),
        "key": [world.open_q.key, data.proposed_q.key, acx[0].key],
        "typed": [
            *(q.pk for q in (data.mc_q, data.numeric_q, data.date_q)),
            data.conditional.if_yes_id,
            data.conditional.if_no_id,
        ],
        "conditional": [data.conditional.pk],
    }


def _pick(data: Any, value: Any, choices: list[Any]) -> Any:
    """One of ``choices``, or the generated value itself: drawn by Hypothesis, so a failure
    replays and shrinks like any other."""
    if not choices or not isinstance(value, str | int) or isinstance(value, bool):
        return value
    choice = data.draw(st.sampled_from([None, *choices]))
    return value if choice is None else choice


def aim(case: Any, data: Any, real: dict[str, list[Any]]) -> None:
    """Point part of a case's ids, slugs and keys at rows of the populated database.

    Positive cases only: a negative case must stay as invalid as it was generated."""
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    path = case.operation.path
    kind = next((k for k, part in PATH_KINDS.items() if part in path), None)
    params = case.path_parameters or {}
    for name in ("id", "slug"):
        if name in params and kind is not None:
            params[name] = _pick(data, params[name], real[kind])
    query = case.query or {}
    for name in ("question", "tournament", "benchmark", "key"):
        if name in query:
            query[name] = _pick(data, query[name], [str(v) for v in real[name]])
    if isinstance(case.body, dict) and "question" in case.body:
        case.body["question"] = _pick(data, case.body["question"], real["question"])


SECOND_PARAMS = {"cohort": "bots", "board": "bots"}
PATH_KINDS = {  # what a path's {id} or {slug} names
    "question": "/questions/{id}",
    "tournament": "/tournaments/{slug}",
    "benchmark": "/benchmarks/{slug}",
    "forecast": "/forecasts/{id}",
    "conditional": "/conditionals/{id}",
}


def _load_schema():
    # Loaded at collection: the lazy ``from_fixture`` loader of schemathesis 4.32 relies on a
    # pytest-internal attribute that pytest 9 removed. Serving the schema needs no database.
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()


@pytest.mark.django_db(transaction=False)
@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    # The schema's examples (OpenApiExample) name made-up ids; schemathesis cannot combine
    # them with the drawn ``data`` either. They are checked by tests/api/test_typed_api.py.
    phases=[p for p in Phase if p != Phase.explicit],
)
def test_api_conforms_to_its_schema(case, data, real, auth_header):
    aim(case, data, real)
    excluded = []
    query = case.query or {}
    values = [
        v for value in query.values() for v in (value if isinstance(value, list) else [value])
    ]
    if any("\x00" in str(v) for v in values):
        # A NUL character cannot reach the database (PostgreSQL text cannot hold one): a query
        # parameter holding one is refused with a 400 (config.middleware), by rule.
        excluded.append(positive_data_acceptance)
    if "as_of" in query:
        # A schema-valid as_of in the future is refused by rule (docs/researcher-guide.md: an
        # export covers only the past, so the same as_of gives the same bytes): a documented 400
        # that OpenAPI cannot express. Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    body = case.body if isinstance(case.body, dict) else {}
    if any(name in body for name in TYPED_INPUTS) or body.get("question") in real["typed"]:
        # Whether a payload fits depends on the question's type (the schema offers each
        # payload kind for any question) and on rules JSON Schema cannot state (probabilities
        # summing to 1, a CDF that never decreases, percentiles that increase): such a body is
        # refused with a 400 naming the field (docs/researcher-guide.md, "Question types").
        # Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    if "/cohorts/" in case.path and (case.path_parameters or {}).get("id") in real["typed"]:
        # Cohort crowds are served for yes/no questions (docs/methods.md §16.2): another
        # type's is a documented 400 that depends on the question, which OpenAPI cannot
        # express. Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    if case.path == "/api/v1/bots/" and case.method.upper() == "POST":
        # A bot's name must be free and an owner runs at most 20 bots (forecasts.bots): a
        # documented 400 that depends on what exists, which OpenAPI cannot express.
        excluded.append(positive_data_acceptance)
    if case.path.startswith("/api/v1/trading/") and case.method.upper() == "POST":
        # Whether an order fits depends on the market (an outcome index within its outcomes,
        # exactly one of shares, amount or target, a sale of shares held, a target the price is
        # not already at): such an order is refused with a 400 saying why (api/trading.py).
        # Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    if "cursor" in query:
        # A cursor is opaque: only one the API wrote into a `next` link is valid, and any other
        # string is refused with a documented 400 (api.pagination, issue 19), which OpenAPI
        # cannot express either. Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    if case.path == "/api/v1/scores/" and _beyond_window(query):
        # Page numbers of the scores list reach its first MAX_WINDOW rows; beyond, a documented
        # 400 names the cursor form (api.pagination, issue 19): page × page_size is a bound
        # OpenAPI cannot express. Everything else about such responses is still checked.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(headers=auth_header, excluded_checks=excluded)


def _beyond_window(query: dict[str, Any]) -> bool:
    try:
        page, size = int(query.get("page", 1)), int(query.get("page_size", 50))
    except (TypeError, ValueError):
        return False
    return page * size > MAX_WINDOW


EXTRA_QUERIES = {  # besides no query at all, by the end of the path
    "/calibration/": [
        *({"subject": s} for s in ("crowd", "median", "mean", "forecasters", "me")),
        {"format": "csv", "bins": 20},
    ],
    "/crowd-export/": [{"format": "json"}, {"format": "parquet"}],
    "/crowd-export/manifest/": [{"format": "parquet"}],
    "/questions/": [{"tournament": "acx-2023", "status": "resolved"}, {"key": "1"}],
    "/scores/": [{"tournament": "acx-2023", "rule": "peer"}, {"mine": "true"}],
    "/results/": [{"current": "true"}],
}


@pytest.mark.django_db(transaction=False)
def test_every_read_of_every_populated_row_conforms_to_its_schema(real, auth_header):
    """Each GET operation for each real row it can name (three tournaments, questions in every
    state, ACX questions, the user's forecasts), with and without its main parameters, checked
    like the fuzzer's requests: the fuzzer draws real rows only now and then."""
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() != "GET":
            continue
        kind = next((k for k, part in PATH_KINDS.items() if part in operation.path), None)
        name = "slug" if "{slug}" in operation.path else "id"
        rows = real[kind] if kind is not None else [None]
        extra = next((q for end, q in EXTRA_QUERIES.items() if operation.path.endswith(end)), [])
        for value in rows:
            for query in [{}, *extra]:
                params = {} if value is None else {name: value}
                # The cohort endpoints' second path parameter (issue 18).
                params.update(
                    {k: v for k, v in SECOND_PARAMS.items() if f"{{{k}}}" in operation.path}
                )
                case = operation.Case(path_parameters=params, query=query)
                case.call_and_validate(headers=auth_header)
                calls += 1
    assert calls >= 140  # 21 operations, most of them for several rows


@pytest.mark.django_db(transaction=False)
def test_the_populated_database_has_real_data_and_every_state(populated):
    """What the fuzzer runs against: ACX imported (a subset of its forecasters, all 50
    questions, scored, on the leaderboard) and a tournament with questions in every state."""
    from forecasts.models import Forecast, Forecaster
    from markets.models import Question
    from scoring.models import LeaderboardEntry, Score

    acx = populated.acx
    assert acx.questions.count() == 50
    assert Forecaster.objects.filter(source="acx-2023").count() == 200
    assert Forecast.objects.filter(question__tournament=acx).count() == 9_387
    assert acx.questions.filter(status=Question.Status.RESOLVED).count() == 50
    assert Score.objects.filter(question__tournament=acx).exists()
    assert LeaderboardEntry.objects.filter(tournament=acx).count() > 200  # forecasters + crowd
    states = {
        populated.world.open_q.status,
        populated.world.closed_q.status,
        populated.world.resolved_q.status,
        populated.annulled_q.status,
    }
    assert states == {"open", "closed", "resolved", "annulled"}
    assert populated.proposed_q.resolutions.get().state == "proposed"
