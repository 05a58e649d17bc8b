"""Fixtures for the community tests: people, a public and a private tournament."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest
from django.test import Client, TestCase

from forecasts.models import Forecast
from forecasts.services import forecast_submit, forecaster_for_user
from markets.models import Question, Tournament
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

UTC = dt.UTC
XSS = [
    "<script>alert('x')</script>",
    "[click](javascript:alert(1))",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)" onclick="alert(2)">raw</a>',
    "<iframe src=https://evil.example></iframe>",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, attrs))


def assert_inert(html: str) -> None:
    """Parsed as a browser would: no script, iframe, img, object or style element, no event
    handler attribute, no javascript:/data:/vbscript: URL. Escaped text is fine."""
    parser = _Elements()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in {"script", "iframe", "img", "object", "embed", "style", "svg"}, tag
        for name, value in attrs:
            assert not name.lower().startswith("on"), (tag, name)
            if name.lower() in {"href", "src", "action", "formaction"}:
                v = (value or "").strip().lower()
                assert not v.startswith(("javascript:", "data:", "vbscript:")), (tag, value)


@dataclass
class World:
    public: Tournament
    private: Tournament
    question: Question
    private_q: Question
    alice: object
    bob: object
    staff: object
    member: object


@pytest.fixture
def world(db) -> World:
    public = TournamentFactory(slug="pub")
    private = TournamentFactory(slug="priv", visibility=Tournament.Visibility.PRIVATE)
    member = UserFactory(username="member")
    private.members.add(member)
    return World(
        public=public,
        private=private,
        question=QuestionFactory(tournament=public, title="Will AI do X?"),
        private_q=QuestionFactory(tournament=private, title="Secret question"),
        alice=UserFactory(username="alice"),
        bob=UserFactory(username="bob"),
        staff=UserFactory(username="staffer", is_staff=True),
        member=member,
    )


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def forecast(question: Question, user, p: float, *, at=None, rationale: str = "") -> Forecast:
    # The follow is written after commit: run the callbacks as a real commit would.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return forecast_submit(
            question_id=question.pk,
            forecaster=forecaster_for_user(user),
            probability=p,
            at=at,
            rationale=rationale,
        )
