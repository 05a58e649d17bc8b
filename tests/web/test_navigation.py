"""Issue 19, navigation: list pages for questions and tournaments, an honest empty home
section, your active forecasts against the crowd, and unknown tournaments in filters."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from forecasts.models import Forecast, Forecaster
from markets.models import Question, Resolution
from tests.factories import QuestionFactory, TournamentFactory, UserFactory
from tests.web.conftest import forecast, login, resolve
from web.views._common import FAR_FROM_CROWD, STALE_AFTER, active_forecasts

pytestmark = pytest.mark.django_db


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def test_questions_list_page(site):
    response = Client().get("/questions/")
    assert response.status_code == 200
    html = response.content.decode()
    for q in (site.open_q, site.closed_q, site.resolved_q, site.milestone_q):
        assert q.get_absolute_url() in html
    assert site.private_q.get_absolute_url() not in html  # private: members only
    # The member sees the private one.
    assert site.private_q.get_absolute_url() in (
        login(site.member).get("/questions/").content.decode()
    )
    opened = Client().get("/questions/?filter=open").content.decode()
    assert site.open_q.get_absolute_url() in opened
    assert site.resolved_q.get_absolute_url() not in opened
    one = Client().get(f"/questions/?tournament={site.tournament.slug}&filter=resolved")
    assert site.resolved_q.get_absolute_url() in one.content.decode()
    # The filter chips keep the tournament.
    assert f"?filter=open&amp;tournament={site.tournament.slug}" in one.content.decode()
    assert Client().get("/questions/?tournament=nope").status_code == 404
    assert Client().get(f"/questions/?tournament={site.private.slug}").status_code == 404


def test_questions_list_pages_through_many(site, monkeypatch):
    monkeypatch.setattr("web.views.browse.QUESTIONS_PER_PAGE", 3)
    first = Client().get("/questions/").content.decode()
    # Six public questions, three a page.
    assert "Page 1 of 2 · 6 questions" in first and 'rel="next"' in first
    assert len(re.findall(r'class="qrow"', first)) == 3
    second = Client().get("/questions/?page=2").content.decode()
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert len(re.findall(r'class="qrow"', second)) == 3


def test_tournaments_list_page(site):
    response = Client().get("/tournaments/")
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "AI milestones" in text and "Secret club" not in text
    # 6 questions: the open and the milestone one accept forecasts; resolved + annulled settled.
    assert "6 questions · 2 open · 2 resolved · Leaderboard" in text
    assert "Secret club" in _text(login(site.member).get("/tournaments/").content.decode())


def test_home_says_why_a_settled_tournament_has_no_open_questions(site):
    done = TournamentFactory(slug="done", name="All done")
    for i in range(2):
        q = QuestionFactory(tournament=done, key=f"d{i}", title=f"Done {i}")
        resolve(q, Resolution.Outcome.NO)
    text = _text(Client().get("/").content.decode())
    assert "No open questions: all 2 of this tournament&#x27;s questions are settled." in text
    assert "No questions match this filter" not in text
    html = Client().get("/").content.decode()
    assert 'href="/tournaments/done/?filter=resolved"' in html
    assert "See the 2 resolved questions" in text
    # Under the Resolved filter the section lists them, and offers nothing else.
    text = _text(Client().get("/?filter=resolved").content.decode())
    assert "Done 0" in text and "See the 2 resolved" not in text


def test_active_forecasts_needs_update_first(site):
    now = timezone.now()
    carol = site.carol
    # Three more open questions with a public crowd (three forecasters each).
    others = [UserFactory(username=f"o{i}") for i in range(3)]
    fresh = QuestionFactory(tournament=site.tournament, key="fresh", title="Fresh and close")
    far = QuestionFactory(tournament=site.tournament, key="far", title="Far from the crowd")
    old = QuestionFactory(
        tournament=site.tournament,
        key="old",
        title="An old forecast",
        open_time=now - dt.timedelta(days=90),
    )
    for q in (fresh, far, old):
        for u in others:
            forecast(q, u, 0.5, at=now - dt.timedelta(days=60))
    forecast(fresh, carol, 0.55)
    forecast(far, carol, 0.7)  # 20 points from 50%: exactly the threshold
    forecast(old, carol, 0.5, at=now - STALE_AFTER - dt.timedelta(days=1))
    forecast(site.open_q, carol, 0.2)
    from forecasts.services import forecast_withdraw, forecaster_for_user

    forecast_withdraw(question_id=site.open_q.pk, forecaster=forecaster_for_user(carol))

    items = active_forecasts(carol, now + dt.timedelta(seconds=1))
    titles = [a.row.question.title for a in items]
    assert set(titles[:2]) == {"Far from the crowd", "An old forecast"}
    assert titles[2:] == ["Fresh and close"]
    by = {a.row.question.key: a for a in items}
    assert by["far"].far and not by["far"].stale
    assert by["old"].stale and not by["old"].far
    assert not by["fresh"].needs_update
    assert by["far"].difference == pytest.approx(0.2)
    assert FAR_FROM_CROWD == 0.2

    me = Forecaster.objects.get(user=carol)
    html = login(carol).get(f"/forecasters/{me.pk}/").content.decode()
    text = _text(html)
    assert "Your active forecasts" in text
    assert text.index("Far from the crowd") < text.index("Fresh and close")
    assert text.index("An old forecast") < text.index("Fresh and close")
    assert "Needs update" in text and "+20 pts" in text and "far from the crowd" in text
    # Someone else looking at carol's record does not see her open forecasts.
    other = login(site.alice).get(f"/forecasters/{me.pk}/")
    assert "Your active forecasts" not in other.content.decode()


def test_active_forecasts_compare_with_the_public_crowd_only(site):
    # Two forecasters: below the public threshold (docs/privacy.md), so no crowd is shown and
    # nothing is "far" from it, however far the live pool is.
    q = QuestionFactory(tournament=site.tournament, key="two", title="Only two")
    forecast(q, site.bob, 0.1)
    forecast(q, site.carol, 0.9)
    item = next(a for a in active_forecasts(site.carol) if a.row.question.pk == q.pk)
    assert item.row.crowd_probability is None
    assert item.difference is None and not item.far
    assert Forecast.objects.filter(question=q).count() == 2
    assert Question.objects.get(pk=q.pk).is_open_at(timezone.now())


@pytest.mark.parametrize("path", ["/crowd/", "/forecasters/{pk}/"])
def test_unknown_tournament_filter_is_404_not_everything(site, path):
    alice = Forecaster.objects.get(user=site.alice)
    client = login(site.alice)
    url = path.format(pk=alice.pk)
    assert client.get(url).status_code == 200
    assert client.get(url + "?tournament=nope").status_code == 404
    assert client.get(url + f"?tournament={site.private.slug}").status_code == 404
    assert client.get(url + f"?tournament={site.tournament.slug}").status_code == 200
