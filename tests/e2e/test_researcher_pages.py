"""The researcher's pages in headless Chromium (issue 19): the token page's curl example wraps
inside its box at 390 px and has a copy button (progressive enhancement)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.e2e.test_forecaster_journey import ARTIFACTS
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, username: str, next_url: str) -> None:
    page.goto(f"{live_server.url}{reverse('login')}?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{next_url}")


@pytest.mark.parametrize("width", [390, 1280])
def test_token_page_curl_example_fits_and_copies(live_server, browser, width):
    UserFactory(username="researcher")
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    _log_in(page, live_server, "researcher", reverse("api-tokens"))
    page.get_by_role("button", name="Create a token").click()
    page.wait_for_selector("#curl-example")
    command = page.locator("#curl-example").inner_text()
    assert command.startswith('curl -H "Authorization: Token ')
    assert command.rstrip().endswith("/api/v1/tournaments/")
    # Nothing is cut off: the box does not scroll sideways, nor does the page.
    box = page.locator("pre.command")
    assert box.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert box.bounding_box()["x"] + box.bounding_box()["width"] <= width
    button = page.get_by_role("button", name="Copy command")
    assert button.is_visible()
    button.click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == command
    page.get_by_role("button", name="Copy token").click()
    token = page.locator("#new-token").inner_text()
    assert page.evaluate("navigator.clipboard.readText()") == token
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"token-page-{width}.png"), full_page=True)
    context.close()


def test_token_page_without_javascript_shows_the_text_and_no_dead_button(
    live_server,
    browser,
):
    UserFactory(username="nojs-researcher")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
    page = context.new_page()
    _log_in(page, live_server, "nojs-researcher", reverse("api-tokens"))
    page.get_by_role("button", name="Create a token").click()
    page.wait_for_selector("#curl-example")
    assert page.locator("#curl-example").is_visible()
    assert not page.locator("button[data-copy]").first.is_visible()  # needs the script
    box = page.locator("pre.command").bounding_box()
    assert box["x"] + box["width"] <= 390  # the command wraps inside the page without the script
    context.close()
