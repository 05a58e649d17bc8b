"""The community journey in headless Chromium against a live server: post a comment, follow
the question, receive the notification (header count, list, then the digest email) and
unsubscribe through the email's signed link, without logging in."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone

from community import jobs, services
from community.services import settings_for
from tests.factories import QuestionFactory, TournamentFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def test_comment_follow_notification_and_unsubscribe(live_server, browser, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = live_server.url
    question = QuestionFactory(
        tournament=TournamentFactory(slug="community-e2e"), title="Will agents file taxes?"
    )
    user = UserFactory(username="writer")
    staff = UserFactory(username="moderator", is_staff=True)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server.url}/accounts/login/?next={question.get_absolute_url()}")
    page.get_by_label("Username").fill("writer")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{question.get_absolute_url()}")

    # Post a comment (Markdown rendered, the script tag inert).
    page.get_by_label("Add a comment (Markdown)").fill("Tax law is **hard** <script>x()</script>")
    page.get_by_role("button", name="Post comment").click()
    page.wait_for_url(re.compile(r".*#comment-\d+$"))
    body = page.locator(".comment-body").first
    assert body.locator("strong").inner_text() == "hard"
    assert "<script>x()</script>" in body.inner_text()  # shown as text

    # Follow.
    page.locator("#follow-button").click()
    page.locator("#follow-button", has_text="Following").wait_for()

    # Staff clarify; the follower sees the unread count and the notification.
    services.clarification_post(question=question, author=staff, body="Only US federal taxes.")
    page.reload()
    assert page.locator("#notif-count").inner_text() == "1"
    page.locator("#notif-link").click()
    page.wait_for_url("**/notifications/")
    assert page.get_by_text("Clarification on “Will agents file taxes?”").is_visible()
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_url("**/notifications/")
    assert page.locator("#notif-count").count() == 0

    # The daily digest email carries it, with an unsubscribe link that needs no login.
    assert jobs.digests_send(user_ids=[user.pk], day=timezone.now().date()) == 1
    email = mail.outbox[-1]
    assert "Only US federal taxes." in email.body
    link = re.search(r"(http://\S+/unsubscribe/\S+/)", email.body).group(1)
    anonymous = browser.new_context().new_page()
    anonymous.goto(link)
    anonymous.get_by_role("button", name="Unsubscribe").click()
    anonymous.get_by_text("You will no longer get digest emails.").wait_for()
    assert settings_for(user.pk).email_digest is False
    assert errors == []
