"""The REST API for multiple-choice, numeric, date and discrete questions (docs/methods.md §12,
docs/researcher-guide.md "Question types"): creating, submitting every payload kind, reading
the crowd, its history and your own forecasts, with the same privacy rules as yes/no."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from django.contrib.auth.models import Permission

from forecasts import distributions, vector_pooling
from forecasts.models import CrowdPoint, Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question, Tournament
from tests.api.conftest import token_client
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
FORECASTS = "/api/v1/forecasts/"
QUESTIONS = "/api/v1/questions/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_scoring(monkeypatch):
    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)


@pytest.fixture
def tournament() -> Tournament:
    return TournamentFactory(slug="typed", min_forecasters=1)


@pytest.fixture
def staff():
    return UserFactory(username="staffer", is_staff=True)


def mc_question(tournament: Tournament, **kw) -> Question:
    return QuestionFactory(
        tournament=tournament,
        type="multiple_choice",
        options=["Lab A", "Lab B", "Other"],
        open_time=T0,
        **kw,
    )


def numeric_question(tournament: Tournament, **kw) -> Question:
    defaults = {"range_min": 0.0, "range_max": 100.0, "open_upper_bound": True}
    return QuestionFactory(
        tournament=tournament, type="numeric", open_time=T0, **{**defaults, **kw}
    )


def date_question(tournament: Tournament) -> Question:
    return QuestionFactory(
        tournament=tournament,
        type="date",
        range_min=distributions.parse_date_value("2026-01-01"),
        range_max=distributions.parse_date_value("2030-01-01"),
        open_time=T0,
    )


def people(n: int, prefix: str = "p"):
    return [UserFactory(username=f"{prefix}{i}") for i in range(n)]


PERCENTILES = {"0.05": 10, "0.25": 25, "0.5": 40, "0.75": 60, "0.95": 90}


# --- creating -----------------------------------------------------------------------------


def create_body(**kw):
    return {
        "tournament": "typed",
        "title": "A question",
        "open_time": "2025-01-01T00:00:00Z",
        "close_time": "2040-01-01T00:00:00Z",
        **kw,
    }


def test_staff_create_every_type(tournament, staff):
    c = token_client(staff)
    bodies = {
        "binary": create_body(key="b"),
        "multiple_choice": create_body(
            key="mc", type="multiple_choice", options=["Lab A", "Lab B", "Other"]
        ),
        "numeric": create_body(
            key="num",
            type="numeric",
            range_min=10,
            range_max=10000,
            zero_point=0,
            open_upper_bound=True,
        ),
        "date": create_body(
            key="d", type="date", range_min="2026-01-01", range_max="2030-01-01T00:00:00Z"
        ),
        "discrete": create_body(key="disc", type="discrete", range_min=-0.5, range_max=10.5),
    }
    for kind, body in bodies.items():
        r = c.post(QUESTIONS, body, format="json")
        assert r.status_code == 201, r.json()
        data = r.json()
        assert data["type"] == kind
        q = Question.objects.get(pk=data["id"])
        assert q.type == kind and q.status == Question.Status.OPEN
    mc = Question.objects.get(key="mc")
    assert mc.options == ["Lab A", "Lab B", "Other"]
    num = c.get(f"{QUESTIONS}{Question.objects.get(key='num').pk}/").json()
    assert num["scale"] == {
        "range_min": 10.0,
        "range_max": 10000.0,
        "open_lower_bound": False,
        "open_upper_bound": True,
        "zero_point": 0.0,
        "range_min_iso": None,
        "range_max_iso": None,
    }
    d = c.get(f"{QUESTIONS}{Question.objects.get(key='d').pk}/").json()
    assert d["scale"]["range_min"] == 1767225600.0
    assert d["scale"]["range_min_iso"] == "2026-01-01T00:00:00Z"
    assert d["scale"]["range_max_iso"] == "2030-01-01T00:00:00Z"
    b = c.get(f"{QUESTIONS}{Question.objects.get(key='b').pk}/").json()
    assert b["type"] == "binary" and b["options"] == [] and b["scale"] is None


def test_create_key_defaults_to_title_slug(tournament, staff):
    r = token_client(staff).post(QUESTIONS, create_body(title="Will X happen?"), format="json")
    assert r.status_code == 201
    assert r.json()["key"] == "will-x-happen"


def test_create_needs_permission(tournament, api):
    body = create_body(key="x")
    assert api.post(QUESTIONS, body, format="json").status_code == 401
    user = UserFactory(username="plain")
    assert token_client(user).post(QUESTIONS, body, format="json").status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="add_question"))
    user = type(user).objects.get(pk=user.pk)  # fresh permission cache
    assert token_client(user).post(QUESTIONS, body, format="json").status_code == 201
    assert Question.objects.filter(key="x").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "multiple_choice", "options": ["only one"]}, "type"),
        ({"type": "multiple_choice", "options": ["A", "A"]}, "type"),
        ({"type": "binary", "range_min": 0, "range_max": 1}, "type"),
        ({"type": "numeric", "range_min": 0}, "range_max"),
        ({"type": "numeric", "range_min": 5, "range_max": 1}, "range_max"),
        ({"type": "numeric", "range_min": 1, "range_max": 5, "zero_point": 3}, "zero_point"),
        ({"type": "numeric", "range_min": "1", "range_max": 5}, "range_min"),
        ({"type": "date", "range_min": "someday", "range_max": "2030-01-01"}, "range_min"),
        ({"type": "riddle"}, "type"),
        ({"close_time": "2024-01-01T00:00:00Z"}, "close_time"),
    ],
)
def test_create_invalid_is_400_with_field_and_writes_nothing(tournament, staff, body, field):
    before = Question.objects.count()
    r = token_client(staff).post(QUESTIONS, create_body(key="bad", **body), format="json")
    assert r.status_code == 400, r.json()
    assert field in r.json(), r.json()
    assert Question.objects.count() == before


def test_create_duplicate_key_and_unknown_tournament(tournament, staff):
    c = token_client(staff)
    assert c.post(QUESTIONS, create_body(key="k"), format="json").status_code == 201
    r = c.post(QUESTIONS, create_body(key="k"), format="json")
    assert r.status_code == 400 and "key" in r.json()
    r = c.post(QUESTIONS, create_body(key="k2", tournament="nope"), format="json")
    assert r.status_code == 404


# --- submitting ---------------------------------------------------------------------------


def submit(user, **body):
    return token_client(user).post(FORECASTS, body, format="json")


def test_submit_multiple_choice(tournament):
    q = mc_question(tournament)
    user = UserFactory(username="alice")
    r = submit(user, question=q.pk, probabilities=[0.5, 0.3, 0.2], rationale="because")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert set(data) == {
        *("id", "question", "question_key", "tournament", "kind", "values"),
        *("quantiles", "mean", "below", "above", "time", "rationale"),
    }
    assert data["values"] == pytest.approx([0.5, 0.3, 0.2])
    assert data["quantiles"] is None and data["rationale"] == "because"
    event = Forecast.objects.get(pk=data["id"])
    assert np.frombuffer(bytes(event.values), "<f8") == pytest.approx([0.5, 0.3, 0.2])
    mine = token_client(user).get(FORECASTS).json()["results"]
    assert mine[0]["values"] == data["values"]
    assert token_client(user).get(f"{FORECASTS}{data['id']}/").json() == data


@pytest.mark.parametrize(
    "payload",
    [
        {"cdf": [min(1.0, i / 190) for i in range(201)]},
        {"percentiles": PERCENTILES},
        {"percentiles": PERCENTILES, "above": 0.05},
        {"components": [[0.7, 40, 0.05], [0.3, 70, 0.1]]},
    ],
    ids=["cdf", "percentiles", "percentiles-tails", "components"],
)
def test_submit_continuous_payloads(tournament, payload):
    q = numeric_question(tournament)
    user = UserFactory(username="bob")
    r = submit(user, question=q.pk, **payload)
    assert r.status_code == 201, r.json()
    data = r.json()
    scale = distributions.Scale(0.0, 100.0, False, True)
    expected = distributions.forecast_from_payload(
        payload, question_type="numeric", scale=scale, n_options=None
    )
    assert data["values"] == pytest.approx(expected.tolist(), abs=1e-12)
    assert len(data["values"]) == 201
    assert set(data["quantiles"]) == {"0.05", "0.25", "0.5", "0.75", "0.95"}
    assert data["quantiles"]["0.5"] == pytest.approx(
        distributions.quantiles(expected, [0.5], scale)[0]
    )
    assert data["below"] == 0.0 and data["above"] == pytest.approx(1 - expected[-1])
    assert data["mean"] == pytest.approx(distributions.mean(expected, scale))
    if "percentiles" in payload:
        assert data["quantiles"]["0.25"] == pytest.approx(25, abs=0.5)


def test_submit_date_percentiles_as_iso(tournament):
    q = date_question(tournament)
    pct = {
        "0.05": "2026-03-01",
        "0.25": "2026-09-01",
        "0.5": "2027-01-01T00:00:00Z",
        "0.75": "2027-09-01",
        "0.95": "2029-01-01",
    }
    r = submit(UserFactory(username="carol"), question=q.pk, percentiles=pct)
    assert r.status_code == 201, r.json()
    data = r.json()
    # The 1% uniform floor moves the percentiles a little (docs/methods.md §12.3).
    median = dt.datetime.fromisoformat(data["quantiles"]["0.5"])
    assert abs(median - dt.datetime(2027, 1, 1, tzinfo=UTC)) < dt.timedelta(days=7)
    assert data["mean"].endswith("Z") and data["quantiles"]["0.05"].startswith("2026-0")


@pytest.mark.parametrize(
    ("make", "body", "field"),
    [
        ("mc", {"probabilities": [0.5, 0.5]}, "probabilities"),
        ("mc", {"probabilities": [0.5, 0.3, 0.3]}, "probabilities"),
        ("mc", {"probabilities": [0.5, "x", 0.2]}, "probabilities[1]"),
        ("mc", {"cdf": [0.5] * 201}, "cdf"),
        ("mc", {"probability": 0.5}, "probability"),
        ("num", {"probability": 0.5}, "probability"),
        ("num", {"cdf": [0.5] * 200}, "cdf"),
        ("num", {"cdf": [1 - i / 200 for i in range(201)]}, "cdf"),
        ("num", {"percentiles": {"0.05": 1, "0.5": 2}}, "percentiles"),
        ("num", {"percentiles": {**PERCENTILES, "0.5": 5}}, "percentiles[0.5]"),
        ("num", {"percentiles": PERCENTILES, "cdf": [0.0] * 201}, "payload"),
        ("num", {"components": [[1, 50]]}, "components[0]"),
        ("num", {"components": [[0.5, 40, 0.05]], "below": 0.1}, "below"),
        ("num", {"probabilities": [0.5, 0.5]}, "probabilities"),
        ("bin", {"probabilities": [0.5, 0.5]}, "probability"),
        ("bin", {"probability": 0.5, "cdf": [0.0] * 201}, "cdf"),
        ("bin", {}, "probability"),
    ],
)
def test_invalid_payloads_are_400_with_field_and_write_nothing(tournament, make, body, field):
    q = {
        "mc": lambda: mc_question(tournament),
        "num": lambda: numeric_question(tournament),
        "bin": lambda: QuestionFactory(tournament=tournament, open_time=T0),
    }[make]()
    r = submit(UserFactory(username="dave"), question=q.pk, **body)
    assert r.status_code == 400, r.json()
    errors = r.json()
    assert any(key == field or key.startswith(field) for key in errors), errors
    assert all(isinstance(m, list) and m and isinstance(m[0], str) for m in errors.values())
    assert Forecast.objects.count() == 0
    assert CrowdPoint.objects.count() == 0


def test_typed_submit_on_invisible_question_is_404(tournament):
    private = TournamentFactory(slug="priv", visibility=Tournament.Visibility.PRIVATE)
    q = mc_question(private)
    r = submit(UserFactory(username="eve"), question=q.pk, probabilities=[0.5, 0.3, 0.2])
    assert r.status_code == 404
    assert Forecast.objects.count() == 0


def test_binary_submit_response_is_unchanged(tournament):
    q = QuestionFactory(tournament=tournament, key="yn", open_time=T0)
    user = UserFactory(username="frank")
    r = submit(user, question=q.pk, probability=0.25, rationale="r")
    assert r.status_code == 201
    data = r.json()
    assert list(data) == [
        *("id", "question", "question_key", "tournament", "kind", "probability"),
        *("time", "rationale"),
    ]
    assert data["probability"] == 0.25 and data["question_key"] == "yn"
    w = token_client(user).post(f"{FORECASTS}withdraw/", {"question": q.pk}, format="json")
    assert w.status_code == 201 and w.json()["probability"] is None
    assert list(w.json()) == list(data)


def test_withdraw_typed_forecast(tournament):
    q = mc_question(tournament)
    user = UserFactory(username="gina")
    assert submit(user, question=q.pk, probabilities=[0.5, 0.3, 0.2]).status_code == 201
    w = token_client(user).post(f"{FORECASTS}withdraw/", {"question": q.pk}, format="json")
    assert w.status_code == 201
    assert w.json()["kind"] == "withdrawal" and w.json()["probability"] is None
    kinds = [e["kind"] for e in token_client(user).get(FORECASTS).json()["results"]]
    assert kinds == ["withdrawal", "forecast"]


# --- the crowd ------------------------------------------------------------------------------

MC_FORECASTS = ([0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6])


def forecast_mc(q: Question, users, vectors=MC_FORECASTS, start: int = 0) -> None:
    for i, (u, v) in enumerate(zip(users, vectors, strict=True)):
        forecast_submit(
            question_id=q.pk,
            forecaster=forecaster_for_user(u),
            values=np.array(v),
            at=T0 + dt.timedelta(minutes=start + i + 1),
        )


def test_multiple_choice_crowd_summary_and_comparators(tournament, api, staff):
    q = mc_question(tournament)
    forecast_mc(q, people(3))
    detail = api.get(f"{QUESTIONS}{q.pk}/").json()
    crowd = detail["crowd"]
    assert crowd["forecasters"] == 3
    assert [row["option"] for row in crowd["probabilities"]] == ["Lab A", "Lab B", "Other"]
    # SPEC reference value.
    assert [row["probability"] for row in crowd["probabilities"]] == pytest.approx(
        [0.454346, 0.334765, 0.210889], abs=1e-6
    )
    # Three forecasters: log pool, linear pool and median together could give away the three
    # forecasts, so the public sees the log pool only (docs/privacy.md); staff see all three.
    assert set(crowd["probabilities"][0]) == {"option", "probability"}
    crowd = token_client(staff).get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
    linear = vector_pooling.linear_pool(np.array(MC_FORECASTS))
    median = vector_pooling.median_pool(np.array(MC_FORECASTS))
    assert [row["linear_pool"] for row in crowd["probabilities"]] == pytest.approx(linear)
    assert [row["median"] for row in crowd["probabilities"]] == pytest.approx(median)
    listed = api.get(QUESTIONS, {"tournament": "typed"}).json()["results"][0]["crowd"]
    assert [row["probability"] for row in listed["probabilities"]] == pytest.approx(
        [0.454346, 0.334765, 0.210889], abs=1e-6
    )
    assert "linear_pool" not in listed["probabilities"][0]


MC_SIX = (*MC_FORECASTS, [0.3, 0.3, 0.4], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1])


def test_public_comparators_need_four_forecasters(tournament, api):
    """The public headline of six forecasters (two batches of three) carries the comparators;
    the one of three before it did not."""
    q = mc_question(tournament)
    users = people(6)
    forecast_mc(q, users[:3], MC_SIX[:3])
    first = api.get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
    assert first["forecasters"] == 3 and "median" not in first["probabilities"][0]
    forecast_mc(q, users[3:], MC_SIX[3:], start=3)
    crowd = api.get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
    assert crowd["forecasters"] == 6
    linear = vector_pooling.linear_pool(np.array(MC_SIX))
    median = vector_pooling.median_pool(np.array(MC_SIX))
    assert [row["linear_pool"] for row in crowd["probabilities"]] == pytest.approx(linear)
    assert [row["median"] for row in crowd["probabilities"]] == pytest.approx(median)


def test_continuous_crowd_summary_and_cdf(tournament, api, staff):
    q = numeric_question(tournament)
    scale = distributions.Scale(0.0, 100.0, False, True)
    cdfs = [
        distributions.cdf_from_percentiles(
            {"0.05": a, "0.25": a + 10, "0.5": a + 20, "0.75": a + 30, "0.95": a + 45}, scale
        )
        for a in (5.0, 15.0, 30.0)
    ]
    for i, (u, cdf) in enumerate(zip(people(3), cdfs, strict=True)):
        forecast_submit(
            question_id=q.pk,
            forecaster=forecaster_for_user(u),
            values=cdf,
            at=T0 + dt.timedelta(minutes=i + 1),
        )
    pooled_pmf = vector_pooling.log_pool(vector_pooling.buckets_from_cdf(np.array(cdfs)))
    pooled = vector_pooling.cdf_from_buckets(pooled_pmf)
    for client in (api, token_client(staff)):
        crowd = client.get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
        assert crowd["forecasters"] == 3
        assert crowd["cdf"] == pytest.approx(pooled.tolist(), abs=1e-12)
        expected = distributions.quantiles(pooled, [0.05, 0.25, 0.5, 0.75, 0.95], scale)
        assert [crowd["quantiles"][k] for k in ("0.05", "0.25", "0.5", "0.75", "0.95")] == (
            pytest.approx(expected.tolist(), abs=1e-9)
        )
        assert crowd["mean"] == pytest.approx(distributions.mean(pooled, scale))
        assert crowd["below"] == 0.0
        assert crowd["above"] == pytest.approx(1 - pooled[-1])
        linear = vector_pooling.cdf_from_buckets(
            vector_pooling.linear_pool(vector_pooling.buckets_from_cdf(np.array(cdfs)))
        )
        if client is api:  # 3 forecasters: no comparator for the public (docs/privacy.md)
            assert "linear_pool" not in crowd
        else:
            assert crowd["linear_pool"]["mean"] == pytest.approx(distributions.mean(linear, scale))
        listed = client.get(QUESTIONS, {"tournament": "typed"}).json()["results"][0]["crowd"]
        assert "cdf" not in listed and listed["quantiles"] == crowd["quantiles"]


def test_history_of_vector_questions(tournament, api, staff):
    mc = mc_question(tournament, key="mc")
    forecast_mc(mc, people(3))
    num = numeric_question(tournament, key="num")
    for i, u in enumerate(people(3, "n")):
        forecast_submit(
            question_id=num.pk,
            forecaster=forecaster_for_user(u),
            values=distributions.forecast_from_payload(
                {"percentiles": PERCENTILES},
                question_type="numeric",
                scale=distributions.Scale(0.0, 100.0, False, True),
                n_options=None,
            ),
            at=T0 + dt.timedelta(minutes=i + 1),
        )
    full = token_client(staff).get(f"{QUESTIONS}{mc.pk}/history/").json()
    assert [p["seq"] for p in full["results"]] == [1, 2, 3]
    assert full["results"][0]["probabilities"] == pytest.approx(MC_FORECASTS[0])
    public = api.get(f"{QUESTIONS}{mc.pk}/history/").json()
    assert full["count"] == 3 and public["count"] == 1  # the batch of three
    assert public["results"][0]["probabilities"] == pytest.approx(
        [0.454346, 0.334765, 0.210889], abs=1e-6
    )
    points = api.get(f"{QUESTIONS}{num.pk}/history/").json()["results"]
    assert len(points) == 1
    point = points[0]
    assert set(point) == {"seq", "time", "forecasters", "quantiles", "below", "above"}
    assert point["quantiles"]["0.25"] == pytest.approx(25, abs=0.5)
    assert point["below"] == 0.0 and 0.0 < point["above"] < 0.2


def test_privacy_public_sees_only_the_last_public_point(tournament, api, staff):
    """A fourth forecast after a public batch of three: the public crowd, list and detail and
    history alike, stays at the three; staff see the live four."""
    q = mc_question(tournament)
    users = people(4)
    forecast_mc(q, users[:3])
    forecast_mc(q, users[3:], vectors=([0.1, 0.1, 0.8],), start=10)
    public_detail = api.get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
    public_list = api.get(QUESTIONS, {"tournament": "typed"}).json()["results"][0]["crowd"]
    three = vector_pooling.log_pool(np.array(MC_FORECASTS))
    for crowd in (public_detail, public_list):
        assert crowd["forecasters"] == 3
        assert [r["probability"] for r in crowd["probabilities"]] == pytest.approx(three)
    # No comparator at a public point of three (docs/privacy.md), and none from the live four.
    assert set(public_detail["probabilities"][0]) == {"option", "probability"}
    assert api.get(f"{QUESTIONS}{q.pk}/history/").json()["count"] == 1
    staff_crowd = token_client(staff).get(f"{QUESTIONS}{q.pk}/").json()["crowd"]
    assert staff_crowd["forecasters"] == 4
    four = vector_pooling.log_pool(np.array([*MC_FORECASTS, [0.1, 0.1, 0.8]]))
    assert [r["probability"] for r in staff_crowd["probabilities"]] == pytest.approx(four)


@pytest.mark.parametrize("kind", ["mc", "num"])
def test_hidden_typed_crowd_is_not_leaked(api, kind):
    hidden = TournamentFactory(slug="hidden", min_forecasters=1, hide_until_forecast=True)
    q = mc_question(hidden) if kind == "mc" else numeric_question(hidden)
    users = people(3)
    for i, u in enumerate(users):
        token_client(u).post(
            FORECASTS,
            {"question": q.pk, "probabilities": list(MC_FORECASTS[i])}
            if kind == "mc"
            else {"question": q.pk, "percentiles": PERCENTILES},
            format="json",
        )
    assert Forecast.objects.filter(question=q).count() == 3
    outsider = token_client(UserFactory(username="outsider"))
    for client in (api, outsider):
        detail = client.get(f"{QUESTIONS}{q.pk}/").json()
        assert detail["crowd"] is None
        assert "Make your forecast" in detail["crowd_hidden_reason"]
        listed = client.get(QUESTIONS, {"tournament": "hidden"}).json()["results"][0]
        assert listed["crowd"] is None
        history = client.get(f"{QUESTIONS}{q.pk}/history/")
        assert history.status_code == 403 and history.json()["hidden"] is True
    # A forecaster sees it once they forecast.
    assert token_client(users[0]).get(f"{QUESTIONS}{q.pk}/").json()["crowd"] is not None


def test_too_few_forecasters_shows_no_typed_crowd(tournament, api):
    q = mc_question(tournament)
    forecast_mc(q, people(2), vectors=MC_FORECASTS[:2])
    detail = api.get(f"{QUESTIONS}{q.pk}/").json()
    assert detail["crowd"] is None and detail["crowd_hidden_reason"]
    assert api.get(f"{QUESTIONS}{q.pk}/history/").status_code == 403


# --- the OpenAPI examples ---------------------------------------------------------------------


def _examples(path: str) -> dict[str, dict]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in body["examples"].items()}


def test_every_submit_example_of_the_schema_is_accepted(staff):
    """The request examples of POST /forecasts/ (one per payload kind), sent as they are to a
    question of their type: each is stored."""
    t = TournamentFactory(slug="examples", min_forecasters=1)
    questions = {
        1: QuestionFactory(tournament=t, open_time=T0),
        2: mc_question(t),
        3: numeric_question(
            t, range_min=0.0, range_max=2000.0, open_lower_bound=True, open_upper_bound=True
        ),
        4: date_question(t),
    }
    examples = _examples("/api/v1/forecasts/")
    assert len(examples) == 6
    for name, body in examples.items():
        user = UserFactory(username=f"ex-{len(name)}-{name[:5]}")
        r = submit(user, **{**body, "question": questions[body["question"]].pk})
        assert r.status_code == 201, (name, r.json())


def test_every_create_example_of_the_schema_is_accepted(staff):
    TournamentFactory(slug="ai-2027")
    examples = _examples("/api/v1/questions/")
    assert {b.get("type", "binary") for b in examples.values()} == {
        "binary", "multiple_choice", "numeric", "date", "discrete"
    }  # fmt: skip
    for name, body in examples.items():
        r = token_client(staff).post(QUESTIONS, body, format="json")
        assert r.status_code == 201, (name, r.json())


# --- numbers too large for a float ------------------------------------------------------------

HUGE_JSON = "1" + "0" * 400
"""A JSON integer Python parses exactly and ``float()`` refuses (OverflowError: a 500 before)."""


def test_huge_json_integers_are_a_400_and_write_nothing(tournament, staff):
    c = token_client(staff)
    body = create_body(key="huge", type="numeric", range_min=0, range_max=0)
    text = json.dumps(body).replace('"range_max": 0', f'"range_max": {HUGE_JSON}')
    r = c.post(QUESTIONS, data=text, content_type="application/json")
    assert r.status_code == 400 and "range_max" in r.json()
    assert not Question.objects.filter(key="huge").exists()

    mc, num = mc_question(tournament), numeric_question(tournament)
    payloads = [
        (mc, f'{{"probabilities": [{HUGE_JSON}, 0.3, 0.5]}}', "probabilities[0]"),
        (num, f'{{"cdf": [{",".join(["0"] * 200)}, {HUGE_JSON}]}}', "cdf[200]"),
        (num, f'{{"components": [[1, {HUGE_JSON}, 0.1]]}}', "components[0][1]"),
        (
            num,
            '{"percentiles": {"0.05": 10, "0.25": 25, "0.5": 40, "0.75": 60, "0.95": 90}, '
            f'"above": {HUGE_JSON}}}',
            "above",
        ),
    ]
    for question, payload, field in payloads:
        text = payload[:-1] + f', "question": {question.pk}}}'
        r = c.post(FORECASTS, data=text, content_type="application/json")
        assert r.status_code == 400, (payload[:40], r.status_code)
        assert field in r.json()
    assert not Forecast.objects.exists()
