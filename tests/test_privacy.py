"""Issue 13, privacy: the two attacks of the issue, run as an anonymous client against the real
endpoints, recover nothing (docs/privacy.md); run with full-history access they do, which
shows the attacks are real.

1. **Leaderboard join**: the API leaderboard (pseudonym, rank, total) joined with the web
   leaderboard (username, rank, total) mapped every pseudonym to its account, and then the
   research exports named people.
2. **History inversion**: between two crowd points where one forecaster joined,
   (n+1)·mean₁ − n·mean₀ is their forecast, and with equal weights so is
   (n+1)·logit p₁ − n·logit p₀ under the log pool; a point with one forecaster is that
   forecast. The attacker collects every crowd point an anonymous client can see — the API
   history (every page), the question and tournament crowd exports, the question page's chart
   data and the headline crowd polled after every single event (question page, list page, API
   question detail and list) — and tries every pair.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from collections.abc import Iterable

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from api.renderers import round_float
from forecasts.models import Forecast
from forecasts.pseudonyms import pseudonym_for_id
from forecasts.services import forecast_submit, forecast_withdraw, forecaster_for_user
from markets.models import Question, Resolution
from markets.resolution.manual import question_resolve
from scoring.leaderboard import leaderboard_rebuild
from scoring.services import question_score
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
T0 = dt.datetime(2025, 1, 1, tzinfo=UTC)
NOW = dt.datetime(2025, 3, 1, tzinfo=UTC)
PSEUDONYM = re.compile(r"f_[0-9a-f]{16}")
EXACT = 1e-9  # a recovered forecast agrees with the true one to ~1e-13; chance never this close


def logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class Attacker:
    """Collects the crowd points a client can see, per question: (forecasters, pool, mean)."""

    def __init__(self, client: APIClient, web: Client) -> None:
        self.api, self.web = client, web
        self.points: dict[int, set[tuple[int, float, float]]] = {}
        self.bodies: list[str] = []  # every response body, to look for pseudonyms

    def see(self, qid: int, n: object, p: object, mean: object) -> None:
        if n is None or p is None or mean is None or n == "" or p == "":
            return
        self.points.setdefault(qid, set()).add((int(n), float(p), float(mean)))  # type: ignore[arg-type]

    def get(self, client: APIClient | Client, url: str, **params: object) -> object:
        response = client.get(url, params)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        if not url.endswith("format=parquet"):
            self.bodies.append(body.decode("utf-8", "replace"))
        response.body = body  # type: ignore[attr-defined]
        return response

    def poll_headlines(self, tournament_slug: str, questions: Iterable[Question]) -> None:
        """What a visitor sees right now: the headline crowd on every page and API answer."""
        for q in questions:
            crowd = json.loads(self.get(self.api, f"/api/v1/questions/{q.pk}/").body)["crowd"]
            if crowd:
                self.see(q.pk, crowd["forecasters"], crowd["probability"], crowd["mean"])
            page = self.web.get(reverse("question-detail", args=[q.pk]))
            self.bodies.append(page.content.decode())
            shown = page.context["crowd"]
            if shown is not None and page.context["reveal"].visible:
                self.see(q.pk, shown.forecasters, shown.probability, shown.mean)
        listing = self.web.get(reverse("tournament-detail", args=[tournament_slug]))
        for row in listing.context["rows"]:
            if row.crowd_probability is not None:
                crowd = row.crowd
                self.see(row.question.pk, crowd.forecasters, crowd.probability, crowd.mean)
        api_list = json.loads(
            self.get(self.api, "/api/v1/questions/", tournament=tournament_slug).body
        )
        for q in api_list["results"]:
            if q["crowd"]:
                c = q["crowd"]
                self.see(q["id"], c["forecasters"], c["probability"], c["mean"])

    def download_everything(self, tournament_slug: str, questions: Iterable[Question]) -> None:
        for q in questions:
            url = f"/api/v1/questions/{q.pk}/history/?page_size=2"
            while url:
                r = self.get(self.api, url)
                if r.status_code != 200:
                    break
                page = json.loads(r.body)
                for point in page["results"]:
                    self.see(q.pk, point["forecasters"], point["probability"], point["mean"])
                url = page["next"]
            for fmt in ("csv", "json"):
                r = self.get(self.api, f"/api/v1/questions/{q.pk}/crowd-export/", format=fmt)
                if r.status_code == 200:
                    self._rows(q.pk, r.body, fmt)
            self.get(self.api, f"/api/v1/questions/{q.pk}/crowd-export/manifest/")
            self._chart(q)
        keys = {q.key: q.pk for q in questions}
        for fmt in ("csv", "json"):
            url = f"/api/v1/tournaments/{tournament_slug}/crowd-export/"
            r = self.get(self.api, url, format=fmt)
            self._rows(None, r.body, fmt, keys)
        self.get(self.api, f"/api/v1/tournaments/{tournament_slug}/crowd-export/manifest/")

    def _rows(self, qid: int | None, body: bytes, fmt: str, keys: dict | None = None) -> None:
        if fmt == "csv":
            columns = ("question", "time", "forecasters", "probability", "median", "mean")
            lines = body.decode().splitlines()[1:]
            rows = [dict(zip(columns, line.split(","), strict=True)) for line in lines]
        else:
            rows = json.loads(body)
        for row in rows:
            target = qid if qid is not None else keys[row["question"]]  # type: ignore[index]
            self.see(target, row["forecasters"], row["probability"], row["mean"])

    def _chart(self, question: Question) -> None:
        """The question page's chart data: the crowd series handed to the chart."""
        from web.views import question as page

        seen: list = []
        original = page.charts.question_chart

        def spy(**kwargs: object) -> object:
            seen.append(kwargs["crowd"])
            return original(**kwargs)

        page.charts.question_chart = spy
        try:
            self.web.get(reverse("question-detail", args=[question.pk]) + "?mean=1")
        finally:
            page.charts.question_chart = original
        for series in seen:
            for _, p, _, mean in series:  # type: ignore[attr-defined]
                # The chart carries no count; the attacker takes it from the same-time API point.
                for n, pp, mm in list(self.points.get(question.pk, ())):
                    if pp == p and mm == mean:
                        self.see(question.pk, n, p, mean)
                if p is not None and mean is not None:
                    self.chart_values.setdefault(question.pk, set()).add((float(p), float(mean)))

    chart_values: dict[int, set[tuple[float, float]]]

    def invert(self) -> set[float]:
        """Every forecast the differencing attack "recovers": a point with one forecaster, and
        for every pair of points one join or withdrawal apart, the mean's and the log pool's
        inversion."""
        found: set[float] = set()
        for points in self.points.values():
            for n, p, mean in points:
                if n == 1:
                    found |= {p, mean}
            for n0, p0, m0 in points:
                for n1, p1, m1 in points:
                    if n1 == n0 + 1:  # a join: (n+1)·x₁ − n·x₀
                        found.add(n1 * m1 - n0 * m0)
                        found.add(sigmoid(n1 * logit(p1) - n0 * logit(p0)))
                    elif n1 == n0 - 1 and n1 > 0:  # a withdrawal: n·x₀ − (n−1)·x₁
                        found.add(n0 * m0 - n1 * m1)
                        found.add(sigmoid(n0 * logit(p0) - n1 * logit(p1)))
        return found


def recovered(candidates: set[float], truth: Iterable[float]) -> set[float]:
    return {p for p in truth if any(abs(p - c) < EXACT for c in candidates)}


@pytest.fixture
def contest(monkeypatch):
    """A public tournament with equal weights (the attack's best case) and min_forecasters 1
    (a point with one forecaster is allowed by the tournament's own rule): an open question
    that 16 forecasters join one at a time, some updating and one withdrawing, and a question
    that resolves while a seventh forecast is still to come. Every event is followed by the
    attacker polling every headline."""
    monkeypatch.setattr("scoring.receivers.schedule_scoring", lambda **kw: None)
    rng = random.Random(13)
    tournament = TournamentFactory(slug="open-book", min_forecasters=1)
    open_q = QuestionFactory(tournament=tournament, key="open", open_time=T0)
    settled_q = QuestionFactory(
        tournament=tournament, key="settled", open_time=T0, close_time=T0 + dt.timedelta(days=40)
    )
    people = [forecaster_for_user(UserFactory(username=f"person{i}")) for i in range(16)]
    attacker = Attacker(APIClient(), Client())
    attacker.chart_values = {}
    minute = 0

    def at() -> dt.datetime:
        nonlocal minute
        minute += 1
        return T0 + dt.timedelta(minutes=minute)

    def event(question: Question, forecaster, p: float | None) -> None:
        if p is None:
            forecast_withdraw(question_id=question.pk, forecaster=forecaster, at=at())
        else:
            forecast_submit(question_id=question.pk, forecaster=forecaster, probability=p, at=at())
        attacker.poll_headlines(tournament.slug, [open_q, settled_q])

    plan: list[tuple[Question, int, float | None]] = []
    plan += [(open_q, i, rng.uniform(0.02, 0.98)) for i in range(8)]
    plan += [(open_q, i, rng.uniform(0.02, 0.98)) for i in (2, 5, 0)]  # updates
    plan += [(open_q, i, rng.uniform(0.02, 0.98)) for i in range(8, 14)]
    plan += [(open_q, 3, None)]  # a withdrawal
    plan += [(open_q, i, rng.uniform(0.02, 0.98)) for i in (14, 15)]
    plan += [(settled_q, i, rng.uniform(0.02, 0.98)) for i in range(6)]
    for question, who, p in plan:
        event(question, people[who], p)
    resolution = question_resolve(
        question_id=settled_q.pk, outcome=Resolution.Outcome.YES, resolved_at=at()
    )
    # A forecast after the effective time (while a proposal was pending, say): in the log only.
    Forecast.objects.create(question=settled_q, forecaster=people[6], probability=0.97, time=at())
    from forecasts.services import crowd_recompute

    crowd_recompute(question_id=settled_q.pk)
    question_score(question_id=settled_q.pk, resolution_id=resolution.pk)
    leaderboard_rebuild(tournament_id=tournament.pk)
    open_q.refresh_from_db()
    settled_q.refresh_from_db()
    attacker.poll_headlines(tournament.slug, [open_q, settled_q])
    return tournament, [open_q, settled_q], people, attacker


def test_history_inversion_recovers_nothing_from_what_anonymous_clients_see(contest):
    tournament, questions, _, attacker = contest
    attacker.download_everything(tournament.slug, questions)
    truth = {p for p in Forecast.objects.values_list("probability", flat=True) if p is not None}
    assert len(truth) == 26  # 19 on the open question (updates included), 7 on the other
    assert attacker.points, "the public series shows something"
    assert all(n >= 3 for points in attacker.points.values() for n, _, _ in points)
    assert recovered(attacker.invert(), truth) == set()
    # Every chart value is a point the API history shows too (no finer series on the page).
    for qid, values in attacker.chart_values.items():
        assert values <= {(p, m) for _, p, m in attacker.points[qid]}


def test_the_same_attack_with_full_history_access_recovers_every_join(contest):
    """The attack is real: staff (or a permitted researcher) get every point, and the
    inversion gives back every forecaster's first forecast — the issue's 42 of 42."""
    tournament, questions, people, _ = contest
    staff = UserFactory(username="desk", is_staff=True)
    api, web = APIClient(), Client()
    api.force_authenticate(staff)
    web.force_login(staff)
    insider = Attacker(api, web)
    insider.chart_values = {}
    insider.download_everything(tournament.slug, questions)
    firsts = {
        Forecast.objects.filter(question=q, forecaster=f).order_by("time").first().probability
        for q in questions
        for f in people
        if Forecast.objects.filter(question=q, forecaster=f).exists()
    }
    assert len(firsts) == 23
    assert recovered(insider.invert(), firsts) == firsts


def test_leaderboard_join_links_no_pseudonym_and_research_data_is_closed(contest):
    tournament, questions, people, attacker = contest
    api, web = attacker.api, attacker.web
    board = json.loads(
        attacker.get(api, f"/api/v1/tournaments/{tournament.slug}/leaderboard/").body
    )["results"]
    page = web.get(reverse("leaderboard", args=[tournament.slug]))
    attacker.bodies.append(page.content.decode())
    # The API writes floats to 12 significant digits (api.renderers): the attacker rounds too.
    site = {
        (e.rank, round_float(e.total_peer)): e.forecaster.display_name
        for e in page.context["page"].object_list
    }
    rows = [e for e in board if e["subject"] == "forecaster"]
    assert len(rows) == len(site) == 7  # the late forecaster is scored too (no coverage)
    # The join maps each API identity to the site's: the same username, so it learns nothing.
    joined = {e["forecaster"]: site[(e["rank"], e["total_peer"])] for e in rows}
    assert all(api_name == username for api_name, username in joined.items())
    # Individual-level data is closed to anonymous clients: scores only for the crowd, the
    # research exports answer 403.
    scores = json.loads(attacker.get(api, "/api/v1/scores/", page_size=1000).body)["results"]
    assert scores and {s["subject"] for s in scores} <= {"crowd", "median", "mean"}
    for export in ("forecasts-export", "scores-export"):
        r = attacker.get(api, f"/api/v1/tournaments/{tournament.slug}/{export}/")
        assert r.status_code == 403
    # The forecaster pages: the public summary, never a pseudonym.
    for person in people[:6]:
        r = web.get(reverse("track-record", args=[person.pk]))
        attacker.bodies.append(r.content.decode())
    attacker.download_everything(tournament.slug, questions)
    # No pseudonym of anyone appears in anything an anonymous client was sent.
    everything = "\n".join(attacker.bodies)
    assert not PSEUDONYM.findall(everything)
    for person in people:
        assert pseudonym_for_id(person.pk) not in everything


def test_research_files_of_two_recipients_share_no_pseudonym(contest):
    """Per-recipient keys: two researchers' files name the same forecasters differently."""
    from django.contrib.auth.models import Permission

    tournament, _, _, _ = contest
    perm = Permission.objects.get(codename="view_forecast")
    names = []
    for username in ("ada", "bayes"):
        researcher = UserFactory(username=username)
        researcher.user_permissions.add(perm)
        client = APIClient()
        client.force_authenticate(researcher)
        url = f"/api/v1/tournaments/{tournament.slug}/forecasts-export/"
        body = b"".join(client.get(url).streaming_content).decode().splitlines()
        names.append({line.split(",")[2] for line in body[1:]})
    assert len(names[0]) == len(names[1]) == 16
    assert names[0].isdisjoint(names[1])
