"""Relays to a switch's other servers: ``peer:URL`` messages of the outbox.

A relay (``relay/1``, see ``crypto/relay.py``) is already a signed JSON document: it is
posted to ``URL`` as it is, through the webhook sender's machinery (the same deadline,
no redirects, https except on loopback, the outbox id as ``Idempotency-Key``). One thing
differs: a peer that does not know the switch yet (404) is retried, since the owner arms
the servers of a switch one after the other, and a relay must not be lost to the order.
(A peer not releasing yet answers a handoff 425 Too Early, retried as every webhook's
is: its own deadline may come a little later than the sender's.)
"""

from __future__ import annotations

import httpx

from afterword.delivery.message import Message, TransientError
from afterword.delivery.webhook import WebhookSender, _classify, check_url

PEER_SCHEME = "peer:"
"""Outbox recipients ``peer:URL``: a relay, posted to ``URL`` (the engine's ``peers.py``)."""


class PeerSender(WebhookSender):
    """Posts a ``peer:URL`` message's text (a signed relay) to ``URL``."""

    def _request(self, message: Message) -> tuple[httpx.URL, bytes]:
        return check_url(self._target(message)), message.text.encode("utf-8")

    def _classify(self, response: httpx.Response, message_id: str, where: str) -> None:
        if response.status_code == 404:  # not armed there yet: it will be
            raise TransientError(
                f"peer {where} does not know the switch yet", message_id=message_id
            )
        _classify(response, message_id, where)

    def _target(self, message: Message) -> str:
        return message.to.removeprefix(PEER_SCHEME)
