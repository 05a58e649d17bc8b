"""The conditional pairs' API: create, read, and the pair shown on each question
(docs/methods.md §14)."""

from __future__ import annotations

import datetime as dt

import pytest

from markets.models import Conditional, Question, Resolution
from markets.resolution.manual import question_resolve
from tests.api.conftest import token_client
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
CONDITIONALS = "/api/v1/conditionals/"


@pytest.fixture
def staff():
    return UserFactory(username="staff", is_staff=True)


@pytest.fixture
def two():
    tournament = TournamentFactory(slug="cond")
    parent = QuestionFactory(tournament=tournament, key="swe-95", title="SWE-bench 95%?")
    child = QuestionFactory(tournament=tournament, key="rsi", title="RSI by 2028?")
    return parent, child


def test_staff_create_a_pair_and_read_it_back(two, staff, api):
    parent, child = two
    c = token_client(staff)
    r = c.post(
        CONDITIONALS, {"parent": parent.pk, "child": child.pk, "key": "rsi-swe"}, format="json"
    )
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["parent"]["id"] == parent.pk and data["child"]["id"] == child.pk
    assert data["if_yes"]["key"] == "rsi-swe-if-yes"
    assert data["if_no"]["title"] == "If “SWE-bench 95%?” resolves NO: RSI by 2028?"
    assert data["url"] == f"/conditionals/{data['id']}/"
    got = api.get(f"{CONDITIONALS}{data['id']}/")
    assert got.status_code == 200 and got.json() == data
    listed = api.get(CONDITIONALS, {"tournament": "cond"}).json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]


def test_the_question_api_shows_each_questions_role(two, staff, api):
    parent, child = two
    c = token_client(staff)
    data = c.post(CONDITIONALS, {"parent": parent.pk, "child": child.pk}, format="json").json()
    yes = data["if_yes"]["id"]
    shown = api.get(f"/api/v1/questions/{yes}/").json()["conditionals"]
    assert shown == [
        {
            "id": data["id"],
            "role": "if_yes",
            "parent": parent.pk,
            "child": child.pk,
            "if_yes": yes,
            "if_no": data["if_no"]["id"],
        }
    ]
    rows = api.get("/api/v1/questions/", {"tournament": "cond"}).json()["results"]
    roles = {row["id"]: [x["role"] for x in row["conditionals"]] for row in rows}
    assert roles[parent.pk] == ["parent"] and roles[child.pk] == ["child"]
    assert roles[data["if_no"]["id"]] == ["if_no"]


def test_outcomes_follow_in_the_api(two, staff, api):
    parent, child = two
    data = token_client(staff).post(
        CONDITIONALS, {"parent": parent.pk, "child": child.pk, "open_time": "2025-01-01T00:00:00Z"},
        format="json",
    ).json()  # fmt: skip
    question_resolve(question_id=parent.pk, outcome=Resolution.Outcome.YES)
    got = api.get(f"{CONDITIONALS}{data['id']}/").json()
    assert (got["parent"]["outcome"], got["if_yes"]["outcome"], got["if_no"]["outcome"]) == (
        "yes",
        None,
        "annulled",
    )


@pytest.mark.parametrize(
    ("make", "field", "words"),
    [
        ("multiple_choice_parent", "parent", "must be a yes/no question"),
        ("self", "child", "cannot be conditional on itself"),
        ("other_tournament", "child", "another tournament"),
        ("one_branch", "if_no", "both branches or neither"),
    ],
)
def test_bad_input_is_a_clear_400_and_writes_nothing(two, staff, make, field, words):
    parent, child = two
    body = {"parent": parent.pk, "child": child.pk}
    if make == "multiple_choice_parent":
        mc = QuestionFactory(
            tournament=parent.tournament, type="multiple_choice", options=["A", "B"]
        )
        body["parent"] = mc.pk
    elif make == "self":
        body["child"] = parent.pk
    elif make == "other_tournament":
        body["child"] = QuestionFactory().pk
    else:
        body["if_yes"] = QuestionFactory(tournament=parent.tournament).pk
    before = Question.objects.count()
    r = token_client(staff).post(CONDITIONALS, body, format="json")
    assert r.status_code == 400
    assert words in r.json()[field][0]
    assert Question.objects.count() == before and not Conditional.objects.exists()


def test_creating_needs_permission_and_a_visible_question(two, api):
    parent, child = two
    body = {"parent": parent.pk, "child": child.pk}
    assert api.post(CONDITIONALS, body, format="json").status_code == 401
    assert token_client(UserFactory(username="plain")).post(
        CONDITIONALS, body, format="json"
    ).status_code == 403  # fmt: skip
    staff = UserFactory(username="s2", is_staff=True)
    missing = token_client(staff).post(
        CONDITIONALS, {"parent": parent.pk, "child": 10**9}, format="json"
    )
    assert missing.status_code == 404
    assert token_client(staff).post(
        CONDITIONALS, {"parent": "x", "child": child.pk}, format="json"
    ).status_code == 400  # fmt: skip


def test_a_private_tournaments_pair_is_not_found_for_outsiders(staff, api):
    tournament = TournamentFactory(slug="secret", visibility="private")
    parent = QuestionFactory(tournament=tournament)
    child = QuestionFactory(tournament=tournament)
    data = (
        token_client(staff)
        .post(CONDITIONALS, {"parent": parent.pk, "child": child.pk}, format="json")
        .json()
    )
    assert api.get(f"{CONDITIONALS}{data['id']}/").status_code == 404
    assert api.get(CONDITIONALS).json()["results"] == []
