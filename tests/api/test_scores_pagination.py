"""Issue 19: the scores list read by keyset (cursor) pages, and its values() fast path.

A staff walk of 1000-row pages over 1.2 M scores took about 2 s a page (a ``COUNT(*)`` and an
``OFFSET`` growing with the page); now ``next`` carries a cursor, and each page is read from the
index in the list's order. ``page`` keeps the page-number form.
"""

from __future__ import annotations

import pytest

from api.serializers.scoring import SCORE_VALUES, ScoreSerializer, score_list_data, subject_labels
from forecasts.models import Forecaster
from scoring.models import Rule, Score, Subject
from tests.api.conftest import token_client

RULES = [Rule.BRIER, Rule.LOG, Rule.PEER]


def _scores(world) -> None:
    """Forecasters' and the crowd's scores on the resolved question: several forecasters, rules
    and subjects, so that the order has ties on every leading key."""
    resolution = world.resolved_q.resolutions.get(state="final")
    imported = Forecaster.objects.create(source="acx-test", key="acx0007")
    rows = []
    for i, f in enumerate([*world.forecasters, imported]):
        for j, rule in enumerate(RULES):
            score = None if (i, j) == (0, 1) else 0.1 * i - 0.05 * j
            rows.append(
                Score(
                    question=world.resolved_q,
                    resolution=resolution,
                    subject=Subject.FORECASTER,
                    forecaster=f,
                    rule=rule,
                    score=score,
                    coverage=0.5 if score is None else 0.9,
                )
            )
    for subject in (Subject.CROWD, Subject.MEDIAN, Subject.MEAN):
        for rule in RULES:
            rows.append(
                Score(
                    question=world.resolved_q,
                    resolution=resolution,
                    subject=subject,
                    rule=rule,
                    score=0.125,
                    coverage=1.0,
                )
            )
    Score.objects.bulk_create(rows)


def _walk(client, params: dict) -> list[dict]:
    body = client.get("/api/v1/scores/", params).json()
    rows = list(body["results"])
    pages = 1
    while body["next"]:
        assert "cursor=" in body["next"] and "count" not in body
        body = client.get(body["next"]).json()
        rows += body["results"]
        pages += 1
    assert pages == -(-len(rows) // params["page_size"]) or len(rows) == 0
    return rows


def _pages(client, params: dict) -> tuple[list[dict], int]:
    rows: list[dict] = []
    page = 1
    while True:
        body = client.get("/api/v1/scores/", {**params, "page": page}).json()
        rows += body["results"]
        if not body["next"]:
            return rows, body["count"]
        page += 1


@pytest.mark.parametrize("page_size", [1, 2, 5, 7, 1000])
def test_cursor_walk_gives_every_row_once_in_the_page_number_order(world, page_size):
    _scores(world)
    staff = token_client(world.staff)
    by_cursor = _walk(staff, {"page_size": page_size})
    by_page, count = _pages(staff, {"page_size": page_size})
    assert count == len(by_page) == Score.objects.count() == 3 * (len(world.forecasters) + 1) + 9
    assert by_cursor == by_page
    keys = [(r["question"], r["subject"], r["forecaster"], r["rule"]) for r in by_cursor]
    assert len(set(keys)) == len(keys)
    # The order: question, subject, forecaster id, rule (the crowd subjects before "forecaster").
    subjects = [r["subject"] for r in by_cursor]
    assert subjects == sorted(subjects)


def test_cursor_walk_of_a_filtered_list_and_of_a_forecaster(world, api):
    _scores(world)
    staff = token_client(world.staff)
    peer = _walk(staff, {"page_size": 2, "rule": "peer"})
    assert [r["rule"] for r in peer] == ["peer"] * (len(world.forecasters) + 4)
    assert "acx0007" in {r["forecaster"] for r in peer}  # an imported forecaster keeps its key
    # Anonymous: the crowd's rows only, by cursor as well.
    public = _walk(api, {"page_size": 2})
    assert {r["subject"] for r in public} == {"crowd", "median", "mean"} and len(public) == 9
    # A forecaster: the crowd's and their own, named by username.
    f = world.forecasters[1]
    mine = _walk(token_client(f.user), {"page_size": 4})
    own = [r for r in mine if r["subject"] == "forecaster"]
    assert [r["forecaster"] for r in own] == [f.user.username] * 3 and len(mine) == 12


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "!!!",
        "W10",  # []
        "WzEsImEiXQ",  # [1,"a"]: too few values
        "WyIxIiwiY3Jvd2QiLDAsImJyaWVyIl0",  # ["1","crowd",0,"brier"]: a string for the id
        "W3RydWUsImNyb3dkIiwwLCJicmllciJd",  # [true,...]: a bool is no id
        "Wy0xLCJjcm93ZCIsMCwiYnJpZXIiXQ",  # [-1,...]
        "a" * 3000,
    ],
)
def test_a_bad_cursor_is_a_400(world, api, cursor):
    r = api.get("/api/v1/scores/", {"cursor": cursor})
    assert r.status_code == 400 and "cursor" in r.json()


def test_page_and_cursor_together_is_a_400(world, api):
    _scores(world)
    body = token_client(world.staff).get("/api/v1/scores/", {"page_size": 2}).json()
    cursor = body["next"].split("cursor=")[1].split("&")[0]
    r = api.get("/api/v1/scores/", {"cursor": cursor, "page": 1})
    assert r.status_code == 400 and "cursor" in r.json()


def test_page_numbers_keep_count_next_and_previous(world):
    _scores(world)
    staff = token_client(world.staff)
    body = staff.get("/api/v1/scores/", {"page": 2, "page_size": 5}).json()
    assert body["count"] == Score.objects.count()
    assert "page=3" in body["next"] and body["previous"] and "cursor" not in body["next"]
    assert len(body["results"]) == 5


@pytest.mark.parametrize("who", ["staff", "forecaster", "anonymous"])
def test_values_rows_serialize_exactly_as_the_serializer(world, who):
    """``score_list_data`` (values() rows) equals ``ScoreSerializer`` on model instances, for a
    viewer with pseudonyms, one named by username, and anonymous."""
    from django.contrib.auth.models import AnonymousUser

    _scores(world)
    user = {
        "staff": world.staff,
        "forecaster": world.forecasters[0].user,
        "anonymous": AnonymousUser(),
    }[who]
    qs = Score.objects.select_related(
        "question__tournament", "resolution", "forecaster__user"
    ).order_by("id")
    expected = ScoreSerializer(qs, many=True, context={"labels": subject_labels(user)}).data
    got = score_list_data(qs.values(*SCORE_VALUES), user)
    assert [dict(e) for e in expected] == got
    assert any(r["score"] is None for r in got)
    if who == "staff":
        assert "acx0007" in {r["forecaster"] for r in got}


@pytest.mark.parametrize("who", ["forecaster", "anonymous"])
def test_leaderboard_values_rows_serialize_exactly_as_the_serializer(world, who):
    """``leaderboard_list_data`` (values() rows, issue 19) equals ``LeaderboardEntrySerializer``
    on model instances: a site user's row (``you`` for them), an imported forecaster's, an
    unranked one without a Brier score, and the crowd's with its would-be rank."""
    from django.contrib.auth.models import AnonymousUser

    from api.serializers.scoring import (
        LEADERBOARD_VALUES,
        LeaderboardEntrySerializer,
        leaderboard_list_data,
    )
    from scoring.models import LeaderboardEntry

    imported = Forecaster.objects.create(source="acx-test", key="acx0007")
    common = {"tournament": world.public, "questions": 1, "mean_coverage": 1.0}
    LeaderboardEntry.objects.create(
        subject=Subject.FORECASTER,
        forecaster=world.forecasters[0],
        rank=1,
        total_peer=10.5,
        mean_peer=10.5,
        mean_brier=0.1,
        **common,
    )
    LeaderboardEntry.objects.create(
        subject=Subject.FORECASTER,
        forecaster=imported,
        rank=None,
        eligible=False,
        total_peer=-2.25,
        mean_peer=-2.25,
        mean_brier=None,
        **common,
    )
    LeaderboardEntry.objects.create(
        subject=Subject.CROWD, total_peer=5.0, mean_peer=5.0, mean_brier=0.2, **common
    )
    user = world.forecasters[0].user if who == "forecaster" else AnonymousUser()
    request = type("Request", (), {"user": user})()
    qs = LeaderboardEntry.objects.select_related("forecaster__user").order_by("id")
    ranks = {"crowd": 2}
    expected = LeaderboardEntrySerializer(
        qs, many=True, context={"request": request, "would_rank": ranks}
    ).data
    got = leaderboard_list_data(qs.values(*LEADERBOARD_VALUES), user, ranks)
    assert [dict(e) for e in expected] == got
    assert [r["you"] for r in got] == [who == "forecaster", False, False]
    assert [r["forecaster"] for r in got][1:] == ["acx0007", "crowd"]


# --- page numbers over a window (issue 19: a COUNT(*) and OFFSET over 1.2 M rows took 1.2 s) ---


@pytest.fixture
def window(monkeypatch):
    """A window of 10 rows, so that a list of 27 scores overflows it (10,000 in production)."""
    monkeypatch.setattr("api.pagination.KeysetPagination.max_window", 10)
    return 10


def test_a_page_past_the_window_is_a_400_naming_the_cursor(world, window):
    _scores(world)
    staff = token_client(world.staff)
    assert staff.get("/api/v1/scores/", {"page": 2, "page_size": 5}).status_code == 200
    for params in ({"page": 3, "page_size": 5}, {"page": 11}, {"page": "last", "page_size": 2}):
        r = staff.get("/api/v1/scores/", params)
        assert r.status_code == 400, params
        message = r.json()["page"][0]
        assert "first 10 rows" in message and "cursor" in message and "`next`" in message


def test_the_count_is_exact_up_to_the_window_and_never_wrong_beyond(world, window):
    _scores(world)
    total = Score.objects.count()
    assert total > window
    staff = token_client(world.staff)
    body = staff.get("/api/v1/scores/", {"page": 1, "page_size": 5}).json()
    assert body["count"] is None and body["count_at_least"] == window + 1
    # A filtered list inside the window has its exact count, and no count_at_least.
    peer = staff.get("/api/v1/scores/", {"page": 1, "page_size": 2, "rule": "peer"}).json()
    n_peer = Score.objects.filter(rule="peer").count()
    assert n_peer <= window and peer["count"] == n_peer and "count_at_least" not in peer
    last = staff.get("/api/v1/scores/", {"page": "last", "page_size": 2, "rule": "peer"}).json()
    assert last["next"] is None and len(last["results"]) == n_peer - 2 * (-(-n_peer // 2) - 1)
    # A list of exactly the window's size: exact.
    Score.objects.filter(pk__in=Score.objects.order_by("pk").values("pk")[window:]).delete()
    body = staff.get("/api/v1/scores/", {"page": 1, "page_size": 5}).json()
    assert body["count"] == window and "count_at_least" not in body


def test_following_next_from_page_numbers_reaches_every_row_by_cursor(world, window):
    _scores(world)
    staff = token_client(world.staff)
    by_cursor = _walk(staff, {"page_size": 5})
    body = staff.get("/api/v1/scores/", {"page": 1, "page_size": 5}).json()
    rows = list(body["results"])
    assert "page=2" in body["next"] and "cursor" not in body["next"]
    body = staff.get(body["next"]).json()  # page 2: the window's last
    rows += body["results"]
    assert "cursor=" in body["next"] and "page=" not in body["next"]
    assert "page=1" in body["previous"]
    while body["next"]:
        body = staff.get(body["next"]).json()
        rows += body["results"]
    assert rows == by_cursor and len(rows) == Score.objects.count()


def test_a_page_past_the_end_of_a_short_list_is_a_404(world):
    _scores(world)
    r = token_client(world.staff).get("/api/v1/scores/", {"page": 9, "page_size": 5})
    assert r.status_code == 404


def test_the_openapi_schema_documents_the_window(db):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    op = schema["paths"]["/api/v1/scores/"]["get"]
    page = next(p for p in op["parameters"] if p["name"] == "page")
    assert "10,000" in page["description"] and "400" in page["description"]
    body = op["responses"]["200"]["content"]["application/json"]["schema"]
    ref = body["$ref"].rsplit("/", 1)[1]
    props = schema["components"]["schemas"][ref]["properties"]
    assert props["count"]["nullable"] and "count_at_least" in props
