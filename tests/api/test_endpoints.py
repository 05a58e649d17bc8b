"""The researcher API's endpoints: reads, filters, pagination, writes and their error mapping."""

from __future__ import annotations

import datetime as dt

import pytest

from forecasts.models import Forecast
from markets.models import AuditRecord, BenchmarkResult
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def test_tournament_list_shows_public_tournaments_only_to_outsiders(world, api):
    r = api.get("/api/v1/tournaments/")
    assert r.status_code == 200
    assert [t["slug"] for t in r.json()["results"]] == ["ai-public"]
    assert r.json()["results"][0]["question_count"] == 3


def test_questions_filter_by_tournament_status_and_benchmark(world, api):
    r = api.get("/api/v1/questions/", {"tournament": "ai-public", "status": "open"})
    keys = sorted(q["key"] for q in r.json()["results"])
    assert keys == ["metr-6000"]
    r = api.get("/api/v1/questions/", {"benchmark": "metr-p50"})
    assert [q["key"] for q in r.json()["results"]] == ["metr-6000"]
    assert r.json()["results"][0]["milestone"]["threshold"] == 6000


def test_questions_are_paginated(world, api):
    r = api.get("/api/v1/questions/", {"page_size": 2})
    body = r.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert api.get(body["next"]).json()["results"]


def test_question_shows_crowd_when_revealed(world, api):
    r = api.get(f"/api/v1/questions/{world.open_q.pk}/")
    crowd = r.json()["crowd"]
    assert crowd["forecasters"] == 3
    assert crowd["probability"] == pytest.approx(0.6)


def test_history_is_forbidden_with_reason_while_crowd_hidden(world, api):
    world.public.min_forecasters = 5
    world.public.save()
    r = api.get(f"/api/v1/questions/{world.open_q.pk}/history/")
    assert r.status_code == 403
    assert r.json()["hidden"] is True and "5 forecasters" in r.json()["detail"]
    assert api.get(f"/api/v1/questions/{world.open_q.pk}/").json()["crowd"] is None


def test_history_lists_one_point_per_event_for_staff_and_the_public_series_for_others(world, api):
    r = token_client(world.staff).get(f"/api/v1/questions/{world.open_q.pk}/history/")
    assert r.status_code == 200
    points = r.json()["results"]
    assert [p["seq"] for p in points] == [1, 2, 3]
    assert [p["forecasters"] for p in points] == [1, 2, 3]
    assert points[-1]["probability"] == pytest.approx(0.6)
    # Anonymous: only the point where three forecasters have joined (docs/privacy.md).
    public = api.get(f"/api/v1/questions/{world.open_q.pk}/history/").json()["results"]
    assert public == points[-1:]
    # A researcher granted the permission keeps full resolution.
    from django.contrib.auth.models import Permission

    researcher = token_client(world.outsider)
    url = f"/api/v1/questions/{world.open_q.pk}/history/"
    assert researcher.get(url).json()["results"] == public
    world.outsider.user_permissions.add(Permission.objects.get(codename="view_forecast"))
    assert token_client(world.outsider).get(url).json()["results"] == points


def test_submit_and_withdraw_forecast(world):
    c = token_client(world.outsider)
    r = c.post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.42}, format="json"
    )
    assert r.status_code == 201, r.content
    assert r.json()["probability"] == 0.42 and r.json()["kind"] == "forecast"
    r = c.post("/api/v1/forecasts/withdraw/", {"question": world.open_q.pk}, format="json")
    assert r.status_code == 201 and r.json()["kind"] == "withdrawal"
    mine = c.get("/api/v1/forecasts/").json()["results"]
    assert [f["kind"] for f in mine] == ["withdrawal", "forecast"]


def test_withdraw_without_forecast_is_a_conflict(world):
    r = token_client(world.outsider).post(
        "/api/v1/forecasts/withdraw/", {"question": world.open_q.pk}, format="json"
    )
    assert r.status_code == 409
    assert "no current forecast" in r.json()["detail"]


def test_forecast_on_closed_question_is_a_conflict_with_the_service_message(world):
    r = token_client(world.outsider).post(
        "/api/v1/forecasts/", {"question": world.closed_q.pk, "probability": 0.5}, format="json"
    )
    assert r.status_code == 409
    assert "forecasts are closed" in r.json()["detail"]


@pytest.mark.parametrize("p", [0, 1, 0.0005, 1.5, "abc", "0.5", True, None])
def test_forecast_outside_allowed_range_is_rejected(world, p):
    r = token_client(world.outsider).post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": p}, format="json"
    )
    assert r.status_code == 400
    assert "probability" in r.json()
    assert not Forecast.objects.filter(forecaster__user=world.outsider).exists()


def test_submitting_needs_authentication(world, api):
    r = api.post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.5}, format="json"
    )
    assert r.status_code == 401


def test_session_authentication_works_for_the_site(world, api):
    api.force_login(world.outsider)
    r = api.get("/api/v1/forecasts/")
    assert r.status_code == 200


def test_resolution_history_and_audit(world, api):
    r = api.get(f"/api/v1/questions/{world.resolved_q.pk}/resolutions/")
    assert r.status_code == 200
    (res,) = r.json()
    assert res["outcome"] == "yes" and res["state"] == "final" and res["decided_by"] == "admin"
    audit = api.get(f"/api/v1/questions/{world.resolved_q.pk}/audit/").json()
    assert [a["action"] for a in audit] == [AuditRecord.Action.RESOLVED]
    assert audit[0]["who"] == "admin" and audit[0]["resolution_version"] == 1
    assert api.get(f"/api/v1/questions/{world.resolved_q.pk}/").json()["outcome"] == "yes"


def test_benchmarks_and_results(world, api):
    BenchmarkResult.objects.create(
        benchmark=world.open_q.benchmark,
        system="Opus 4.6",
        value=719,
        achieved_on=dt.date(2026, 2, 1),
    )
    assert api.get("/api/v1/benchmarks/").json()["results"][0]["slug"] == "metr-p50"
    r = api.get("/api/v1/benchmarks/metr-p50/results/", {"current": "true"})
    assert r.json()["results"][0]["value"] == 719


def _score(world, forecaster=None, subject=Subject.FORECASTER, rule=Rule.BRIER, value=0.1):
    resolution = world.resolved_q.resolutions.get(state="final")
    return Score.objects.create(
        question=world.resolved_q,
        resolution=resolution,
        subject=subject,
        forecaster=forecaster,
        rule=rule,
        score=value,
        coverage=0.9,
    )


def test_scores_show_the_crowd_and_your_own_and_pseudonyms_only_to_researchers(world, api):
    """Issue 13: forecasters' scores under pseudonyms were public, and public scores joined the
    pseudonyms to usernames. Now: anonymous sees the crowd's; a forecaster their own (by
    username); a permitted researcher everyone's, under pseudonyms keyed for them."""
    from django.contrib.auth.models import Permission

    from forecasts.pseudonyms import pseudonym_for_id

    f = world.forecasters[0]
    _score(world, forecaster=f)
    _score(world, subject=Subject.CROWD, value=0.05)
    body = api.get("/api/v1/scores/", {"tournament": "ai-public"}).json()["results"]
    assert [s["forecaster"] for s in body] == ["crowd"]
    mine = token_client(f.user).get("/api/v1/scores/", {"mine": "true"}).json()["results"]
    assert [(s["forecaster"], s["score"]) for s in mine] == [(f.user.username, 0.1)]
    other = token_client(world.forecasters[1].user).get("/api/v1/scores/").json()["results"]
    assert [s["forecaster"] for s in other] == ["crowd"]
    world.outsider.user_permissions.add(Permission.objects.get(codename="view_forecast"))
    body = token_client(world.outsider).get("/api/v1/scores/").json()["results"]
    named = pseudonym_for_id(f.pk, recipient=world.outsider.pk)
    assert sorted(s["forecaster"] for s in body) == sorted(["crowd", named])
    assert named != pseudonym_for_id(f.pk)


def test_leaderboard(world, api):
    f = world.forecasters[0]
    LeaderboardEntry.objects.create(
        tournament=world.public,
        subject=Subject.FORECASTER,
        forecaster=f,
        rank=1,
        questions=1,
        total_peer=10,
        mean_peer=10,
        mean_brier=0.1,
        mean_coverage=1,
    )
    LeaderboardEntry.objects.create(
        tournament=world.public,
        subject=Subject.CROWD,
        rank=2,
        questions=1,
        total_peer=5,
        mean_peer=5,
        mean_brier=0.2,
        mean_coverage=1,
    )
    rows = token_client(f.user).get("/api/v1/tournaments/ai-public/leaderboard/").json()["results"]
    assert [(r["rank"], r["you"]) for r in rows] == [(1, True), (2, False)]
    assert rows[1]["forecaster"] == "crowd"
    # Issue 13: the public identity, the username the site's leaderboard shows; a pseudonym
    # here let anyone join the two boards and name the people in research files.
    assert rows[0]["forecaster"] == f.user.username == "f0"
    assert "f_" not in api.get("/api/v1/tournaments/ai-public/leaderboard/").content.decode()


def test_calibration_of_the_crowd(world, api):
    r = api.get("/api/v1/tournaments/ai-public/calibration/", {"subject": "crowd", "bins": 10})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["questions"] == 1 and body["forecasts"] == 1
    assert sum(b["count"] for b in body["bins"]) == 1
    assert body["decomposition"]["bs"] == pytest.approx((0.6 - 1) ** 2)
    everyone = api.get("/api/v1/tournaments/ai-public/calibration/", {"subject": "forecasters"})
    assert everyone.json()["forecasts"] == 3
    csv = api.get("/api/v1/tournaments/ai-public/calibration/", {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    assert csv.content.decode().splitlines()[0].startswith("lower,upper,count")


def test_calibration_rejects_unknown_subject(world, api):
    r = api.get("/api/v1/tournaments/ai-public/calibration/", {"subject": "nobody"})
    assert r.status_code == 400


def test_schema_and_docs_are_served_without_external_hosts(db, api):
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_forecast_writes_take_json_only(world):
    r = token_client(world.outsider).post(
        "/api/v1/forecasts/", {"question": world.open_q.pk, "probability": 0.5}
    )
    assert r.status_code == 415


def test_unknown_api_paths_answer_json_404(db, api):
    r = api.get("/api/v1/questions/not-a-number/")
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


def test_huge_ids_are_not_found_rather_than_errors(world, api):
    assert api.get(f"/api/v1/questions/{2**70}/").status_code == 404
    assert api.get(f"/api/v1/questions/{2**70}/history/").status_code == 404
    r = api.get("/api/v1/scores/", {"question": str(2**70)})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/questions/{open}/history/",
        "/api/v1/tournaments/ai-public/leaderboard/",
        "/api/v1/questions/",
        "/api/v1/tournaments/ai-public/calibration/",
    ],
)
def test_the_browsable_api_answers_html_without_a_server_error(world, path):
    """A browser's Accept header asked DRF for its HTML page, which asserted a queryset the
    history and leaderboard views did not declare: a 500."""
    from rest_framework.test import APIClient

    response = APIClient().get(path.format(open=world.open_q.pk), HTTP_ACCEPT="text/html")
    # Every JSON endpoint shows the browsable API (calibration answered 406 before issue 13).
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("name", ["key", "tournament", "benchmark", "status"])
def test_a_nul_character_in_a_filter_is_a_400_not_a_database_error(world, name):
    """Found by the schema fuzzer on PostgreSQL: text fields cannot hold NUL, so a filter with
    one made the query fail with a 500."""
    from rest_framework.test import APIClient

    response = APIClient().get("/api/v1/questions/", {name: "a\x00b"})
    assert response.status_code == 400
    assert name in response.json()


def test_a_typed_milestone_rule_has_null_comparator_and_threshold(world, api):
    """Numeric best-result rules (docs/methods.md §8.8) have neither comparator nor threshold."""
    from markets.models import Benchmark, Question
    from tests.factories import QuestionFactory

    public = Question.objects.get(key="metr-6000").tournament
    QuestionFactory(
        tournament=public,
        key="best-metr",
        type="numeric",
        range_min=0.0,
        range_max=10000.0,
        benchmark=Benchmark.objects.get(slug="metr-p50"),
        deadline=dt.date(2026, 6, 30),
    )
    r = api.get("/api/v1/questions/", {"benchmark": "metr-p50"})
    milestone = {q["key"]: q["milestone"] for q in r.json()["results"]}["best-metr"]
    assert (milestone["comparator"], milestone["threshold"]) == (None, None)
    assert milestone["deadline"] == "2026-06-30"
    assert milestone["text"].startswith("Resolves to the best (highest)")
