"""Coercion in Chromium: custodians see the truth and vote with their code, a protected
person checks in from their link (the duress link looks the same), and an owner signed in
with the duress password is shown a decoy."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from afterword.crypto.shares import custodian_credential
from afterword.engine import OwnerSession
from tests.browser.conftest import DAY, Site, shot, sign_in

DURESS_PASSWORD = "the password they make me type"


def code_of(site: Site, label: str) -> str:
    return custodian_credential(site.bundle.mnemonics[label], site.switch, label)


def enter_code(page: Page, site: Site, code: str) -> None:
    page.goto(f"{site.url}/s/{site.switch}")
    page.get_by_label("Your custodian code").fill(code)
    page.get_by_role("button", name="Continue").click()


def test_custodian_sees_the_true_state_and_votes_with_their_code(page: Page, site: Site) -> None:
    enter_code(page, site, "a" * 32)
    expect(page.locator("#code-error")).to_contain_text("not valid for this switch")
    enter_code(page, site, "not a code")
    expect(page.locator("#code-error")).to_contain_text("not a custodian code")

    code = code_of(site, "carol")
    enter_code(page, site, "-".join(code[i : i + 4] for i in range(0, 32, 4)).upper())
    truth = page.locator("#truth")
    expect(page.get_by_role("heading", name="Signed in as custodian carol")).to_be_visible()
    expect(truth).to_contain_text("The owner is checking in.")
    expect(truth).to_contain_text("0 of 2 custodians have voted to release.")

    page.get_by_role("button", name="Vote to release").click()
    expect(page.locator("#flash")).to_have_text("Your vote is counted.")
    expect(truth).to_contain_text("1 of 2 custodians have voted to release. You have voted.")
    shot(page, "custodian-vote")
    page.get_by_role("button", name="Withdraw my vote").click()
    expect(page.locator("#flash")).to_have_text("Your vote is withdrawn.")
    expect(truth).to_contain_text("0 of 2 custodians have voted")

    page.get_by_role("button", name="Vote to release").click()
    site.engine.custodian(site.switch, code_of(site, "alice"), "vote")  # the second vote
    page.reload()
    expect(truth).to_contain_text("The switch has triggered.")
    expect(truth).to_contain_text("custodians voted to release it")
    expect(page.get_by_role("button", name="Withdraw my vote")).to_have_count(0)

    page.get_by_role("button", name="Sign out (forget my code on this browser)").click()
    expect(page.get_by_label("Your custodian code")).to_be_visible()


def test_a_protected_person_checks_in_and_the_duress_link_looks_the_same(
    context: BrowserContext, site: Site
) -> None:
    links = site.engine.session_action(
        OwnerSession(site.switch, False),
        "canary-add",
        {"name": "mother", "interval": 2 * DAY, "grace": DAY, "on_miss": "alert"},
    )
    page, other = context.new_page(), context.new_page()
    page.goto(f"{site.url}/canary/{links['token']}")
    other.goto(f"{site.url}/canary/{links['duress_token']}")
    expect(page.locator("h1")).to_have_text("Hello mother")
    expect(page.locator("#countdown")).to_have_text("2 days left")
    assert page.inner_text("main") == other.inner_text("main")  # nothing tells them apart

    site.advance(DAY)
    page.reload()
    expect(page.locator("#countdown")).to_have_text("1 day left")
    page.get_by_role("button", name="I'm OK").click()
    expect(page.locator("#flash")).to_have_text("Thank you: you checked in.")
    expect(page.locator("#countdown")).to_have_text("2 days left")
    shot(page, "canary")
    kinds = [e["kind"] for e in site.engine.status(site.switch)["audit"]]
    assert kinds[-1] == "canary-checkin"

    other.reload()
    other.get_by_role("button", name="I'm OK").click()
    expect(other.locator("#flash")).to_have_text("Thank you: you checked in.")
    assert other.inner_text("main") == page.inner_text("main")
    kinds = [e["kind"] for e in site.engine.status(site.switch)["audit"]]
    assert "canary" in kinds  # the alarm, silently

    response = page.goto(f"{site.url}/canary/{'0' * 32}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("alert")).to_contain_text("This check-in link is not valid")


def test_the_duress_password_opens_a_decoy_dashboard(page: Page, site: Site) -> None:
    site.engine.session_action(
        OwnerSession(site.switch, False), "set-duress", {"duress_password": DURESS_PASSWORD}
    )
    sign_in(page, site, password=DURESS_PASSWORD)
    expect(page.locator("#state")).to_contain_text("Armed.")
    expect(page.locator("#countdown")).to_have_text("3 days left")
    site.advance(DAY)
    page.get_by_role("button", name="I'm here").click()
    expect(page.locator("#flash")).to_contain_text("Checked in.")
    expect(page.locator("#countdown")).to_have_text("3 days left")
    expect(page.locator("#timeline circle.checkin")).to_have_count(1)
    expect(page.locator("#audit-status")).to_contain_text("Verified")
    assert "duress" not in page.inner_text("main")

    truth = site.engine.status(site.switch)
    assert "duress" in [e["kind"] for e in truth["audit"]]
    assert truth["state"] != "armed" or truth["next_event_at"] != truth["deadline"]
