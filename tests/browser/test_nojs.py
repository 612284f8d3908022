"""Every page works with JavaScript off (Tor Browser's safest mode): forms, uploads,
redirects and the timeline are plain HTML and SVG."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from afterword.engine import OwnerSession
from tests.browser.conftest import DAY, Site, sign_in


@pytest.fixture
def nojs(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def test_every_page_works_without_javascript(nojs: Page, site: Site) -> None:
    page = nojs
    page.goto(site.url)
    expect(page.locator("h1")).to_have_text("afterword")
    assert page.evaluate("1 + 1") == 2  # the driver still can; the page's own script cannot
    assert "<script" not in page.content()

    sign_in(page, site)
    expect(page.locator("#countdown")).to_have_text("3 days left")
    site.advance(DAY)
    page.get_by_role("button", name="I'm here").click()
    expect(page.locator("#flash")).to_contain_text("Checked in.")
    expect(page.locator("#timeline circle.checkin")).to_have_count(1)

    page.goto(f"{site.url}/verify")
    page.get_by_label("File to check").set_input_files(str(site.bundle.path / "notice.json"))
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator("#result")).to_contain_text("Verified.")

    links = site.engine.session_action(
        OwnerSession(site.switch, False), "canary-add", {"name": "mother", "interval": DAY}
    )
    page.goto(f"{site.url}/canary/{links['token']}")
    page.get_by_role("button", name="I'm OK").click()
    expect(page.locator("#flash")).to_have_text("Thank you: you checked in.")

    site.to_releasing()
    page.goto(f"{site.url}/s/{site.switch}")
    page.get_by_label("The words on your share card").fill(site.bundle.mnemonics["alice"])
    page.get_by_role("button", name="Submit my share").click()
    expect(page.locator("#accepted")).to_contain_text("your share was accepted")

    page.goto(f"{site.url}/r/{site.switch}")
    expect(page.get_by_role("link", name="dossier.age")).to_be_visible()
    styles = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert styles == "rgb(251, 250, 247)"  # the stylesheet loaded under the CSP
