"""Webhook delivery against a real HTTP receiver on loopback."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import httpx
import pytest

import afterword
from afterword.delivery import Message, PermanentError, TransientError, WebhookSender
from afterword.delivery.webhook import DEADLINE
from tests.delivery.servers import Reply, TricklingServer, WebhookServer, refusing_port


def notice(url: str, mid: str = "rel-sw1-hook1") -> Message:
    return Message(
        id=mid,
        to=url,
        subject="Release «Orlov»",
        text="Schlüssel: AGE-SECRET-KEY-1XYZ",
        data={"switch": "sw1", "documents": 3, "titles": ["a", "ü"], "nested": {"k": None}},
    )


@pytest.fixture
def sender() -> WebhookSender:
    return WebhookSender(timeout=2.0)


def test_posts_the_json_body_with_idempotency_key(
    webhook_server: WebhookServer, sender: WebhookSender
) -> None:
    message = notice(webhook_server.url)
    sender.send(message)
    ((headers, body),) = webhook_server.requests
    assert body == {
        "id": message.id,
        "subject": message.subject,
        "text": message.text,
        "data": message.data,
    }
    assert headers["Idempotency-Key"] == message.id
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == f"afterword/{afterword.__version__}"
    assert webhook_server.paths == ["/hook"]


def test_every_retry_carries_the_same_key_and_body(
    webhook_server: WebhookServer, sender: WebhookSender
) -> None:
    webhook_server.script(Reply(503), Reply(500))
    message = notice(webhook_server.url)
    for _ in range(2):
        with pytest.raises(TransientError):
            sender.send(message)
    sender.send(message)
    assert len(webhook_server.requests) == 3
    assert {h["Idempotency-Key"] for h, _ in webhook_server.requests} == {message.id}
    assert all(body == webhook_server.requests[0].body for _, body in webhook_server.requests)


def test_different_messages_have_different_keys(
    webhook_server: WebhookServer, sender: WebhookSender
) -> None:
    sender.send(notice(webhook_server.url, "rel-sw1-a"))
    sender.send(notice(webhook_server.url, "rel-sw1-b"))
    assert [h["idempotency-key"] for h, _ in webhook_server.requests] == ["rel-sw1-a", "rel-sw1-b"]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_delivered(
    webhook_server: WebhookServer, sender: WebhookSender, status: int
) -> None:
    webhook_server.respond(status)
    sender.send(notice(webhook_server.url))


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientError),
        (502, TransientError),
        (503, TransientError),
        (429, TransientError),
        (408, TransientError),
        (404, PermanentError),
        (400, PermanentError),
        (401, PermanentError),
        (410, PermanentError),
        (413, PermanentError),
    ],
)
def test_http_status_is_classified(
    webhook_server: WebhookServer,
    sender: WebhookSender,
    status: int,
    error: type[Exception],
) -> None:
    webhook_server.respond(status)
    with pytest.raises(error) as info:
        sender.send(notice(webhook_server.url))
    assert getattr(info.value, "code", None) == status


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_permanent_and_not_followed(
    webhook_server: WebhookServer, sender: WebhookSender, status: int
) -> None:
    webhook_server.respond(status, {"Location": webhook_server.url + "/elsewhere"})
    with pytest.raises(PermanentError, match="redirect") as info:
        sender.send(notice(webhook_server.url))
    assert "not followed" in info.value.hint
    assert webhook_server.paths == ["/hook"]


def test_redirects_are_not_followed_even_with_a_client_that_would(
    webhook_server: WebhookServer,
) -> None:
    with httpx.Client(follow_redirects=True, timeout=2.0) as client:
        webhook_server.respond(302, {"Location": webhook_server.url + "/elsewhere"})
        with pytest.raises(PermanentError):
            WebhookSender(client=client).send(notice(webhook_server.url))
    assert webhook_server.paths == ["/hook"]


def test_retry_after_is_passed_on(webhook_server: WebhookServer, sender: WebhookSender) -> None:
    webhook_server.script(
        Reply(429, {"Retry-After": "7"}),
        Reply(503, {"Retry-After": formatdate(time.time() + 60, usegmt=True)}),
        Reply(503, {"Retry-After": "soon"}),
    )
    delays = []
    for _ in range(3):
        with pytest.raises(TransientError) as info:
            sender.send(notice(webhook_server.url))
        delays.append(info.value.retry_after)
    assert delays[0] == 7.0
    assert delays[1] is not None and 50 < delays[1] <= 60
    assert delays[2] is None


def test_connection_refused_is_transient(sender: WebhookSender) -> None:
    with refusing_port() as port, pytest.raises(TransientError, match="unreachable"):
        sender.send(notice(f"http://127.0.0.1:{port}/hook"))


def test_timeout_is_transient(webhook_server: WebhookServer) -> None:
    webhook_server.default = Reply(200, delay=3.0)
    start = time.monotonic()
    with pytest.raises(TransientError, match="timed out"):
        WebhookSender(timeout=0.5).send(notice(webhook_server.url))
    assert time.monotonic() - start < 2.0
    assert len(webhook_server.requests) == 1  # it arrived; the answer did not


def test_a_receiver_trickling_its_answer_is_cut_off_at_the_deadline() -> None:
    """Each byte comes well inside the 2 s read timeout, so only a deadline on the whole
    attempt ends it: without one, send() never returned (the attack that held the worker
    for ever). The bound is generous for a loaded machine; the point is that it returns."""
    assert WebhookSender().deadline == DEADLINE == 30.0
    with TricklingServer(pause=0.3) as peer, WebhookSender(timeout=2.0, deadline=3.0) as sender:
        start = time.monotonic()
        with pytest.raises(TransientError, match="timed out"):
            sender.send(notice(peer.url))
        elapsed = time.monotonic() - start
        assert peer.hits == 1
    assert 2.5 < elapsed < 3.0 + 10


def test_localhost_and_ipv4_loopback_are_allowed_over_http(
    webhook_server: WebhookServer, sender: WebhookSender
) -> None:
    sender.send(notice(f"http://localhost:{webhook_server.port}/hook"))
    assert len(webhook_server.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "file:///etc/passwd",
        "gopher://example.org/",
        "mailto:a@example.org",
        "http://example.com",
        "http://example.com/hook",
        "http://10.0.0.1/hook",
        "http://127.0.0.2/hook",
        "https://",
        "not a url",
    ],
)
def test_unusable_urls_are_permanent_without_network_access(url: str) -> None:
    attempts: list[httpx.Request] = []
    with (
        httpx.Client(event_hooks={"request": [attempts.append]}) as client,
        pytest.raises(PermanentError),
    ):
        WebhookSender(client=client).send(notice(url))
    assert attempts == []


def test_data_that_is_not_json_is_permanent(webhook_server: WebhookServer) -> None:
    message = Message("m", webhook_server.url, "s", "t", {"when": object()})
    with pytest.raises(PermanentError, match="not JSON"):
        WebhookSender(timeout=2.0).send(message)
    assert webhook_server.requests == []


def test_logs_name_id_and_host_never_body_or_url_secret(
    webhook_server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="afterword.delivery")
    secret_url = webhook_server.url + "/T0KEN-IN-PATH?sig=QUERY-SECRET"
    sender = WebhookSender(timeout=2.0)
    sender.send(notice(secret_url, "rel-ok"))
    webhook_server.respond(500)
    with pytest.raises(TransientError) as info:
        sender.send(notice(secret_url, "rel-fail"))
    for text in (caplog.text, str(info.value)):
        for secret in ("AGE-SECRET-KEY", "Orlov", "T0KEN-IN-PATH", "QUERY-SECRET"):
            assert secret not in text
    assert "rel-ok" in caplog.text and "rel-fail" in caplog.text
    assert f"http://127.0.0.1:{webhook_server.port}" in caplog.text
    assert "transient" in caplog.text


def test_sender_closes_only_its_own_client(webhook_server: WebhookServer) -> None:
    with httpx.Client(timeout=2.0) as client:
        with WebhookSender(client=client) as sender:
            sender.send(notice(webhook_server.url))
        assert not client.is_closed
    with WebhookSender() as own:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        # Using a closed sender is a bug in the caller, not a delivery failure to retry.
        own.send(notice(webhook_server.url))
