"""The owner in Chromium: sign in, see the state, check in, sign out."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import DAY, PASSWORD, Site, shot, sign_in


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


def test_the_owner_changes_settings_and_adds_a_protected_person_with_the_password(
    page: Page, site: Site
) -> None:
    sign_in(page, site)
    form = page.locator("#settings")
    form.get_by_label("Check in every").fill("2d")
    form.get_by_label("Reminders before a deadline").fill("12h")
    form.get_by_label("Recipients of a release, one per line").fill("mailto:desk@example.org")
    form.get_by_label("Your password").fill("not the password")
    form.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("wrong password or code", exact=False)).to_be_visible()
    assert site.engine.status(site.switch)["policy"]["interval"] == 3 * DAY  # unchanged

    page.goto(f"{site.url}/owner/{site.switch}")
    form = page.locator("#settings")
    form.get_by_label("Check in every").fill("2d")
    form.get_by_label("Reminders before a deadline").fill("12h")
    form.get_by_label("Recipients of a release, one per line").fill("mailto:desk@example.org")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator("#flash")).to_contain_text("Settings saved.")
    status = site.engine.status(site.switch)
    assert status["policy"]["interval"] == 2 * DAY and status["policy"]["reminders"] == [43200]
    assert status["recipients"] == ["mailto:desk@example.org"]
    expect(page.get_by_label("Check in every")).to_have_value("2d")

    add = page.locator("#add-canary")
    add.get_by_label("Name").fill("mother")
    add.get_by_label("Your password").fill(PASSWORD)
    add.get_by_role("button", name="Add").click()
    link = page.locator("#canary-url")
    expect(link).to_contain_text("/canary/")
    expect(page.locator("#canary-duress-url")).to_contain_text("/canary/")
    shot(page, "canary-added")
    page.goto(f"{site.url}/canary/{link.inner_text().rsplit('/', 1)[1]}")
    expect(page.get_by_role("button")).to_be_visible()
    assert [c["name"] for c in site.engine.status(site.switch)["canaries"]] == ["mother"]
