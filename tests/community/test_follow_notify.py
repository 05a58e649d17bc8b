"""Clarifications, following, notifications in the site, and the producers (community.jobs)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from community import jobs, services
from community.errors import NotAllowed, NotFound
from community.models import Follow, Kind, Notification
from markets.models import BenchmarkResult, Question, Resolution
from scoring.models import Rule, Score, Subject
from tests.community.conftest import XSS, assert_inert, client_for, forecast
from tests.factories import BenchmarkFactory, QuestionFactory

pytestmark = pytest.mark.django_db


def test_forecasting_follows_the_question_once(world):
    forecast(world.question, world.alice, 0.6)
    forecast(world.question, world.alice, 0.7)
    assert Follow.objects.filter(user=world.alice, question=world.question).count() == 1


def test_follow_unfollow_by_page_and_tournament(world):
    c = client_for(world.bob)
    c.post(f"/questions/{world.question.pk}/follow/", {"follow": "1"})
    assert Follow.objects.filter(user=world.bob, question=world.question).exists()
    html = c.get(world.question.get_absolute_url()).content.decode()
    assert "Following ✓" in html
    c.post(f"/questions/{world.question.pk}/follow/", {"follow": "0"})
    assert not Follow.objects.filter(user=world.bob, question=world.question).exists()
    assert "Follow every question" in c.get(world.public.get_absolute_url()).content.decode()
    c.post(f"/tournaments/{world.public.slug}/follow/", {"follow": "1"})
    assert Follow.objects.filter(user=world.bob, tournament=world.public).exists()
    assert "Following ✓" in c.get(world.public.get_absolute_url()).content.decode()
    assert c.post(f"/tournaments/{world.private.slug}/follow/").status_code == 404
    with pytest.raises(NotFound):
        services.follow_question(user=world.bob, question=world.private_q)


def test_clarification_is_pinned_and_notifies_followers_who_may_see_it(world):
    services.follow_question(user=world.alice, question=world.question)
    services.follow_tournament(user=world.bob, tournament=world.public)
    with pytest.raises(NotAllowed):
        services.clarification_post(question=world.question, author=world.alice, body="x")
    response = client_for(world.staff).post(
        f"/questions/{world.question.pk}/clarifications/", {"body": "Counts **only** GA models"}
    )
    assert response.status_code == 302
    kinds = set(Notification.objects.values_list("user__username", "kind"))
    assert kinds == {("alice", Kind.CLARIFICATION), ("bob", Kind.CLARIFICATION)}
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    assert "Counts <strong>only</strong> GA models" in html and "📌" in html


def test_clarification_by_non_staff_is_refused(world):
    response = client_for(world.alice).post(
        f"/questions/{world.question.pk}/clarifications/", {"body": "x"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("attack", XSS)
def test_xss_in_clarifications_is_inert_on_pages(world, attack):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body=attack)
    c = client_for(world.alice)
    page = c.get(world.question.get_absolute_url()).content.decode()
    assert_inert(page[page.index('id="clarifications"') : page.index('id="discussion"')])
    listing = c.get("/notifications/").content.decode()
    assert_inert(listing[listing.index("<main") :])


def test_private_tournament_notifications_reach_members_only(world):
    Follow.objects.create(user=world.alice, question=world.private_q)  # followed, then left
    Follow.objects.create(user=world.member, question=world.private_q)
    services.clarification_post(question=world.private_q, author=world.staff, body="note")
    assert list(Notification.objects.values_list("user__username", flat=True)) == ["member"]


def test_unread_count_list_and_mark_read(world):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="one")
    services.clarification_post(question=world.question, author=world.staff, body="two")
    c = client_for(world.alice)
    html = c.get("/notifications/").content.decode()
    assert 'id="notif-count">2<' in html
    note = Notification.objects.filter(user=world.alice).first()
    response = c.post("/notifications/read/", {"id": note.pk, "go": note.url})
    assert response.status_code == 302 and response["Location"] == note.url
    assert 'id="notif-count">1<' in c.get("/notifications/").content.decode()
    c.post("/notifications/read/")
    assert "notif-count" not in c.get("/notifications/").content.decode()
    # Never an open redirect, never someone else's notifications.
    assert c.post("/notifications/read/", {"go": "//evil.example"})["Location"] == "/notifications/"
    assert c.post("/notifications/read/", {"id": "x"}).status_code == 400


def test_muted_kind_is_not_created(world):
    services.follow_question(user=world.alice, question=world.question)
    services.settings_update(user_id=world.alice.pk, muted_kinds=[Kind.CLARIFICATION])
    services.clarification_post(question=world.question, author=world.staff, body="x")
    assert not Notification.objects.exists()


def test_settings_page_validates(world):
    c = client_for(world.alice)
    assert c.get("/notifications/settings/").status_code == 200
    bad = c.post("/notifications/settings/", {"stale_days": "0", "crowd_move_points": "10"})
    assert bad.status_code == 400
    ok = c.post(
        "/notifications/settings/",
        {"kinds": ["resolved", "stale"], "stale_days": "7", "crowd_move_points": "5"},
    )
    assert ok.status_code == 302
    s = services.settings_for(world.alice.pk)
    assert s.stale_days == 7 and not s.email_digest and Kind.CLOSING in s.muted_kinds


def test_closing_within_24h_is_notified_once(world):
    now = timezone.now()
    soon = QuestionFactory(
        tournament=world.public,
        open_time=now - dt.timedelta(days=3),
        close_time=now + dt.timedelta(hours=5),
    )
    services.follow_question(user=world.alice, question=soon)
    assert jobs.notify_all(now=now) == 1
    assert jobs.notify_all(now=now) == 0  # idempotent
    assert Notification.objects.get().kind == Kind.CLOSING


def test_stale_forecast_uses_the_persons_days(world):
    start = timezone.now() - dt.timedelta(days=10)
    forecast(world.question, world.alice, 0.6, at=start)
    forecast(world.question, world.bob, 0.6, at=start)
    services.settings_update(user_id=world.bob.pk, stale_days=7)
    jobs.notify_all()
    assert list(Notification.objects.values_list("user__username", "kind")) == [("bob", Kind.STALE)]


def test_crowd_moved_since_your_last_forecast_uses_public_points(world):
    t0 = timezone.now() - dt.timedelta(days=5)
    from tests.factories import UserFactory

    users = [UserFactory(username=f"u{i}") for i in range(7)]
    forecast(world.question, world.alice, 0.3, at=t0)
    for i, u in enumerate(users[:3]):
        forecast(world.question, u, 0.3, at=t0 + dt.timedelta(minutes=i + 1))
    for i, u in enumerate(users[3:]):
        forecast(world.question, u, 0.95, at=t0 + dt.timedelta(hours=1, minutes=i))
    for i, u in enumerate(users[:3]):
        forecast(world.question, u, 0.95, at=t0 + dt.timedelta(hours=2, minutes=i))
    jobs.notify_all()
    moved = Notification.objects.filter(kind=Kind.CROWD_MOVED, user=world.alice)
    assert moved.count() == 1
    assert "The crowd moved +" in moved.get().title


def test_crowd_move_is_not_told_while_the_crowd_is_hidden(world):
    world.public.reveal_time = timezone.now() + dt.timedelta(days=30)
    world.public.save()
    t0 = timezone.now() - dt.timedelta(days=5)
    from tests.factories import UserFactory

    forecast(world.question, world.alice, 0.1, at=t0)
    for i in range(8):
        forecast(world.question, UserFactory(username=f"v{i}"), 0.9, at=t0 + dt.timedelta(hours=i))
    jobs.notify_all()
    assert not Notification.objects.filter(kind=Kind.CROWD_MOVED).exists()


def test_evidence_nudge_names_the_result_source_and_forecast_age(world):
    bench = BenchmarkFactory()
    now = timezone.now()
    q = QuestionFactory(
        tournament=world.public,
        benchmark=bench,
        comparator=">=",
        threshold=600,
        deadline=dt.date(2039, 1, 1),
    )
    forecast(q, world.alice, 0.4, at=now - dt.timedelta(days=12))
    BenchmarkResult.objects.create(
        benchmark=bench, system="Model Z", value=321.0, source_url="https://example.org/r"
    )
    jobs.notify_all(now=now)
    note = Notification.objects.get(kind=Kind.EVIDENCE, user=world.alice)
    assert "Model Z scored 321 minutes" in note.body
    assert "https://example.org/r" in note.body and "12 days ago" in note.body


def test_resolved_waits_for_scores_then_tells_yours(world):
    forecast(world.question, world.alice, 0.8, at=timezone.now() - dt.timedelta(days=2))
    resolution = Resolution.objects.create(
        question=world.question,
        version=1,
        outcome=Resolution.Outcome.YES,
        state=Resolution.State.FINAL,
        source=Resolution.Source.MANUAL,
        finalized_at=timezone.now(),
    )
    Question.objects.filter(pk=world.question.pk).update(status=Question.Status.RESOLVED)
    Score.objects.filter(resolution=resolution).delete()
    assert jobs.notify_resolved(now=timezone.now()) == 0  # not scored yet
    forecaster = world.alice.forecaster
    common = {"question": world.question, "resolution": resolution, "coverage": 1.0}
    Score.objects.create(
        **common, subject=Subject.FORECASTER, forecaster=forecaster, rule=Rule.BRIER, score=0.04
    )
    Score.objects.create(
        **common, subject=Subject.FORECASTER, forecaster=forecaster, rule=Rule.PEER, score=12.5
    )
    assert jobs.notify_resolved(now=timezone.now()) == 1
    note = Notification.objects.get(kind=Kind.RESOLVED)
    assert "Brier 0.040" in note.body and "peer +12.5" in note.body
    assert jobs.notify_resolved(now=timezone.now()) == 0
