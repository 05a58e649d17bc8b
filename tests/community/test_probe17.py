"""Probe of issue 17 by a fresh tester: hostile input on the community pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone

from community import services
from community.models import Comment, Notification, Proposal, Tag
from tests.community.conftest import client_for

pytestmark = pytest.mark.django_db


def test_mark_read_never_redirects_off_site(world):
    c = client_for(world.alice)
    for go in ["/\\evil.example", "/\\/evil.example", "/\t/evil.example", "https://evil.example"]:
        r = c.post("/notifications/read/", {"go": go})
        assert r.status_code == 302
        loc = r["Location"]
        assert loc.startswith("/") and not loc.startswith("//") and "\\" not in loc, (go, loc)


def test_nul_characters_in_raw_posts_are_a_clear_400(world):
    staff = client_for(world.staff)
    now = timezone.now()
    p = Proposal.objects.create(
        author=world.alice,
        tournament=world.public,
        title="T",
        resolution_criteria="C",
        open_time=now,
        close_time=now + dt.timedelta(days=9),
    )
    r = staff.post(f"/staff/proposals/{p.pk}/", {"action": "reject", "reason": "no\x00pe"})
    assert r.status_code == 400
    p.refresh_from_db()
    assert p.state == Proposal.State.PENDING
    r = staff.post(f"/questions/{world.question.pk}/tags/", {"tags": "ai\x00x"})
    assert r.status_code == 400
    assert not Tag.objects.exists()


def test_nul_in_search_and_tag_is_a_clear_400(world):
    c = client_for(world.alice)
    assert c.get("/discover/", {"q": "a\x00b"}).status_code == 400
    assert c.get("/discover/", {"tag": "a\x00b"}).status_code == 400


def test_hostile_discover_never_500(world):
    c = client_for(world.alice)
    for q in ["' OR 1=1 --", "%", "_", "\\", "ünï 日本 🙂", "x" * 200, "x" * 5000, "<script>"]:
        for sort in ["", "closing", "active", "moved", "update", "bogus"]:
            r = c.get("/discover/", {"q": q, "sort": sort, "page": "-1"})
            assert r.status_code in (200, 400), (q, sort, r.status_code)
            assert b"<script>" not in r.content


def test_reply_to_a_reply_of_a_hidden_comment_is_refused(world):
    top = services.comment_post(author=world.alice, question=world.question, body="top")
    reply = services.comment_post(
        author=world.bob, question=world.question, body="reply", parent=top
    )
    services.comment_hide(comment=top, moderator=world.staff, reason="spam")
    notified = Notification.objects.filter(user=world.alice).count()
    r = client_for(world.bob).post(
        f"/questions/{world.question.pk}/comments/", {"body": "again", "parent": reply.pk}
    )
    assert r.status_code == 404
    assert not Comment.objects.filter(body="again").exists()
    assert Notification.objects.filter(user=world.alice).count() == notified


def test_private_tournament_is_invisible_to_outsiders(world):
    q = world.private_q
    services.clarification_post(question=q, author=world.staff, body="Secret clarif")
    services.follow_question(user=world.member, question=q)
    services.comment_post(author=world.member, question=q, body="secret comment")
    outsider = client_for(world.alice)
    assert outsider.get(f"/questions/{q.pk}/").status_code == 404
    assert outsider.post(f"/questions/{q.pk}/comments/", {"body": "hi"}).status_code == 404
    assert outsider.post(f"/questions/{q.pk}/follow/").status_code == 404
    assert outsider.post("/tournaments/priv/follow/").status_code == 404
    r = outsider.get("/discover/", {"q": "Secret"})
    assert r.status_code == 200 and b"Secret question" not in r.content
    for sort in ["closing", "active", "moved", "update"]:
        assert b"Secret question" not in outsider.get("/discover/", {"sort": sort}).content
    c = Comment.objects.get(body="secret comment")
    assert outsider.post(f"/comments/{c.pk}/report/", {"reason": "x"}).status_code == 404
    assert outsider.get(f"/comments/{c.pk}/edit/").status_code == 404
    assert not Notification.objects.filter(user=world.alice).exists()
    # a non-member who followed the tournament's question earlier still gets nothing
    services.follow_on_forecast(user_id=world.bob.pk, question_id=q.pk)
    services.clarification_post(question=q, author=world.staff, body="Second")
    assert not Notification.objects.filter(user=world.bob).exists()
    assert Notification.objects.filter(user=world.member, kind="clarification").count() == 1


def test_marking_another_users_notification_read_changes_nothing(world):
    services.notify(user_ids=[world.bob.pk], kind="reply", key="k1", title="t")
    n = Notification.objects.get(user=world.bob)
    r = client_for(world.alice).post("/notifications/read/", {"id": [n.pk, "abc"]})
    assert r.status_code == 400
    client_for(world.alice).post("/notifications/read/", {"id": [n.pk]})
    n.refresh_from_db()
    assert n.read_at is None


def test_proposal_review_bad_input_never_500(world):
    staff = client_for(world.staff)
    now = timezone.now()
    p = Proposal.objects.create(
        author=world.alice,
        tournament=world.public,
        title="T",
        resolution_criteria="C",
        open_time=now,
        close_time=now + dt.timedelta(days=9),
    )
    url = f"/staff/proposals/{p.pk}/"
    for data in [
        {"action": "edit", "title": "", "resolution_criteria": "C"},
        {"action": "edit", "title": "x" * 5000, "resolution_criteria": "C"},
        {"action": "edit", "title": "T", "resolution_criteria": "C", "open_time": "garbage"},
        {
            "action": "edit",
            "title": "T",
            "resolution_criteria": "C",
            "open_time": "2030-01-02T00:00",
            "close_time": "2030-01-01T00:00",
        },
        {"action": "approve", "key": "x" * 5000},
        {"action": "approve", "key": "<script>"},
        {"action": "reject", "reason": ""},
        {"action": "nope"},
        {},
    ]:
        r = staff.post(url, data)
        assert r.status_code in (302, 400, 409), (data, r.status_code)
    assert staff.get("/staff/proposals/999999/").status_code == 404
    assert client_for(world.alice).get(url).status_code == 404


def test_a_member_who_left_a_private_tournament_sees_nothing_of_it_in_notifications(world):
    services.follow_question(user=world.member, question=world.private_q)
    services.clarification_post(question=world.private_q, author=world.staff, body="Secret text")
    c = client_for(world.member)
    page = c.get("/notifications/")
    assert b"Secret text" in page.content
    assert page.context["unread_notifications"]() == 1
    world.private.members.remove(world.member)
    page = c.get("/notifications/")
    assert b"Secret text" not in page.content
    assert b"Secret question" not in page.content
    assert page.context["unread_notifications"]() == 0


def test_an_out_of_range_notification_id_is_a_400_not_a_500(world):
    services.notify(user_ids=[world.alice.pk], kind="reply", key="k1", title="t")
    c = client_for(world.alice)
    for bad in ["9" * 30, "-1", "0"]:
        assert c.post("/notifications/read/", {"id": bad}).status_code == 400, bad
    assert Notification.objects.get(user=world.alice).read_at is None


def test_approving_a_proposal_whose_close_time_passed_is_refused(world):
    now = timezone.now()
    p = Proposal.objects.create(
        author=world.alice,
        tournament=world.public,
        title="Late",
        resolution_criteria="C",
        open_time=now - dt.timedelta(days=9),
        close_time=now - dt.timedelta(days=1),
    )
    r = client_for(world.staff).post(f"/staff/proposals/{p.pk}/", {"action": "approve"})
    assert r.status_code in (400, 409)
    p.refresh_from_db()
    assert p.state == Proposal.State.PENDING


def test_edit_page_after_the_window_and_edits_refused(world, settings):
    c = services.comment_post(
        author=world.alice,
        question=world.question,
        body="old",
        now=timezone.now() - dt.timedelta(minutes=settings.COMMENT_EDIT_MINUTES + 1),
    )
    client = client_for(world.alice)
    assert client.post(f"/comments/{c.pk}/edit/", {"body": "new"}).status_code == 403
    c.refresh_from_db()
    assert c.body == "old"


def test_unsubscribe_links_tampered_and_kind(world):
    from community.unsubscribe import unsubscribe_token

    anon = Client()
    token = unsubscribe_token(user_id=world.alice.pk, kind="reply")
    assert anon.get(f"/unsubscribe/{token}/").status_code == 200
    assert services.settings_for(world.alice.pk).muted_kinds == []  # GET changes nothing
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert anon.post(f"/unsubscribe/{tampered}/").status_code == 400
    other_salt = signing.dumps({"u": world.bob.pk, "k": ""}, compress=True)
    assert anon.post(f"/unsubscribe/{other_salt}/").status_code == 400
    assert anon.post(f"/unsubscribe/{token}/").status_code == 200
    assert services.settings_for(world.alice.pk).muted_kinds == ["reply"]
    assert services.settings_for(world.bob.pk).email_digest is True
    assert anon.post(f"/unsubscribe/{token}/").status_code == 200  # twice: still one kind
    assert services.settings_for(world.alice.pk).muted_kinds == ["reply"]
