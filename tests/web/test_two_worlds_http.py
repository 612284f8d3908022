"""Two worlds over HTTP: the same random script played twice on the real service (the
FastAPI app served by uvicorn on loopback, a fresh SQLite database each world, mail
through a real aiosmtpd server), once with the owner's real credentials, once where some
owner actions use the duress ones (the duress password, or requests signed with the
duress key, or a dashboard session signed in with the duress password).

Compared, after masking what is random per world (nonces, canary links, CSRF tokens,
cookies, the Date header, the server's port; times are the virtual clock's, alike in both):
every HTTP answer the owner gets (status, headers, body), the dashboard's HTML, the
exported log, every mail delivered to the owner (subject and body) and the public page
/s/ID. As in the engine's test (tests/engine/test_two_worlds.py, whose script and masking
this reuses from tests/two_worlds.py), a real credential's own answers after a duress
action are not compared: the owner chose to look for real.

``AFTERWORD_TWO_WORLDS_EXAMPLES`` raises the number of scripts (``make soak``)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import custodian_credential
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import Engine, ServerKeys
from afterword.store import Store
from afterword.web.app import create_app
from afterword.worker.loop import run_once
from tests.delivery.servers import SmtpServer, text_of
from tests.owner_request import owner_request
from tests.two_worlds import OWNER_ACTIONS, assert_alike, mask, script, stay_coerced, world_engine
from tests.web.conftest import PARTS, Bundles, Clock, start_server

OWNER = "owner@example.org"
PASSWORD, DURESS_PASSWORD = "the real password", "the duress password"
EXAMPLES = int(os.environ.get("AFTERWORD_TWO_WORLDS_EXAMPLES", "6"))
LONG = 10**7  # a duress delay longer than any script: the silent trigger stays pending
POLICY: dict[str, Any] = {
    "interval": 3600,
    "grace": 600,
    "waiting": 600,
    "reminders": [1800, 300],
    "cooling_off": 1200,
}
CONTACTS = {
    "owner": [f"mailto:{OWNER}"],
    "custodians": {"carol": "mailto:carol@example.org"},
    "recipients": ["mailto:press@example.org"],
}
# what the dashboard (a session signed in by password) can do; other actions go by /act
PAGE_ACTIONS = ("checkin", "status", "settings", "canary-add", "release", "abort")
# response headers that differ per request whatever the world: when, and fresh cookies
UNCOMPARED_HEADERS = ("date", "set-cookie")
STRINGS = (
    (re.compile(r'name="csrf" value="[0-9a-f]+"'), 'name="csrf" value="<csrf>"'),
    (re.compile(r"/canary/[A-Za-z0-9_-]+"), "/canary/<token>"),
    (re.compile(r"http://127\.0\.0\.1:\d+"), "<server>"),
)


@dataclass
class Fixture:
    bundles: Bundles
    keys: ServerKeys
    template: Path  # a migrated, empty SQLite database
    duress_key: OwnerKey
    forger: OwnerKey
    root: Path
    count: int = 0

    def code(self, label: str) -> str:
        main = self.bundles.main
        return custodian_credential(main.mnemonics[label], main.switch, label)


@pytest.fixture(scope="module")
def fixture(
    tmp_path_factory: pytest.TempPathFactory, bundles: Bundles, server_keys: ServerKeys
) -> Fixture:
    root = tmp_path_factory.mktemp("two-worlds-http")
    template = root / "template.db"
    store = Store(f"sqlite:///{template}")
    store.migrate()
    store.close()
    return Fixture(bundles, server_keys, template, OwnerKey.generate(), OwnerKey.generate(), root)


@dataclass
class World:
    engine: Engine
    clock: Clock
    smtp: SmtpServer
    http: httpx.Client
    switch: str
    tokens: dict[tuple[str, bool], str] = field(default_factory=dict)
    pages: dict[bool, httpx.Client] = field(default_factory=dict)  # signed in: duress?

    def deliver(self) -> None:
        self.engine.dispatch(
            Dispatcher(Mailer(MailConfig.from_url(self.smtp.url)), WebhookSender())
        )


def seen(response: httpx.Response) -> tuple[Any, ...]:
    """Everything the owner's client receives, masked."""
    headers = sorted(
        (k.lower(), v) for k, v in response.headers.items() if k.lower() not in UNCOMPARED_HEADERS
    )
    # a cookie's value is random; that one was set, and how, is compared
    cookies = sorted(
        re.sub(r"=[^;]*", "=<value>", v, count=1)
        for k, v in response.headers.multi_items()
        if k.lower() == "set-cookie"
    )
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    # the length follows the masked values' lengths, alike in both worlds: compared as is
    return mask((response.status_code, headers, cookies, body), STRINGS)


class Player:
    """Plays one script on one world over HTTP and records what the owner observes."""

    def __init__(self, fx: Fixture, world: World, coerced: bool) -> None:
        self.fx, self.world, self.coerced = fx, world, coerced
        self.ever_duress = False

    def signed(self, key: OwnerKey, action: str, **extra: Any) -> list[Any]:
        w = self.world
        challenge = w.http.post(f"/switches/{w.switch}/challenge")
        nonce = challenge.json()["nonce"]
        request = owner_request(key, w.switch, action, nonce, **extra)
        answer = w.http.post(f"/switches/{w.switch}/owner", json=request)
        return [seen(challenge), seen(answer), answer]

    def page(
        self, duress: bool, fresh: bool = False, keep: bool = True
    ) -> tuple[httpx.Client, list[Any]]:
        """A browser signed in to the dashboard (once per credential, unless ``fresh``), and
        what signing in showed: the login page, the sign-in's answer. ``keep=False``: a
        session signed in for one request only, which the owner's later steps never reuse
        (else the real world would reuse it where the duress world signs in anew)."""
        w = self.world
        if duress in w.pages and not fresh:
            return w.pages[duress], []
        browser = httpx.Client(base_url=str(w.http.base_url), timeout=30)
        if duress in w.pages:
            w.pages[duress].close()
        form = browser.get("/login", params={"switch": w.switch})
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
        assert csrf, form.text
        password = DURESS_PASSWORD if duress else PASSWORD
        signin = browser.post(
            "/login", data={"csrf": csrf[1], "switch": w.switch, "password": password}
        )
        if keep:
            w.pages[duress] = browser
        return browser, [seen(form), seen(signin)]

    def dashboard_form(
        self, browser: httpx.Client, path: str, data: dict[str, str]
    ) -> httpx.Response:
        w = self.world
        shown = browser.get(f"/owner/{w.switch}")
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', shown.text)
        assert csrf, shown.text
        return browser.post(f"/owner/{w.switch}/{path}", data={"csrf": csrf[1], **data})

    def owner_action(self, action: str, params: dict[str, Any], via: str, duress: bool) -> Any:
        w = self.world
        params = dict(params)
        if "in" in params:
            params = {"until": w.clock.now + params.pop("in")}
        password = DURESS_PASSWORD if duress else PASSWORD
        raw: httpx.Response
        if via == "page" and action in PAGE_ACTIONS:
            browser, shown = self.page(duress)
            if action == "checkin":
                raw = self.dashboard_form(browser, "checkin", {})
            elif action == "status":
                raw = browser.get(f"/owner/{w.switch}")
            elif action == "settings":
                raw = self.dashboard_form(browser, "settings", settings_form(w, params, password))
            elif action == "release":  # the switch id typed in, as the page asks
                data = {"confirm": w.switch, "password": password}
                raw = self.dashboard_form(
                    browser, "release", data | ({"skip_waiting": "yes"} if params else {})
                )
            elif action == "abort":
                raw = self.dashboard_form(browser, "abort", {"password": password})
            else:
                data = {k: str(v) for k, v in params.items()} | {"password": password}
                raw = self.dashboard_form(browser, "canary", data)
                self.remember_tokens(params["name"], raw.text)
            shown.append(seen(raw))
            if raw.status_code == 303:  # where the form leads: the dashboard, with its notice
                shown.append(seen(browser.get(raw.headers["location"])))
            return shown
        if via == "signed":
            key = self.fx.duress_key if duress else self.fx.bundles.owner
            *shown, raw = self.signed(key, action, **params)
        else:
            raw = w.http.post(
                f"/switches/{w.switch}/act", json={"password": password, "action": action, **params}
            )
            shown = [seen(raw)]
        if action == "canary-add" and raw.status_code == 200:
            answer = raw.json()
            w.tokens[(params["name"], False)] = answer["token"]
            w.tokens[(params["name"], True)] = answer["duress_token"]
        return shown

    def remember_tokens(self, name: str, html: str) -> None:
        links = re.findall(r"/canary/([A-Za-z0-9_-]+)", html)
        if len(links) >= 2:  # the page shows the real link, then the duress one
            self.world.tokens[(name, False)] = links[0]
            self.world.tokens[(name, True)] = links[1]

    def step(self, item: tuple[Any, ...]) -> Any:
        w, fx = self.world, self.fx
        kind = item[0]
        if kind == "owner":
            (action, params), via, forced = item[1], item[2], item[3]
            duress = self.coerced and forced
            self.ever_duress |= duress
            result = self.owner_action(action, params, via, duress)
            # a real credential's answer after duress may show the truth: not compared
            return result if duress or not self.ever_duress else "real-after-duress"
        if kind == "wait":
            w.clock.now += item[1]
            run_once(w.engine, Dispatcher(Mailer(MailConfig.from_url(w.smtp.url)), WebhookSender()))
            return None
        if kind == "wrong-password":
            return seen(
                w.http.post(
                    f"/switches/{w.switch}/act", json={"password": "not it", "action": item[1]}
                )
            )
        if kind == "wrong-signin":
            browser = httpx.Client(base_url=str(w.http.base_url), timeout=30)
            with browser:
                form = browser.get("/login")
                csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
                assert csrf, form.text
                data = {"csrf": csrf[1], "switch": w.switch, "password": "not it"}
                return seen(browser.post("/login", data=data))
        if kind == "forged":
            return self.signed(fx.forger, item[1])[:2]
        if kind == "forged-csrf":  # a cross-site form: the session's cookie, no token
            # the session this world's owner has, or one signed in for this request alone
            browser, _ = self.page(self.ever_duress, keep=False)
            return seen(browser.post(f"/owner/{w.switch}/checkin", data={"csrf": "0" * 64}))
        if kind in ("vote", "withdraw"):  # custodians see the truth
            w.http.post(
                f"/switches/{w.switch}/custodian", json={"code": fx.code(item[1]), "action": kind}
            )
            return None
        if kind == "bad-code":
            w.http.post(f"/switches/{w.switch}/custodian", json={"code": "0" * 24})
            return None
        if kind == "share":
            words = fx.bundles.main.mnemonics["carol"]
            w.http.post(f"/switches/{w.switch}/shares", json={"mnemonic": words})
            return None
        if kind == "bad-share":
            w.http.post(
                f"/switches/{w.switch}/shares", json={"mnemonic": "academic acid acne " * 6}
            )
            return None
        if kind == "canary":
            token = w.tokens.get((item[1], item[2]))
            if token is not None:
                w.http.post(f"/canary/{token}/checkin")
            return None
        if kind == "public":  # what anyone sees of the switch: the custodians' page
            return seen(w.http.get(f"/s/{w.switch}"))
        raise AssertionError(item)

    def final(self) -> dict[str, Any]:
        """What the owner sees at the end, with the credential of this world's coercion:
        status and exported log by password, the dashboard, the public page, and every mail
        the real SMTP server accepted for the owner."""
        w = self.world
        w.deliver()
        password = DURESS_PASSWORD if self.ever_duress else PASSWORD
        act = f"/switches/{w.switch}/act"
        status = seen(w.http.post(act, json={"password": password, "action": "status"}))
        export = seen(w.http.post(act, json={"password": password, "action": "audit"}))
        browser, signin = self.page(self.ever_duress, fresh=True)
        dashboard = seen(browser.get(f"/owner/{w.switch}"))
        public = seen(w.http.get(f"/s/{w.switch}"))
        mail = [
            mask((m["Subject"], text_of(m)), STRINGS) for m in w.smtp.messages if m["To"] == OWNER
        ]
        return {
            "status": status,
            "export": export,
            "dashboard": [*signin, dashboard],
            "public": public,
            "mail": mail,
        }


def settings_form(w: World, params: dict[str, Any], password: str) -> dict[str, str]:
    """The dashboard's settings form: the current values, with ``params`` changed."""
    values = {**POLICY, **params}
    return {
        "interval": f"{values['interval']}s",
        "grace": f"{values['grace']}s",
        "waiting": f"{values['waiting']}s",
        "reminders": ", ".join(f"{r}s" for r in values["reminders"]),
        "recipients": "\n".join(CONTACTS["recipients"]),
        "password": password,
    }


def open_world(fx: Fixture, delay: int) -> Iterator[World]:
    fx.count += 1
    folder = fx.root / f"w{fx.count}"
    clock = Clock()
    engine = world_engine(fx.template, folder, fx.keys, clock)
    server, thread, url = start_server(create_app(engine))
    smtp = SmtpServer().start()
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            main = fx.bundles.main
            files = [(name, (name, main.part(name), "application/octet-stream")) for name in PARTS]
            files.append(("envelopes", ("server.age", main.envelope("server"), "application/x")))
            armed = http.post(
                "/switches",
                files=files,
                data={
                    "policy": json.dumps({**POLICY, "duress_delay": delay}),
                    "contacts": json.dumps(CONTACTS),
                    "password": PASSWORD,
                    "duress_password": DURESS_PASSWORD,
                    "duress_key": fx.duress_key.public_key,
                },
            )
            assert armed.status_code == 201, armed.text
            world = World(engine, clock, smtp, http, main.switch)
            try:
                yield world
            finally:
                for browser in world.pages.values():
                    browser.close()
    finally:
        smtp.stop()
        server.should_exit = True
        thread.join(10)
        engine.store.close()
        shutil.rmtree(folder, ignore_errors=True)


def play(fx: Fixture, steps: list[Any], delay: int, coerced: bool) -> Any:
    worlds = open_world(fx, delay)
    world = next(worlds)
    try:
        player = Player(fx, world, coerced)
        played = [(i, item, player.step(item)) for i, item in enumerate(steps)]
        return played, player.final()
    finally:
        worlds.close()


http_steps = script(
    ["password", "signed", "page"],
    extra=(
        st.tuples(st.just("wrong-signin"), st.just("")),
        st.tuples(st.just("forged-csrf"), st.just("")),
        st.tuples(st.just("public"), st.just("")),
    ),
    max_size=12,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=http_steps, delay=st.sampled_from([0, LONG]))
@example(  # the decoy's reminders by real mail, and the dashboard after them
    steps=[("owner", ("checkin", {}), "page", True), ("wait", 1800), ("wait", 1500)], delay=0
)
@example(  # wrong passwords and a forged request after a duress check-in, then the page
    steps=[
        ("owner", ("checkin", {}), "password", True),
        ("wrong-password", "status"),
        ("wrong-signin", ""),
        ("forged", "checkin"),
        ("public", ""),
    ],
    delay=0,
)
@example(  # found at 40 examples: the harness reused the real world's session at the end
    steps=[
        ("owner", ("checkin", {}), "password", True),
        ("forged-csrf", ""),
        ("wait", 60),
    ],
    delay=0,
)
@example(  # found by make soak: a forged form's sign-in was kept as the real world's session
    steps=[
        ("forged-csrf", ""),
        ("owner", ("checkin", {}), "password", True),
        ("owner", ("canary-add", OWNER_ACTIONS[11][1]), "page", True),
    ],
    delay=LONG,
)
@example(  # settings and a protected person from the dashboard, votes, time passing
    steps=[
        ("owner", ("settings", {"interval": 5400, "grace": 900}), "page", True),
        ("owner", ("canary-add", OWNER_ACTIONS[10][1]), "page", True),
        ("vote", "alice"),
        ("wait", 2400),
        ("canary", "mother", True),
        ("owner", ("status", {}), "signed", True),
    ],
    delay=LONG,
)
@example(  # issue 19: the dashboard's release form (the id typed), through the waiting
    # period, aborted from the page, then released skipping the wait, under duress
    steps=[
        ("owner", ("release", {}), "page", True),
        ("wait", 300),
        ("owner", ("abort", {}), "page", True),
        ("owner", ("release", {"skip_waiting": True}), "page", True),
        ("owner", ("status", {}), "page", True),
    ],
    delay=0,
)
def test_the_owner_cannot_tell_the_duress_world_from_the_real_one_over_http(
    fixture: Fixture, steps: list[Any], delay: int
) -> None:
    steps = stay_coerced(steps)
    real = play(fixture, steps, delay, coerced=False)
    assert_alike(steps, delay, real, play(fixture, steps, delay, coerced=True))
