"""The real app on loopback (SQLite), a switch armed on it, and Debian's Chromium driven by
Playwright (its driver only: the browser is /usr/bin/chromium, which `make test` installs).

``site`` starts a fresh server per test with a switch of the session's ``bundles`` armed
with a check-in password: server + alice (age) + carol (paper), any 2 of 3, checking in
every 3 days, 1 day of grace, 1 day of waiting. The engine's clock is the test's to move.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.store import Store
from afterword.switch.policy import Policy
from afterword.web.app import create_app
from tests.web.conftest import T0, Bundle, Bundles, Clock, bundles, server_keys, start_server

__all__ = ["bundles", "server_keys"]  # fixtures shared with the API tests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long check-in password"
DAY = 86400
POLICY = Policy(interval=3 * DAY, grace=DAY, waiting=DAY, reminders=(DAY,))
CONTACTS = Contacts(
    owner=["mailto:owner@example.org"],
    custodians={"alice": "mailto:alice@example.org", "carol": "mailto:carol@example.org"},
    recipients=["mailto:desk@newspaper.example", "https://hooks.example.org/release"],
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class Site:
    url: str
    engine: Engine
    clock: Clock
    bundle: Bundle
    bundles: Bundles

    @property
    def switch(self) -> str:
        return self.bundle.switch

    def advance(self, seconds: int) -> None:
        """Move the clock and let the scheduler act, as the worker would."""
        self.clock.now += seconds
        self.engine.tick()

    def to_releasing(self) -> None:
        """Fall silent past the deadline, grace and waiting: the server submits its share."""
        for step in (POLICY.interval, POLICY.grace, POLICY.waiting):
            self.advance(step + 1)
        assert self.engine.status(self.switch)["state"] == "releasing"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, headers={"accept": "text/html"})


def arm(engine: Engine, bundle: Bundle, *, totp: bool = False) -> dict[str, Any]:
    return engine.arm(
        manifest=bundle.doc("manifest"),
        notice=bundle.doc("notice"),
        custodians=bundle.doc("custodians"),
        dossier=io.BytesIO(bundle.part("dossier")),
        policy=POLICY,
        contacts=CONTACTS,
        server_envelopes={"server": bundle.envelope("server")},
        password=PASSWORD,
        totp=totp,
    )


@pytest.fixture
def site(tmp_path: Path, server_keys: ServerKeys, bundles: Bundles) -> Iterator[Site]:
    store = Store(f"sqlite:///{tmp_path / 'afterword.db'}")
    store.migrate()
    clock = Clock()
    assert clock.now == T0
    engine = Engine(
        store, server_keys, Config(tmp_path / "server", "http://127.0.0.1:9", min_duration=1), clock
    )
    arm(engine, bundles.main)
    server, thread, url = start_server(create_app(engine))
    try:
        yield Site(url, engine, clock, bundles.main, bundles)
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is not installed; `make test` installs Debian's chromium")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 960, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shot(page: Page, name: str) -> None:
    """A screenshot for the README (docs/screenshots/NAME.png), taken from the test run."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, site: Site, password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/login")
    page.get_by_label("Switch id").fill(site.switch)
    page.get_by_label("Check-in password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "no CSRF field in the form"
    return found.group(1)
