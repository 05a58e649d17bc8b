"""Probe of issue 17 by a fresh tester: hostile input on the community pages."""

from __future__ import annotations

import datetime as dt

import pytest
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
