"""/docs in Chromium: the API reference is there, complete, and loads nothing from another
machine (every request that does not go to 127.0.0.1 is blocked and recorded), with no
CSP violation in the console."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from playwright.sync_api import BrowserContext, ConsoleMessage, Route, expect

from tests.browser.conftest import Site

# injected by the driver before the page's own content (the page's CSP does not apply to
# it): every CSP violation the page causes, as the browser reports it
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def test_docs_lists_every_route_and_nothing_leaves_the_machine(
    context: BrowserContext, site: Site
) -> None:
    left: list[str] = []
    local: list[str] = []

    def only_loopback(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname == "127.0.0.1":
            local.append(url)
            route.continue_()
        else:
            left.append(url)
            route.abort()

    context.route("**/*", only_loopback)
    context.add_init_script(RECORD_VIOLATIONS)
    console: list[str] = []
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    page.on("console", on_console)
    page.goto(site.url)
    page.get_by_role("link", name="API reference").click()  # the home page leads there
    expect(page).to_have_url(f"{site.url}/docs")

    expect(page.locator("h1")).to_have_text("The afterword API")
    checkin = page.locator("#post-switches-switch-id-checkins")
    expect(checkin.locator("h3")).to_have_text("POST /switches/{switch_id}/checkins")
    expect(checkin).to_contain_text("The owner's signed check-in")
    expect(checkin).to_contain_text("switch_id")
    arm = page.locator("#post-switches")
    expect(arm).to_contain_text("multipart/form-data (Body_arm_switches_post)")
    expect(arm.get_by_role("row", name="dossier file yes")).to_be_visible()
    for name in ("manifest", "notice", "custodians", "dossier", "policy"):
        expect(arm.get_by_role("cell", name=name, exact=True)).to_be_visible()
    # every operation of /openapi.json has its row and its section
    spec = httpx.get(f"{site.url}/openapi.json", timeout=10).json()
    lost = httpx.get(f"{site.url}/switches/nowhere", timeout=10)  # a script's wrong path
    assert lost.json() == {
        "error": "nothing at /switches/nowhere",
        "hint": "the API is described at /docs",
    }
    text = page.locator("main").inner_text()
    count = 0
    for path, item in spec["paths"].items():
        for method in item:
            count += 1
            assert f"{method.upper()} {path}" in text, (method, path)
    assert page.locator("main section").count() == count >= 17
    # styled by our own stylesheet, under the CSP, with no script on the page
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(251, 250, 247)"
    assert "<script" not in page.content()

    assert left == [], left
    assert any(u.endswith("/static/style.css") for u in local), local
    assert page.evaluate("window.__violations") == []
    assert not [m for m in console if "Content Security Policy" in m or "Refused" in m], console
