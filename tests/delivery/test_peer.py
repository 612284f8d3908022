"""Relays and handoffs to a switch's other servers (delivery/peer.py): the signed document
posted as it is, to the URL after ``peer:``, and two answers that mean "later" rather
than "never": a peer that does not know the switch yet (404), or is not releasing yet
(425, as for every webhook)."""

from __future__ import annotations

import pytest

from afterword.delivery import Dispatcher, Message, PermanentError, TransientError
from afterword.delivery.peer import PeerSender
from tests.delivery.servers import WebhookServer


def relay(url: str) -> Message:
    return Message("relay-sw-1", f"peer:{url}", "afterword relay: sw", '{"afterword":"relay/1"}')


def test_the_document_is_posted_as_it_is_with_the_outbox_id(
    webhook_server: WebhookServer,
) -> None:
    Dispatcher(None, None).send(relay(webhook_server.url))
    (request,) = webhook_server.requests
    assert request.body == {"afterword": "relay/1"}
    assert request.headers["Idempotency-Key"] == "relay-sw-1"
    assert webhook_server.paths == ["/hook"]


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (404, TransientError, "does not know the switch yet"),
        (425, TransientError, "answered HTTP 425"),
        (409, PermanentError, "answered HTTP 409"),
        (403, PermanentError, "answered HTTP 403"),
        (503, TransientError, "answered HTTP 503"),
    ],
)
def test_later_and_never_are_told_apart(
    webhook_server: WebhookServer, status: int, error: type[Exception], words: str
) -> None:
    webhook_server.respond(status)
    with PeerSender(2.0) as sender, pytest.raises(error) as failed:
        sender.send(relay(webhook_server.url))
    assert words in str(failed.value)
    assert "127.0.0.1" in str(failed.value)  # the peer is named, not "peer://"
