"""The owner in Chromium: sign in, see the state, check in, sign out."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import DAY, Site, shot, sign_in


def test_owner_signs_in_checks_in_and_sees_the_countdown_and_timeline_move(
    page: Page, site: Site
) -> None:
    page.goto(f"{site.url}/owner/{site.switch}")
    expect(page).to_have_url(f"{site.url}/login?switch={site.switch}")  # not signed in yet
    shot(page, "login")
    sign_in(page, site)
    expect(page).to_have_url(f"{site.url}/owner/{site.switch}")
    expect(page.locator("#state")).to_contain_text("Armed.")
    expect(page.locator("#countdown")).to_have_text("3 days left")
    checkins = page.locator("#timeline circle.checkin")
    expect(checkins).to_have_count(0)

    site.advance(2 * DAY + 4 * 3600)  # past the reminder a day before the deadline
    page.reload()
    expect(page.locator("#countdown")).to_have_text("20 hours left")
    expect(page.locator("#timeline circle.reminder")).to_have_count(1)

    page.get_by_role("button", name="I'm here").click()
    expect(page.locator("#flash")).to_contain_text("Checked in.")
    expect(page.locator("#countdown")).to_have_text("3 days left")
    expect(checkins).to_have_count(1)
    expect(page.locator("#audit")).to_contain_text("checked-in")
    expect(page.locator("#audit-status")).to_contain_text("Verified")
    assert site.engine.status(site.switch)["deadline"] == site.clock.now + 3 * DAY
    shot(page, "dashboard")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(f"{site.url}/owner/{site.switch}")
    expect(page).to_have_url(f"{site.url}/login?switch={site.switch}")


def test_a_wrong_password_is_refused_on_the_page_and_logged(page: Page, site: Site) -> None:
    sign_in(page, site, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong switch id, password or code.")
    expect(page.get_by_label("Switch id")).to_have_value(site.switch)
    kinds = [e["kind"] for e in site.engine.status(site.switch)["audit"]]
    assert kinds[-1] in ("signin-refused", "sign-in-refused")
    assert "checked-in" not in kinds
