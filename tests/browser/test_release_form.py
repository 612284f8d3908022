"""Issue 19, point 1, on the dashboard: the release button asks for the switch id typed
in (checked by the server: plain HTML, JavaScript off), goes through the waiting period
unless the owner ticks "skip the waiting period", and a release waiting can be aborted
from the page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import PASSWORD, POLICY, Site, sign_in


@pytest.fixture
def nojs(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False, viewport={"width": 960, "height": 900})
    yield context.new_page()
    context.close()


def release(page: Page, typed: str, *, skip: bool = False) -> None:
    form = page.locator("form#release")
    form.locator("#r-confirm").fill(typed)
    if skip:
        form.get_by_label("Skip the waiting period").check()
    form.locator("#r-password").fill(PASSWORD)
    form.get_by_role("button", name="Release").click()


def test_the_release_button_asks_for_the_switch_id(nojs: Page, site: Site) -> None:
    page = nojs
    sign_in(page, site)
    expect(page.locator("form#abort")).to_have_count(0)  # nothing to abort yet
    expect(page.locator("form#release")).to_contain_text("Until then you can still abort it")

    release(page, "not-this-switch")
    expect(page.locator("main")).to_contain_text("does not match this switch")
    expect(page.locator("main")).to_contain_text(f"type {site.switch}")
    assert site.engine.status(site.switch)["state"] == "armed"

    page.goto(f"{site.url}/owner/{site.switch}")
    release(page, site.switch.upper())  # typed in capitals: the same id
    expect(page.locator("#flash")).to_contain_text("Release started")
    expect(page.locator("#state")).to_contain_text("unless you abort it")
    status = site.engine.status(site.switch)
    assert (status["state"], status["cause"]) == ("triggered", "owner")
    assert status["release_at"] == site.clock.now + POLICY.waiting

    form = page.locator("form#abort")
    form.locator("#a-password").fill(PASSWORD)
    form.get_by_role("button", name="Abort the release").click()
    expect(page.locator("#flash")).to_contain_text("Release aborted")
    assert site.engine.status(site.switch)["state"] == "armed"

    release(page, site.switch, skip=True)
    expect(page.locator("#flash")).to_contain_text("can no longer be stopped")
    status = site.engine.status(site.switch)
    assert status["state"] in ("releasing", "released") and status["cause"] == "deliberate"
    expect(page.locator("form#release")).to_have_count(0)


def test_a_switch_id_typed_in_capitals_is_the_same_switch(nojs: Page, site: Site) -> None:
    """Issue 19, point 9: an id copied by hand from a card or a screen, in any case."""
    page = nojs
    page.goto(f"{site.url}/s/{site.switch.upper()}")
    assert page.url == f"{site.url}/s/{site.switch}"
    page.goto(f"{site.url}/login")
    page.get_by_label("Switch id").fill(site.switch.upper())
    page.get_by_label("Check-in password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert page.url == f"{site.url}/owner/{site.switch}"
    page.goto(f"{site.url}/owner/{site.switch.upper()}?page=1")
    assert page.url == f"{site.url}/owner/{site.switch}?page=1"
    expect(page.locator("h1")).to_contain_text(site.switch)
