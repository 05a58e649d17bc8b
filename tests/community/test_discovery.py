"""Discovery: search (full-text on PostgreSQL, substrings on SQLite), tags and sorts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from community import services
from community.errors import NotAllowed
from tests.community.conftest import client_for, forecast
from tests.factories import QuestionFactory, UserFactory

pytestmark = pytest.mark.django_db


def _titles(response) -> list[str]:
    html = response.content.decode()
    results = html[html.index('id="discover-results"') :]
    results = results[: results.index("</ul>")]
    import re

    return re.findall(r'class="qrow-title" href="[^"]+">([^<]+)<', results)


def test_search_finds_words_in_title_and_criteria_not_private(world, client):
    QuestionFactory(tournament=world.public, title="Will models reason about chess?")
    QuestionFactory(
        tournament=world.public, title="Compute question", resolution_criteria="FLOP counts"
    )
    QuestionFactory(tournament=world.private, title="Private chess question")
    assert _titles(client.get("/discover/?q=chess")) == ["Will models reason about chess?"]
    assert _titles(client.get("/discover/?q=flop")) == ["Compute question"]
    member = client_for(world.member)
    assert len(_titles(member.get("/discover/?q=chess"))) == 2
    assert client.get("/discover/?q=" + "x" * 201).status_code == 400


def test_tags_filter_and_staff_only_setting(world, client):
    tagged = QuestionFactory(tournament=world.public, title="Tagged one")
    QuestionFactory(tournament=world.public, title="Untagged")
    with pytest.raises(NotAllowed):
        services.question_tags_set(question=tagged, names=["x"], user=world.alice)
    response = client_for(world.staff).post(
        f"/questions/{tagged.pk}/tags/", {"tags": "Agents, <b>Safety</b>, agents"}
    )
    assert response.status_code == 302
    assert sorted(tagged.tags.values_list("slug", flat=True)) == ["agents", "bsafetyb"]
    assert _titles(client.get("/discover/?tag=agents")) == ["Tagged one"]
    assert client.get("/discover/?tag=nope").status_code == 400
    page = client.get(tagged.get_absolute_url()).content.decode()
    assert "&lt;b&gt;Safety&lt;/b&gt;" in page and "<b>Safety</b>" not in page


def test_sort_closing_soon_and_unknown_sort(world, client):
    now = timezone.now()
    QuestionFactory(tournament=world.public, title="Later", close_time=now + dt.timedelta(days=9))
    QuestionFactory(tournament=world.public, title="Sooner", close_time=now + dt.timedelta(days=1))
    titles = _titles(client.get("/discover/?sort=closing"))
    assert titles.index("Sooner") < titles.index("Later")
    assert client.get("/discover/?sort=bogus").status_code == 400


def test_sort_most_active(world, client):
    busy = QuestionFactory(tournament=world.public, title="Busy")
    QuestionFactory(tournament=world.public, title="Quiet")
    for text in ("a", "b"):
        services.comment_post(author=world.alice, question=busy, body=text)
    forecast(world.question, world.alice, 0.5)
    assert _titles(client.get("/discover/?sort=active")) == ["Busy", "Will AI do X?"]


def test_sort_biggest_move_uses_public_points_only(world, client):
    t0 = timezone.now() - dt.timedelta(days=20)
    moving = QuestionFactory(tournament=world.public, title="Moving")
    users = [UserFactory(username=f"m{i}") for i in range(6)]
    for i, u in enumerate(users[:3]):
        forecast(moving, u, 0.2, at=t0 + dt.timedelta(minutes=i))
    for i, u in enumerate(users[3:]):
        forecast(moving, u, 0.9, at=timezone.now() - dt.timedelta(minutes=10 - i))
    # One forecaster alone moves nothing public.
    forecast(world.question, world.alice, 0.9)
    assert _titles(client.get("/discover/?sort=moved")) == ["Moving"]
    world.public.reveal_time = timezone.now() + dt.timedelta(days=1)
    world.public.save()
    assert _titles(client.get("/discover/?sort=moved")) == []


def test_needs_your_update_lists_your_oldest_forecasts(world, client):
    old = QuestionFactory(tournament=world.public, title="Old one")
    forecast(old, world.alice, 0.5, at=timezone.now() - dt.timedelta(days=40))
    forecast(world.question, world.alice, 0.5)
    c = client_for(world.alice)
    assert _titles(c.get("/discover/?sort=update")) == ["Old one", "Will AI do X?"]
    assert _titles(client.get("/discover/?sort=update")) == []
