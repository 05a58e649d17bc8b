"""Every page renders, shows what it must, respects privacy and keeps its query count flat."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from forecasts.models import Forecaster
from markets.models import AuditRecord, BenchmarkResult, FeedSnapshot, Resolution
from scoring.models import LeaderboardEntry, Rule, Score, Subject
from tests.factories import QuestionFactory, UserFactory
from tests.web.conftest import forecast, login

pytestmark = pytest.mark.django_db


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_home_lists_open_questions_with_crowd_and_own_forecast(site):
    client = login(site.alice)
    body = text(client.get(reverse("home")))
    assert site.open_q.title in body
    assert site.resolved_q.title not in body  # the default filter is "open"
    assert "45%" in body or "44%" in body  # the log pool of 30%, 60% and 44.5% is 44.5%
    assert "30%" in body  # alice's own forecast
    assert "3 forecasters" in body
    assert site.private_q.title not in body


def test_home_filters(site):
    client = Client()
    resolved = text(client.get(reverse("home") + "?filter=resolved"))
    assert site.resolved_q.title in resolved
    assert site.open_q.title not in resolved
    everything = text(client.get(reverse("home") + "?filter=all"))
    assert site.upcoming_q.title in everything and site.closed_q.title in everything


def test_closing_soon_filter_lists_only_questions_closing_within_a_month(site):
    soon = QuestionFactory(
        tournament=site.tournament,
        title="Closing next week",
        close_time=timezone.now() + dt.timedelta(days=7),
    )
    body = text(Client().get(reverse("home") + "?filter=closing"))
    assert soon.title in body
    assert site.open_q.title not in body
    assert "Closing soon" in body


def test_hidden_crowd_shows_the_reason(site):
    site.tournament.min_forecasters = 5
    site.tournament.save()
    body = text(Client().get(site.open_q.get_absolute_url()))
    assert "The crowd forecast appears once 5 forecasters have forecast (3 so far)." in body
    assert "Hidden" in body
    listing = text(Client().get(reverse("home")))
    assert "hidden" in listing


def test_hide_until_forecast_reveals_after_forecasting(site):
    site.tournament.hide_until_forecast = True
    site.tournament.save()
    client = login(site.carol)
    assert "Make your forecast to see the crowd" in text(client.get(site.open_q.get_absolute_url()))
    client.post(reverse("forecast-submit", args=[site.open_q.pk]), {"probability": "50"})
    body = text(client.get(site.open_q.get_absolute_url()))
    assert "Make your forecast to see the crowd" not in body
    assert 'class="line crowd"' in body


def test_tournament_page_lists_all_questions_and_links_leaderboard(site):
    body = text(Client().get(site.tournament.get_absolute_url()))
    for q in (site.open_q, site.closed_q, site.upcoming_q, site.resolved_q, site.annulled_q):
        assert q.title in body
    assert reverse("leaderboard", args=[site.tournament.slug]) in body


def test_open_question_page_has_labelled_probability_control(site):
    client = login(site.carol)
    body = text(client.get(site.open_q.get_absolute_url()))
    assert '<label class="field-label" for="id_probability">' in body
    assert 'type="range"' in body and 'min="0.1" max="99.9"' in body
    assert 'name="probability"' in body
    assert 'for="id_rationale"' in body
    assert "<svg" in body and "Crowd forecast over time" in body
    assert "csrfmiddlewaretoken" in body


def test_anonymous_question_page_prompts_to_log_in(site):
    body = text(Client().get(site.open_q.get_absolute_url()))
    assert "Log in to forecast this question" in body
    assert 'name="probability"' not in body


def test_own_forecast_history_and_markers(site):
    client = login(site.alice)
    forecast(site.open_q, site.alice, 0.41)
    body = text(client.get(site.open_q.get_absolute_url()))
    assert "Your history" in body
    assert "41%" in body and "30%" in body
    assert 'class="dot own"' in body
    assert "Withdraw forecast" in body


def test_milestone_question_shows_rule_benchmark_and_threshold(site):
    body = text(Client().get(site.milestone_q.get_absolute_url()))
    assert site.milestone_q.milestone_text() in body.replace("&#x27;", "'")
    assert 'class="threshold"' in body
    assert "threshold ≥ 6,000" in body
    assert "METR time horizon (p50)" in body


@pytest.mark.parametrize(
    ("which", "phrase"),
    [
        ("closed_q", "The question awaits its resolution"),
        ("upcoming_q", "Forecasting opens on"),
        ("resolved_q", "This question resolved <strong>YES</strong>"),
        ("annulled_q", "This question was annulled"),
    ],
)
def test_question_states_are_explained(site, which, phrase):
    body = text(login(site.carol).get(getattr(site, which).get_absolute_url()))
    assert phrase in body
    assert 'name="probability"' not in body


def test_proposed_resolution_shows_evidence_and_review_window(site):
    q = site.milestone_q
    q.status = "closed"
    q.save()
    snapshot = FeedSnapshot.objects.create(
        feed="metr", source="benchmark_results.yaml", sha256="ab" * 32, outcome="ok"
    )
    result = BenchmarkResult.objects.create(
        benchmark=q.benchmark,
        system="Future model",
        value=6100,
        snapshot=snapshot,
        achieved_on=dt.date(2026, 10, 1),
    )
    now = timezone.now()
    proposal = Resolution.objects.create(
        question=q,
        version=1,
        outcome="yes",
        state="proposed",
        source="rule",
        evidence_result=result,
        evidence_snapshot=snapshot,
        reason="Future model: 6100 ≥ 6000",
        finalizes_at=now + dt.timedelta(hours=48),
    )
    AuditRecord.objects.create(
        question=q,
        resolution=proposal,
        action="proposed",
        actor_label="milestone rule",
        reason="Future model: 6100 ≥ 6000",
        evidence={"result_id": result.pk},
    )
    body = text(Client().get(q.get_absolute_url()))
    assert "Proposed resolution: YES" in body
    assert "unless an admin confirms it earlier or rejects it" in body
    assert "Future model" in body and "6,100" in body
    assert "abababababababab" in body  # the snapshot's hash
    assert "Resolution history" in body and "milestone rule" in body


def test_resolved_question_shows_resolution_and_scores(site):
    resolution = site.resolved_q.resolutions.get()
    alice = Forecaster.objects.get(user=site.alice)
    Score.objects.create(
        question=site.resolved_q,
        resolution=resolution,
        subject="forecaster",
        forecaster=alice,
        rule=Rule.BRIER,
        score=0.49,
        coverage=0.5,
    )
    Score.objects.create(
        question=site.resolved_q,
        resolution=resolution,
        subject="crowd",
        rule=Rule.BRIER,
        score=0.3,
        coverage=1.0,
    )
    body = text(login(site.alice).get(site.resolved_q.get_absolute_url()))
    assert "Resolved YES" in body
    assert "Settled by the test." in body
    assert "0.490" in body and "0.300" in body
    assert "Your track record and calibration" in body


def test_leaderboard_without_entries_says_so(site):
    body = text(Client().get(reverse("leaderboard", args=[site.tournament.slug])))
    assert "No scores yet" in body


def test_leaderboard_lists_entries_with_crowd_reference_row(site):
    alice = Forecaster.objects.get(user=site.alice)
    bob = Forecaster.objects.get(user=site.bob)
    t = site.tournament
    LeaderboardEntry.objects.create(
        tournament=t,
        subject="crowd",
        questions=1,
        total_peer=5.0,
        mean_peer=5.0,
        mean_brier=0.2,
        mean_coverage=1.0,
    )
    LeaderboardEntry.objects.create(
        tournament=t,
        subject="forecaster",
        forecaster=bob,
        rank=1,
        questions=1,
        total_peer=12.5,
        mean_peer=12.5,
        mean_brier=0.16,
        mean_coverage=0.9,
    )
    LeaderboardEntry.objects.create(
        tournament=t,
        subject="forecaster",
        forecaster=alice,
        rank=2,
        questions=1,
        total_peer=-12.5,
        mean_peer=-12.5,
        mean_brier=0.49,
        mean_coverage=0.9,
    )
    body = text(login(site.alice).get(reverse("leaderboard", args=[t.slug])))
    assert "Crowd (log pool)" in body and "reference" in body
    assert body.index("bob") < body.index("alice</a>")
    assert "+12.5" in body and "\u221212.5" in body
    assert 'class="me-row"' in body
    # The crowd (+5) would stand between bob (+12.5) and alice (−12.5): second of two.
    assert ">(2)</td>" in body


def test_private_tournament_pages_are_404_for_outsiders(site):
    slug = site.private.slug
    urls = [
        reverse("tournament-detail", args=[slug]),
        reverse("leaderboard", args=[slug]),
        site.private_q.get_absolute_url(),
    ]
    for client in (Client(), login(site.carol)):
        for url in urls:
            response = client.get(url)
            assert response.status_code == 404, url
            assert "private tournament you are not a member of" in response.content.decode()
        assert site.private_q.title not in text(client.get(reverse("home") + "?filter=all"))
    member = login(site.member)
    for url in urls:
        assert member.get(url).status_code == 200, url


def _score_alice(site):
    resolution = site.resolved_q.resolutions.get()
    alice = Forecaster.objects.get(user=site.alice)
    for rule, value in [
        (Rule.BRIER, 0.49),
        (Rule.LOG, -1.2),
        (Rule.BASELINE, -73.7),
        (Rule.PEER, -69.3),
        (Rule.SPOT_BRIER, 0.49),
    ]:
        Score.objects.create(
            question=site.resolved_q,
            resolution=resolution,
            subject="forecaster",
            forecaster=alice,
            rule=rule,
            score=value,
            coverage=0.8,
        )
        Score.objects.create(
            question=site.resolved_q,
            resolution=resolution,
            subject="crowd",
            rule=rule,
            score=value / 2,
            coverage=1.0,
        )
    return alice


def test_track_record_shows_others_only_the_summary(site):
    """Issue 13: a forecaster's per-question forecasts and scores (a spot Brier gives the
    forecast) and calibration are theirs; everyone else sees the leaderboard's kind of totals."""
    alice = _score_alice(site)
    body = text(Client().get(reverse("track-record", args=[alice.pk])))
    assert "0.490" in body and "−69.3" in body  # mean Brier, total peer
    assert site.resolved_q.title not in body
    assert "30%" not in body and "Calibration" not in body
    assert "shown to the forecaster only" in body
    staff = login(UserFactory(username="desk", is_staff=True))
    assert site.resolved_q.title in text(staff.get(reverse("track-record", args=[alice.pk])))


def test_track_record_shows_scores_calibration_and_decomposition(site):
    alice = _score_alice(site)
    body = text(login(site.alice).get(reverse("track-record", args=[alice.pk])))
    assert site.resolved_q.title in body
    assert "0.490" in body and "\u221269.3" in body
    assert "Calibration" in body and 'class="dot calib"' in body and 'class="interval"' in body
    assert "Reliability" in body and "Resolution" in body and "Uncertainty" in body
    # One forecast of 30% on a YES: Brier = REL = REL − RES + UNC = 0.49 (shown to 4 places).
    assert body.count("0.4900") >= 3
    assert "30%" in body  # the forecast in force at resolution
    assert "crowd on the same questions: 0.245" in body


def test_my_track_record_redirects_to_own_page(site):
    alice = _score_alice(site)
    response = login(site.alice).get(reverse("my-track-record"))
    assert response.status_code == 302
    assert response.url == reverse("track-record", args=[alice.pk])
    body = text(login(site.carol).get(reverse("my-track-record")))
    assert "Nothing to score yet" in body
    assert Client().get(reverse("my-track-record")).status_code == 302


def test_crowd_track_record(site):
    _score_alice(site)
    body = text(Client().get(reverse("crowd-track-record")))
    assert "The crowd" in body
    assert "0.245" in body
    assert site.resolved_q.title in body


def test_track_record_hides_private_scores(site):
    member = Forecaster.objects.get_or_create(user=site.member)[0]
    forecast(site.private_q, site.member, 0.8)
    resolution = Resolution.objects.create(
        question=site.private_q, version=1, outcome="yes", state="final", source="manual"
    )
    Score.objects.create(
        question=site.private_q,
        resolution=resolution,
        subject="forecaster",
        forecaster=member,
        rule=Rule.BRIER,
        score=0.04,
        coverage=1.0,
    )
    url = reverse("track-record", args=[member.pk])
    # Issue 13: activity only in a private tournament: the page does not exist for outsiders
    # (as for an id nobody has), so usernames cannot be enumerated by id.
    assert Client().get(url).status_code == 404
    assert login(site.carol).get(url).status_code == 404
    assert site.private_q.title in text(login(site.member).get(url))
    # Once they forecast on a public question, the page is there for everyone.
    forecast(site.open_q, site.member, 0.5)
    assert site.private_q.title not in text(Client().get(url))


def test_benchmark_list_counts_only_questions_the_viewer_can_see(site):
    """Issue 13: the benchmark list counted a private tournament's questions for everyone."""
    bench = site.milestone_q.benchmark
    QuestionFactory(
        tournament=site.private,
        benchmark=bench,
        comparator=">=",
        threshold=1,
        deadline=dt.date(2039, 12, 31),
    )

    def count(client) -> int:
        page = client.get(reverse("benchmark-list"))
        return next(b for b in page.context["benchmarks"] if b.pk == bench.pk).n_questions

    assert count(Client()) == 1
    assert count(login(site.carol)) == 1
    assert count(login(site.member)) == 2


def test_imported_forecaster_of_private_tournament_is_404(site):
    ghost = Forecaster.objects.create(source=site.private.slug, key="ghost")
    from forecasts.models import Forecast

    Forecast.objects.create(question=site.private_q, forecaster=ghost, probability=0.5)
    assert Client().get(reverse("track-record", args=[ghost.pk])).status_code == 404
    assert login(site.member).get(reverse("track-record", args=[ghost.pk])).status_code == 200


def test_benchmark_pages_show_results_revisions_and_chart(site):
    bench = site.milestone_q.benchmark
    old = BenchmarkResult.objects.get(system="o1")
    old.is_current = False
    old.save()
    BenchmarkResult.objects.create(
        benchmark=bench, system="o1", value=39.0, revision_of=old, achieved_on=old.achieved_on
    )
    listing = text(Client().get(reverse("benchmark-list")))
    assert bench.name in listing
    body = text(Client().get(bench.get_absolute_url()))
    assert "revised" in body and "<s>40</s>" in body and "revises 40" in body
    assert "<svg" in body and 'class="threshold"' in body
    assert site.milestone_q.title in body
    assert Client().get(reverse("benchmark-detail", args=["nope"])).status_code == 404


def test_account_pages_render():
    client = Client()
    for name in [
        "login",
        "signup",
        "password_reset",
        "password_reset_done",
        "password_reset_complete",
    ]:
        assert client.get(reverse(name)).status_code == 200, name
    assert client.get(reverse("password_change")).status_code == 302


@pytest.mark.django_db
def test_signup_logs_in_and_returns_to_next(site):
    client = Client()
    next_url = site.open_q.get_absolute_url()
    response = client.post(
        reverse("signup"),
        {
            "username": "newbie",
            "email": "n@example.org",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
            "next": next_url,
        },
    )
    assert response.status_code == 302 and response.url == next_url
    assert "Log in to forecast" not in text(client.get(next_url))


def test_signup_refuses_an_offsite_next(site):
    response = Client().post(
        reverse("signup"),
        {
            "username": "newbie2",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
            "next": "https://evil.example/",
        },
    )
    assert response.status_code == 302 and response.url == reverse("home")


def test_password_change_and_reset(site, mailoutbox):
    client = login(site.alice)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "correct-horse-battery",
            "new_password1": "another-long-pass-77",
            "new_password2": "another-long-pass-77",
        },
    )
    assert response.status_code == 302
    response = Client().post(reverse("password_reset"), {"email": site.alice.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/reset/" in mailoutbox[0].body


def test_logout_is_a_post(site):
    client = login(site.alice)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "Log in" in text(client.get(reverse("home")))


def test_list_pages_query_count_does_not_grow_with_questions(site, django_assert_max_num_queries):
    client = login(site.alice)
    for i in range(15):
        q = QuestionFactory(tournament=site.tournament, title=f"Extra {i}")
        forecast(q, site.alice, 0.5)
    # Two of them read the viewer's permissions (full-history access, docs/privacy.md); one is
    # the header's unread-notification count and the tournament's follow button (community).
    with django_assert_max_num_queries(16):
        text(client.get(site.tournament.get_absolute_url()))
    with django_assert_max_num_queries(17):
        text(client.get(reverse("home") + "?filter=all"))


def test_question_page_query_count(site, django_assert_max_num_queries):
    client = login(site.alice)
    # 16 for the page itself; the community section adds the unread count, clarifications,
    # comments, the viewer's follow and the proposer's credit; the conditional pairs one, the
    # play-money market two (its row and its price history).
    with django_assert_max_num_queries(24):
        text(client.get(site.open_q.get_absolute_url()))


def test_crowd_scores_unaffected_subject_labels():
    # The leaderboard's reference rows use the model's own labels.
    assert Subject.CROWD.label == "Crowd (log pool)"


def test_home_query_count_does_not_grow_with_tournaments(django_assert_max_num_queries):
    from tests.factories import QuestionFactory, TournamentFactory

    for i in range(6):
        QuestionFactory.create_batch(2, tournament=TournamentFactory(slug=f"many-{i}"))
    client = Client()
    client.get(reverse("home"))  # warm caches (content types, sessions)
    with django_assert_max_num_queries(6):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    assert text(response).count("Many ") >= 6


def test_typed_milestone_questions_show_their_rule_without_a_threshold(site):
    """A numeric best-result rule has no comparator or threshold (docs/methods.md §8.8): the
    benchmark page lists it with its rule in words and draws no threshold line for it."""
    bench = site.milestone_q.benchmark
    numeric = QuestionFactory(
        tournament=site.milestone_q.tournament,
        title="Best result by mid-2026?",
        type="numeric",
        range_min=0.0,
        range_max=100.0,
        benchmark=bench,
        deadline=dt.date(2026, 6, 30),
    )
    body = text(Client().get(bench.get_absolute_url())).replace("&#x27;", "'")
    assert numeric.title in body
    assert numeric.milestone_text() in body
    assert "best (highest)" in numeric.milestone_text()
    page = text(Client().get(numeric.get_absolute_url())).replace("&#x27;", "'")
    assert numeric.milestone_text() in page
