"""Signed webhooks (Standard Webhooks): a recipient ``URL#whsec_<base64>`` gets every
delivery signed, and a receiver nobody here wrote (the ``standardwebhooks`` package)
verifies it against the body it received on a real loopback HTTP server; a tampered body,
an old timestamp or another secret is rejected by it. The secret itself never leaves in
the request (the fragment is not sent) and is never logged."""

from __future__ import annotations

import base64
import logging
import os
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from afterword.delivery import Message, PermanentError, WebhookSender
from afterword.delivery.webhook import parse_secret, redact
from tests.delivery.servers import Reply, WebhookServer

KEY = os.urandom(32)
SECRET = "whsec_" + base64.b64encode(KEY).decode()


def message(url: str, message_id: str = "release-1:hook") -> Message:
    return Message(message_id, url, "Released", "The dossier key is ...", {"switch": "s1"})


def test_a_signed_delivery_verifies_with_the_standard_library_of_the_spec(
    webhook_server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with WebhookSender() as sender:
        sender.send(message(f"{webhook_server.url}#{SECRET}"))
    (headers, body), raw = webhook_server.requests[0], webhook_server.raw[0]
    assert headers["webhook-id"] == headers["Idempotency-Key"] == "release-1:hook"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(raw, dict(headers)) == body
    assert body["id"] == "release-1:hook"
    # the secret is never sent: the path arrived without the fragment, and no header has it
    assert webhook_server.paths == ["/hook"]
    sent = " ".join(f"{k}: {v}" for k, v in headers.items()) + raw.decode()
    assert SECRET[6:] not in sent and "whsec" not in sent
    # ... nor logged
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "delivered" in logged
    assert SECRET[6:] not in logged and "whsec" not in logged


def test_the_receiver_rejects_a_tampered_body_another_secret_and_an_old_timestamp(
    webhook_server: WebhookServer,
) -> None:
    with WebhookSender() as sender:
        sender.send(message(f"{webhook_server.url}#{SECRET}"))
    with WebhookSender(clock=lambda: time.time() - 600) as late:  # signed 10 minutes ago
        late.send(message(f"{webhook_server.url}#{SECRET}", "release-1:late"))
    (headers, _), (old_headers, _) = webhook_server.requests
    raw, old_raw = webhook_server.raw
    receiver = Webhook(SECRET)
    receiver.verify(raw, dict(headers))  # the untouched one passes
    tampered = raw.replace(b"The dossier key", b"The dossier kex")
    assert tampered != raw
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(tampered, dict(headers))
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(base64.b64encode(os.urandom(32)).decode()).verify(raw, dict(headers))
    forged = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) + 1)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        receiver.verify(raw, forged)
    with pytest.raises(WebhookVerificationError, match="too old"):
        receiver.verify(old_raw, dict(old_headers))


def test_a_retry_is_the_same_message_signed_anew(webhook_server: WebhookServer) -> None:
    """The id (and the body) stay the same on a retry, so a receiver deduplicates on
    ``webhook-id``; each attempt is signed at its own time and verifies."""
    webhook_server.script(Reply(503))
    url = f"{webhook_server.url}#{SECRET}"
    with WebhookSender() as sender:
        with pytest.raises(Exception, match="503"):
            sender.send(message(url))
        sender.send(message(url))
    first, second = webhook_server.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "release-1:hook"
    assert webhook_server.raw[0] == webhook_server.raw[1]
    for (headers, _), raw in zip(webhook_server.requests, webhook_server.raw, strict=True):
        Webhook(SECRET).verify(raw, dict(headers))


def test_without_a_secret_nothing_is_signed(webhook_server: WebhookServer) -> None:
    with WebhookSender() as sender:
        sender.send(message(webhook_server.url))
    headers = webhook_server.requests[0].headers
    assert "webhook-signature" not in headers and "webhook-id" not in headers
    assert headers["Idempotency-Key"] == "release-1:hook"


@pytest.mark.parametrize(
    ("fragment", "said"),
    [
        ("whsec_not*base64", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "5 bytes, not 24 to 64"),
        ("whsec_(hidden)", "shown hidden"),
    ],
)
def test_a_broken_secret_is_refused_before_anything_is_sent(
    webhook_server: WebhookServer, fragment: str, said: str
) -> None:
    with WebhookSender() as sender, pytest.raises(PermanentError) as refused:
        sender.send(message(f"{webhook_server.url}#{fragment}"))
    assert said in str(refused.value)
    assert "#whsec_" in (refused.value.hint or "")
    assert fragment.removeprefix("whsec_") not in str(refused.value)
    assert webhook_server.requests == []


def test_redact_hides_the_secret_and_nothing_else() -> None:
    url = f"https://hooks.example.org/a?b=c#{SECRET}"
    assert redact(url) == "https://hooks.example.org/a?b=c#whsec_(hidden)"
    assert redact("https://hooks.example.org/a#top") == "https://hooks.example.org/a#top"
    assert parse_secret(url) == KEY
    assert parse_secret(f"https://h.example/#{SECRET.rstrip('=')}") == KEY  # unpadded too
