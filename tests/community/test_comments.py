"""Comments, replies, shared rationales, the edit window, moderation, reports, rate limits."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from community import services
from community.errors import CommunityError, Conflict, NotAllowed, NotFound, RateLimited
from community.markdown import render_markdown
from community.models import Comment, CommentReport, Kind, ModerationRecord, Notification
from tests.community.conftest import XSS, assert_inert, client_for, forecast

pytestmark = pytest.mark.django_db


def test_comment_and_reply_show_on_the_question_page(world):
    top = services.comment_post(author=world.alice, question=world.question, body="**Bold** view")
    reply = services.comment_post(
        author=world.bob, question=world.question, body="I disagree", parent=top
    )
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    assert "<strong>Bold</strong> view" in html
    assert f'id="comment-{reply.pk}"' in html and "I disagree" in html
    # A reply to a reply attaches to the top-level comment.
    nested = services.comment_post(
        author=world.alice, question=world.question, body="x", parent=reply
    )
    assert nested.parent_id == top.pk


def test_reply_notifies_the_parent_author_not_yourself(world):
    top = services.comment_post(author=world.alice, question=world.question, body="first")
    services.comment_post(author=world.alice, question=world.question, body="self", parent=top)
    assert not Notification.objects.filter(user=world.alice).exists()
    services.comment_post(author=world.bob, question=world.question, body="hey", parent=top)
    note = Notification.objects.get(user=world.alice)
    assert note.kind == Kind.REPLY and "bob replied" in note.title


def test_comment_on_private_question_by_outsider_is_not_found(world):
    with pytest.raises(NotFound):
        services.comment_post(author=world.alice, question=world.private_q, body="hi")
    response = client_for(world.alice).post(
        f"/questions/{world.private_q.pk}/comments/", {"body": "hi"}
    )
    assert response.status_code == 404
    assert not Comment.objects.exists()


@pytest.mark.parametrize("body", ["", "   ", "x" * 10_001])
def test_bad_comment_is_refused_with_400_and_saves_nothing(world, body):
    response = client_for(world.alice).post(
        f"/questions/{world.question.pk}/comments/", {"body": body}
    )
    assert response.status_code == 400
    assert not Comment.objects.exists()


def test_anonymous_comment_goes_to_login(world, client):
    response = client.post(f"/questions/{world.question.pk}/comments/", {"body": "hi"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert not Comment.objects.exists()


@pytest.mark.parametrize("attack", XSS)
def test_xss_in_comments_renders_inert_on_the_page(world, attack):
    services.comment_post(author=world.alice, question=world.question, body=attack)
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    section = html[html.index('id="discussion"') :]
    assert_inert(section)
    assert_inert(render_markdown(attack))


def test_markdown_keeps_safe_links_with_rel(world):
    html = render_markdown("[docs](https://example.org/x)")
    assert 'href="https://example.org/x"' in html and "nofollow" in html


def test_edit_within_window_by_author_only(world):
    start = timezone.now()
    comment = services.comment_post(author=world.alice, question=world.question, body="v1")
    with pytest.raises(NotAllowed):
        services.comment_edit(comment=comment, editor=world.bob, body="mine")
    services.comment_edit(comment=comment, editor=world.alice, body="v2", now=start)
    comment.refresh_from_db()
    assert comment.body == "v2" and comment.edited_at is not None
    with pytest.raises(NotAllowed):
        services.comment_edit(
            comment=comment, editor=world.alice, body="v3", now=start + dt.timedelta(minutes=16)
        )
    comment.refresh_from_db()
    assert comment.body == "v2"


def test_edit_page_after_window_is_refused(world):
    comment = services.comment_post(author=world.alice, question=world.question, body="v1")
    with time_machine.travel(timezone.now() + dt.timedelta(hours=1)):
        response = client_for(world.alice).post(f"/comments/{comment.pk}/edit/", {"body": "late"})
    assert response.status_code == 403
    comment.refresh_from_db()
    assert comment.body == "v1"


def test_staff_hide_with_reason_is_audited_and_shown_as_hidden(world):
    comment = services.comment_post(author=world.alice, question=world.question, body="spam link")
    services.comment_report(comment=comment, reporter=world.bob, reason="spam")
    with pytest.raises(NotAllowed):
        services.comment_hide(comment=comment, moderator=world.bob, reason="x")
    with pytest.raises(CommunityError):
        services.comment_hide(comment=comment, moderator=world.staff, reason=" ")
    response = client_for(world.staff).post(f"/comments/{comment.pk}/hide/", {"reason": "Spam"})
    assert response.status_code == 302
    comment.refresh_from_db()
    assert comment.is_hidden and comment.hidden_reason == "Spam"
    record = ModerationRecord.objects.get(comment=comment)
    assert record.action == "hidden" and record.actor == world.staff and record.reason == "Spam"
    assert CommentReport.objects.get().handled_at is not None
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    assert "Hidden by a moderator: Spam" in html and "spam link" not in html
    with pytest.raises(Conflict):
        services.comment_hide(comment=comment, moderator=world.staff, reason="again")
    services.comment_restore(comment=comment, moderator=world.staff, reason="Not spam")
    assert list(comment.moderation.values_list("action", flat=True)) == ["hidden", "restored"]


def test_non_staff_cannot_reach_moderation(world):
    comment = services.comment_post(author=world.alice, question=world.question, body="x")
    response = client_for(world.bob).post(f"/comments/{comment.pk}/hide/", {"reason": "no"})
    assert response.status_code == 404
    assert client_for(world.bob).get("/staff/reports/").status_code == 404
    assert client_for(world.staff).get("/staff/reports/").status_code == 200


def test_report_once_per_user_and_not_your_own(world):
    comment = services.comment_post(author=world.alice, question=world.question, body="x")
    with pytest.raises(CommunityError):
        services.comment_report(comment=comment, reporter=world.alice, reason="self")
    response = client_for(world.bob).post(f"/comments/{comment.pk}/report/", {"reason": "rude"})
    assert response.status_code == 302
    response = client_for(world.bob).post(f"/comments/{comment.pk}/report/", {"reason": "again"})
    assert response.status_code == 409
    assert CommentReport.objects.count() == 1


def test_comment_rate_limit_answers_429(world, settings):
    settings.COMMENT_RATES = ["2/min"]
    c = client_for(world.alice)
    for _ in range(2):
        assert (
            c.post(f"/questions/{world.question.pk}/comments/", {"body": "hi"}).status_code == 302
        )
    response = c.post(f"/questions/{world.question.pk}/comments/", {"body": "hi"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert Comment.objects.count() == 2
    with pytest.raises(RateLimited):
        services.comment_post(author=world.alice, question=world.question, body="again")


def test_shared_rationale_is_a_comment_without_the_probability(world):
    world.public.min_forecasters = 5
    world.public.save()
    response = client_for(world.alice).post(
        f"/questions/{world.question.pk}/forecast/",
        {"probability": "73.5", "rationale": "Scaling <b>trends</b>", "share_rationale": "on"},
    )
    assert response.status_code == 302
    comment = Comment.objects.get()
    assert comment.forecast is not None and comment.author == world.alice
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    section = html[html.index('id="discussion"') :]
    assert "Scaling &lt;b&gt;trends&lt;/b&gt;" in section
    assert "rationale shared with a forecast" in section
    assert "73.5" not in html and "73,5" not in html and "74%" not in section


def test_rationale_not_shared_unless_asked(world):
    forecast(world.question, world.alice, 0.6, rationale="private thoughts")
    assert not Comment.objects.exists()
    html = client_for(world.bob).get(world.question.get_absolute_url()).content.decode()
    assert "private thoughts" not in html


def test_cannot_share_someone_elses_rationale(world):
    f = forecast(world.question, world.alice, 0.6, rationale="mine")
    with pytest.raises(NotAllowed):
        services.rationale_share(forecast=f, user=world.bob)
