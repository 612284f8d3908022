"""Routing by recipient scheme, with both real receivers running."""

from __future__ import annotations

import pytest

from afterword.delivery import (
    Dispatcher,
    MailConfig,
    Mailer,
    Message,
    PermanentError,
    Sender,
    TransientError,
    WebhookSender,
)
from tests.delivery.servers import SmtpServer, WebhookServer


def message(to: str, mid: str = "rem-sw1-1") -> Message:
    return Message(mid, to, "Check in", "Please check in by Friday.", {"switch": "sw1"})


@pytest.fixture
def dispatcher(smtp_server: SmtpServer) -> Dispatcher:
    return Dispatcher(Mailer(MailConfig.from_url(smtp_server.url), timeout=2.0), WebhookSender(2.0))


def test_mailto_goes_to_the_mailer(
    dispatcher: Dispatcher, smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    dispatcher.send(message("mailto:owner@example.org"))
    dispatcher.send(message("MAILTO:custodian@example.org", "cus-sw1-1"))
    assert [e.rcpt_tos for e in smtp_server.envelopes] == [
        ["owner@example.org"],
        ["custodian@example.org"],
    ]
    assert webhook_server.requests == []


def test_http_goes_to_the_webhook_sender(
    dispatcher: Dispatcher, smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    dispatcher.send(message(webhook_server.url))
    ((headers, body),) = webhook_server.requests
    assert headers["Idempotency-Key"] == body["id"] == "rem-sw1-1"
    assert smtp_server.messages == []


def test_errors_of_the_channel_pass_through(
    dispatcher: Dispatcher, smtp_server: SmtpServer, webhook_server: WebhookServer
) -> None:
    smtp_server.rcpt_reply = "451 try later"
    with pytest.raises(TransientError):
        dispatcher.send(message("mailto:owner@example.org"))
    webhook_server.respond(404)
    with pytest.raises(PermanentError):
        dispatcher.send(message(webhook_server.url))


def test_mailto_without_a_mailer_names_the_setting(webhook_server: WebhookServer) -> None:
    with pytest.raises(PermanentError) as info:
        Dispatcher(None, WebhookSender(2.0)).send(message("mailto:owner@example.org"))
    assert "AFTERWORD_SMTP_URL" in str(info.value)
    assert info.value.message_id == "rem-sw1-1"


def test_webhook_without_a_sender_is_permanent(smtp_server: SmtpServer) -> None:
    mailer = Mailer(MailConfig.from_url(smtp_server.url), timeout=2.0)
    with pytest.raises(PermanentError, match="webhooks are disabled"):
        Dispatcher(mailer, None).send(message("https://hooks.example/secret-token"))


@pytest.mark.parametrize("to", ["ftp://x", "owner@example.org", "", "tel:+15555550100"])
def test_unknown_schemes_are_permanent(dispatcher: Dispatcher, to: str) -> None:
    with pytest.raises(PermanentError, match="unsupported recipient scheme"):
        dispatcher.send(message(to))


def test_every_channel_is_a_sender(dispatcher: Dispatcher) -> None:
    senders: list[Sender] = [dispatcher, WebhookSender(2.0)]
    assert all(callable(s.send) for s in senders)
