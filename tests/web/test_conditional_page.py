"""The conditional page: parent, child and both branches with their crowds side by side, linked
from each branch's question page (docs/methods.md §14)."""

from __future__ import annotations

import datetime as dt

import pytest

from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question, Resolution
from markets.questions import conditional_create
from markets.resolution.manual import question_resolve
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
START = dt.datetime(2025, 1, 1, tzinfo=UTC)


def make_pair(child_kwargs=None, visibility="public"):
    tournament = TournamentFactory(slug="cond", min_forecasters=1, visibility=visibility)
    parent = QuestionFactory(tournament=tournament, title="Will SWE-bench reach 95%?")
    child = QuestionFactory(tournament=tournament, title="Will RSI happen?", **(child_kwargs or {}))
    return conditional_create(parent=parent, child=child, open_time=START)


def forecast(question: Question, values: list[tuple[str, object]]) -> None:
    for name, value in values:
        forecaster = forecaster_for_user(UserFactory(username=f"{name}-{question.pk}"))
        if question.is_binary:
            forecast_submit(question_id=question.pk, forecaster=forecaster, probability=value)
        else:
            forecast_submit(question_id=question.pk, forecaster=forecaster, values=value)


def test_page_shows_both_branch_crowds_side_by_side(client):
    c = make_pair()
    # Three each: the public crowd needs max(3, min_forecasters) (docs/privacy.md).
    forecast(c.if_yes, [("a", 0.8), ("b", 0.8), ("c", 0.8)])
    forecast(c.if_no, [("a", 0.2), ("b", 0.2), ("c", 0.2)])
    page = client.get(c.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    assert "Probability of YES" in html
    row = html.split("Probability of YES")[1].split("</tr>")[0]
    assert row.index("80%") < row.index("20%")  # If YES, then If NO, then overall
    for q in (c.parent, c.child, c.if_yes, c.if_no):
        assert q.get_absolute_url() in html
    assert 'name="viewport"' in html  # the base template's phone layout


def test_a_multiple_choice_child_compares_each_option(client):
    c = make_pair({"type": "multiple_choice", "options": ["Anthropic", "OpenAI", "Other"]})
    forecast(c.if_yes, [(name, [0.6, 0.3, 0.1]) for name in "abc"])
    html = client.get(c.get_absolute_url()).content.decode()
    for label in ("Anthropic", "OpenAI", "Other"):
        assert f'<th scope="row">{label}</th>' in html
    assert "60%" in html


def test_the_outcomes_show_after_the_parent_resolves(client):
    c = make_pair()
    question_resolve(question_id=c.parent_id, outcome=Resolution.Outcome.NO)
    html = client.get(c.get_absolute_url()).content.decode()
    assert "Resolved NO" in html and "Annulled" in html


def test_each_branch_page_links_to_the_pair(client):
    c = make_pair()
    for q, words in ((c.if_yes, "resolves YES"), (c.if_no, "resolves NO")):
        html = client.get(q.get_absolute_url()).content.decode()
        assert c.get_absolute_url() in html
        assert words in html
    assert c.get_absolute_url() in client.get(c.parent.get_absolute_url()).content.decode()


def test_unknown_or_private_pairs_are_404(client):
    assert client.get("/conditionals/999999/").status_code == 404
    c = make_pair(visibility="private")
    assert client.get(c.get_absolute_url()).status_code == 404


def test_the_admin_door_resolves_the_parent_and_refuses_a_branch(client, django_user_model):
    from django.urls import reverse

    user = django_user_model.objects.create_superuser("root", "root@example.org", "pw-12345678")
    client.force_login(user)
    c = make_pair()

    def act(question: Question, action: str) -> str:
        page = client.post(
            reverse("admin:markets_question_changelist"),
            {"action": action, "_selected_action": [question.pk], "apply": "1", "reason": "x"},
            follow=True,
        )
        return page.content.decode()

    html = act(c.if_yes, "resolve_yes")
    assert "branch of the conditional" in html
    assert not Resolution.objects.filter(question=c.if_yes).exists()
    act(c.parent, "resolve_no")
    assert c.if_yes.resolutions.get(state="final").outcome == "annulled"
    listing = client.get(reverse("admin:markets_conditional_changelist"))
    assert listing.status_code == 200 and c.parent.title in listing.content.decode()
