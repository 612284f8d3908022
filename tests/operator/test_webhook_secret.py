"""A webhook's signing secret, once handed to the server, is shown to nobody: not in the
status JSON, the audit log, the owner's dashboard, nor anything logged; the dashboard
shows the address with the secret hidden, and saving its settings as shown keeps the
secret. Deliveries through the outbox are signed with it (verified by the
``standardwebhooks`` package, on a real loopback receiver)."""

from __future__ import annotations

import base64
import html
import json
import logging
import os
import re
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from afterword.delivery import Dispatcher, WebhookSender
from afterword.store.models import SwitchRow
from afterword.worker.loop import run_once
from tests.delivery.servers import WebhookServer
from tests.web.conftest import POLICY, T0, Api

PASSWORD = "the real check-in password"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
HIDDEN = "#whsec_(hidden)"


def arm(api: Api, hook: str) -> str:
    contacts: dict[str, Any] = {
        "owner": [f"{hook}#{SECRET}"],
        "custodians": {"carol": f"https://carol.example.org/in#{SECRET}"},
        "recipients": ["mailto:press@example.org", f"https://hooks.example.org/r#{SECRET}"],
    }
    response = api.arm(
        api.bundles.main,
        policy=json.dumps(POLICY),
        contacts=json.dumps(contacts),
        extra={"password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    assert SECRET[6:] not in response.text
    return str(response.json()["switch"])


def dashboard(api: Api, switch: str) -> tuple[httpx.Client, str]:
    browser = httpx.Client(base_url=api.url, timeout=30)
    form = browser.get("/login", params={"switch": switch})
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert csrf, form.text
    signed_in = browser.post(
        "/login", data={"csrf": csrf[1], "switch": switch, "password": PASSWORD}
    )
    assert signed_in.status_code in (200, 303), signed_in.text
    page = browser.get(f"/owner/{switch}")
    assert page.status_code == 200, page.text
    return browser, page.text


def stored_contacts(api: Api, switch: str) -> dict[str, Any]:
    with api.engine.store.transaction() as s:
        row = s.get(SwitchRow, switch)
        assert row is not None
        contacts: dict[str, Any] = json.loads(row.contacts)
        return contacts


def test_the_secret_is_shown_nowhere_and_signs_every_delivery(
    api: Api, webhook_server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    switch = arm(api, webhook_server.url)

    status = api.http.post(
        f"/switches/{switch}/act", json={"password": PASSWORD, "action": "status"}
    )
    assert status.status_code == 200, status.text
    assert SECRET[6:] not in status.text
    assert status.json()["recipients"] == [
        "mailto:press@example.org",
        f"https://hooks.example.org/r{HIDDEN}",
    ]
    audit = api.http.post(f"/switches/{switch}/act", json={"password": PASSWORD, "action": "audit"})
    assert audit.status_code == 200 and SECRET[6:] not in audit.text

    browser, page = dashboard(api, switch)
    try:
        assert SECRET[6:] not in page
        shown = html.unescape(page)
        assert f"https://hooks.example.org/r{HIDDEN}" in shown  # the recipient, its secret hidden
        assert f"https://carol.example.org/in{HIDDEN}" in shown  # a custodian's contact too
        # saving the settings as the form shows them keeps the secret it had
        textarea = re.search(r'name="recipients"[^>]*>([^<]*)</textarea>', page, re.S)
        assert textarea, page
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
        assert csrf
        saved = browser.post(
            f"/owner/{switch}/settings",
            data={
                "csrf": csrf[1],
                "interval": "1h",
                "grace": "10m",
                "waiting": "10m",
                "reminders": "30m",
                "recipients": html.unescape(textarea[1]),
                "password": PASSWORD,
            },
        )
        assert saved.status_code in (200, 303), saved.text
        assert SECRET[6:] not in saved.text
    finally:
        browser.close()
    assert stored_contacts(api, switch)["recipients"] == [
        "mailto:press@example.org",
        f"https://hooks.example.org/r#{SECRET}",
    ]

    # the owner's reminder (a webhook on loopback) goes out signed through the outbox
    api.clock.now = T0 + 1800
    sender = Dispatcher(None, WebhookSender())
    try:
        run_once(api.engine, sender)
    finally:
        sender.close()
    (headers, body), raw = webhook_server.requests[0], webhook_server.raw[0]
    assert Webhook(SECRET).verify(raw, dict(headers)) == body
    assert headers["webhook-id"] == headers["Idempotency-Key"] == body["id"]
    assert webhook_server.paths[0] == "/hook"

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook" in logged and SECRET[6:] not in logged and "whsec" not in logged


def test_an_address_with_a_broken_secret_is_refused_without_echoing_it(api: Api) -> None:
    broken = "whsec_" + base64.b64encode(b"too short to sign with").decode()
    contacts = {"recipients": [f"https://hooks.example.org/r#{broken}"]}
    response = api.arm(api.bundles.main, contacts=json.dumps(contacts))
    assert response.status_code == 400, response.text
    assert "22 bytes, not 24 to 64" in response.json()["error"]
    assert "#whsec_BASE64" in response.json()["hint"]
    assert broken[6:] not in response.text
