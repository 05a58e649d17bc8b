"""The "How scoring works" page at phone width (found by probe15): its formula blocks (<pre> in
.prose cards) widened the whole page to about 850 px at 390 px, so it scrolled sideways."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.e2e.test_forecaster_journey import ARTIFACTS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_scoring_page_does_not_scroll_sideways_at_390_px(live_server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('scoring')}")
    assert page.locator("pre").count() > 0
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page scroll width {widths[0]} > {widths[1]}"
    # A long formula scrolls inside its own box instead.
    for pre in page.locator(".prose pre").all():
        box = pre.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "scoring-page-390.png"), full_page=True)
    context.close()
