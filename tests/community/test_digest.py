"""The daily email digest: once a day, escaped, with signed unsubscribe links (locmem mail)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from community import jobs, services
from community.models import Digest, Follow, Kind, Notification
from community.tasks import send_digests_task
from community.unsubscribe import unsubscribe_read, unsubscribe_token
from tests.community.conftest import XSS, assert_inert

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 30)


@pytest.fixture(autouse=True)
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://takeoff.example"


def _html(message) -> str:
    return next(body for body, mime in message.alternatives if mime == "text/html")


def test_digest_collects_notifications_and_is_sent_once_a_day(world):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="One")
    services.clarification_post(question=world.question, author=world.staff, body="Two")
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY) is True
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert "2 updates" in message.subject and "One" in message.body and "Two" in message.body
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://takeoff.example/")
    # Another notification the same day waits for tomorrow's digest.
    services.clarification_post(question=world.question, author=world.staff, body="Three")
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY) is False
    assert list(jobs.digest_recipients(day=TODAY)) == []
    assert len(mail.outbox) == 1
    assert list(jobs.digest_recipients(day=TODAY + dt.timedelta(days=1))) == [world.alice.pk]
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY + dt.timedelta(days=1))
    assert "Three" in mail.outbox[1].body and "One" not in mail.outbox[1].body


def test_beat_task_sends_each_due_person_one_digest(world, settings):
    settings.DIGEST_HOUR_UTC = 0
    for user in (world.alice, world.bob):
        services.follow_question(user=user, question=world.question)
    services.settings_update(user_id=world.bob.pk, email_digest=False)
    services.clarification_post(question=world.question, author=world.staff, body="note")
    assert send_digests_task() == 1
    assert send_digests_task() == 0
    assert [m.to for m in mail.outbox] == [["alice@example.org"]]
    assert Digest.objects.get().state == Digest.State.SENT


@pytest.mark.parametrize("attack", XSS)
def test_xss_in_comments_and_clarifications_is_inert_in_emails(world, attack):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body=attack)
    top = services.comment_post(author=world.alice, question=world.question, body="hi")
    services.comment_post(author=world.bob, question=world.question, body=attack, parent=top)
    jobs.digest_send(user_id=world.alice.pk, day=TODAY)
    html = _html(mail.outbox[0])
    assert_inert(html)
    assert attack.replace("<", "&lt;")[:20] in html or "&lt;" not in attack


def test_nothing_about_a_private_tournament_after_leaving_it(world):
    Follow.objects.create(user=world.member, question=world.private_q)
    services.follow_question(user=world.member, question=world.question)
    services.clarification_post(question=world.private_q, author=world.staff, body="Secret note")
    services.clarification_post(question=world.question, author=world.staff, body="Public note")
    world.private.members.remove(world.member)
    jobs.digest_send(user_id=world.member.pk, day=TODAY)
    body = mail.outbox[0].body + _html(mail.outbox[0])
    assert "Public note" in body
    assert "Secret" not in body


def test_unsubscribe_link_works_without_login_and_stops_digests(world):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="note")
    jobs.digest_send(user_id=world.alice.pk, day=TODAY)
    link = re.search(r"https://takeoff\.example(/unsubscribe/[^/]+/)", mail.outbox[0].body)
    assert link
    client = Client(enforce_csrf_checks=True)
    page = client.get(link.group(1))
    assert page.status_code == 200 and "Stop the daily digest" in page.content.decode()
    assert services.settings_for(world.alice.pk).email_digest  # GET changes nothing
    done = client.post(link.group(1))  # RFC 8058 one-click: no cookie, no CSRF token
    assert done.status_code == 200
    assert not services.settings_for(world.alice.pk).email_digest
    services.clarification_post(question=world.question, author=world.staff, body="more")
    assert list(jobs.digest_recipients(day=TODAY + dt.timedelta(days=1))) == []


def test_per_kind_unsubscribe_mutes_that_kind(world):
    token = unsubscribe_token(user_id=world.alice.pk, kind=Kind.STALE)
    Client().post(f"/unsubscribe/{token}/")
    settings = services.settings_for(world.alice.pk)
    assert settings.muted_kinds == [Kind.STALE] and settings.email_digest


@pytest.mark.parametrize("token", ["garbage", "eyJ1IjoxfQ:1abc:forged"])
def test_forged_unsubscribe_token_is_refused(world, token):
    assert unsubscribe_read(token) is None
    response = Client().post(f"/unsubscribe/{token}/")
    assert response.status_code == 400
    assert services.settings_for(world.alice.pk).email_digest


def test_tampered_token_for_another_user_is_refused(world):
    token = unsubscribe_token(user_id=world.alice.pk)
    _payload, rest = token.split(":", 1)
    other = unsubscribe_token(user_id=world.bob.pk).split(":", 1)[0]
    assert unsubscribe_read(f"{other}:{rest}") is None
    assert unsubscribe_read(token).user_id == world.alice.pk


def test_muted_after_creation_is_left_out_of_the_email(world):
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="note")
    services.settings_update(user_id=world.alice.pk, muted_kinds=[Kind.CLARIFICATION])
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY) is False
    assert mail.outbox == []
    assert Notification.objects.get().digest is not None  # handled, not retried forever
    assert timezone.now()


def test_batch_sends_each_person_once_and_skips_those_with_nothing(world):
    for user in (world.alice, world.bob):
        services.follow_question(user=user, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="note")
    ids = [world.alice.pk, world.bob.pk, world.staff.pk]
    assert jobs.digests_send(user_ids=ids, day=TODAY) == 2
    assert jobs.digests_send(user_ids=ids, day=TODAY) == 0
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@example.org", "bob@example.org"]
    assert Digest.objects.filter(state=Digest.State.SENT).count() == 2


class Refusing(Exception):
    pass


def _pending(world) -> Digest:
    services.follow_question(user=world.alice, question=world.question)
    services.clarification_post(question=world.question, author=world.staff, body="note <b>x</b>")
    assert jobs.digests_build(user_ids=[world.alice.pk], day=TODAY, now=timezone.now())
    return Digest.objects.get(user=world.alice)


def test_build_stores_the_email_in_the_outbox_with_a_stable_message_id(world):
    digest = _pending(world)
    assert digest.state == Digest.State.PENDING and digest.sent_at is None
    assert digest.to_email == "alice@example.org"
    assert "note" in digest.body_text and "&lt;b&gt;" in digest.body_html
    assert f".digest-{digest.pk}@" in digest.headers["Message-ID"]
    assert Notification.objects.get().digest == digest
    assert jobs.digests_deliver(digest_ids=[digest.pk]) == 1
    message = mail.outbox[0]
    assert message.message()["Message-ID"] == digest.headers["Message-ID"]
    assert message.extra_headers["List-Unsubscribe"].startswith("<https://takeoff.example/")
    assert jobs.digests_deliver(digest_ids=[digest.pk]) == 0  # sent: never again
    assert len(mail.outbox) == 1


def test_a_failed_send_stays_pending_and_the_sweep_resends_it_after_the_lease(
    world, settings, monkeypatch
):
    settings.DIGEST_HOUR_UTC = 0
    digest = _pending(world)

    def refuse(self, messages):
        raise Refusing("SMTP down")

    backend = "django.core.mail.backends.locmem.EmailBackend.send_messages"
    with monkeypatch.context() as patch:
        patch.setattr(backend, refuse)
        with pytest.raises(Refusing):
            jobs.digests_deliver(digest_ids=[digest.pk], owner="task-1")
    digest.refresh_from_db()
    assert digest.state == Digest.State.PENDING and digest.lease_owner == "task-1"
    # Under a live lease: neither another run nor the sweep sends it; the same task may.
    assert jobs.digests_deliver(digest_ids=[digest.pk], owner="task-2") == 0
    assert list(jobs.digests_unsent(now=timezone.now())) == []
    assert send_digests_task() == 0
    assert mail.outbox == []
    # The lease expired: beat's sweep sends it, once.
    Digest.objects.filter(pk=digest.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    assert list(jobs.digests_unsent(now=timezone.now())) == [digest.pk]
    assert send_digests_task() == 1
    assert len(mail.outbox) == 1 and "note" in mail.outbox[0].body
    assert send_digests_task() == 0
    digest.refresh_from_db()
    assert digest.state == Digest.State.SENT and digest.attempts == 2


def test_the_same_task_takes_its_own_lease_back(world):
    digest = _pending(world)
    far = timezone.now() + dt.timedelta(hours=1)
    Digest.objects.filter(pk=digest.pk).update(lease_owner="task-1", lease_until=far)
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY, owner="task-2") is False
    assert jobs.digest_send(user_id=world.alice.pk, day=TODAY, owner="task-1") is True
    assert len(mail.outbox) == 1


def test_the_duplicate_window_resends_the_same_message(world):
    """Between the backend's accept and the sent commit a crash loses the mark: the row is
    sent again, with the same Message-ID (docs/operations.md)."""
    digest = _pending(world)
    jobs.digests_deliver(digest_ids=[digest.pk])
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.PENDING, lease_until=None)
    jobs.digests_deliver(digest_ids=[digest.pk])
    assert len(mail.outbox) == 2
    ids = {m.message()["Message-ID"] for m in mail.outbox}
    assert ids == {digest.headers["Message-ID"]}


def test_old_unsent_rows_are_left_alone(world):
    digest = _pending(world)
    Digest.objects.filter(pk=digest.pk).update(day=TODAY - dt.timedelta(days=5))
    assert list(jobs.digests_unsent(now=timezone.now())) == []
