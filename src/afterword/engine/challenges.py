"""Check-in challenges that cost the database nothing until they are used.

A signed owner request must quote a nonce the server issued for that switch, unused and
unexpired, so a recorded request can never be replayed. The nonce carries its own proof:
its expiry and 12 random bytes, MACed (HMAC-SHA256, truncated to 16 bytes) with a key
derived from the server's signing key, for this switch. Issuing one is therefore a
computation, not a write; only a spent nonce is stored (``repository.spend_nonce``), until
it expires, which is what refuses a replay.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from afterword.crypto.request import NONCE_MAC, NONCE_RANDOM, NONCE_SHAPE, NONCE_TTL, stated_expiry
from afterword.engine.keys import ServerKeys

__all__ = ["NONCE_TTL", "SPENT_KEPT", "Challenges", "stated_expiry"]

SPENT_KEPT = 3600  # a spent nonce is remembered this long past its expiry: a clock set
# back by up to this much cannot make a forgotten one quotable again


class Challenges:
    """Issues nonces and checks the ones quoted back, for one server key."""

    def __init__(self, keys: ServerKeys) -> None:
        self._key = keys.derived_key("check-in challenges v1")

    def issue(self, switch_id: str, expires_at: int) -> str:
        body = struct.pack(">Q", expires_at) + secrets.token_bytes(NONCE_RANDOM)
        return base64.urlsafe_b64encode(body + self._mac(switch_id, body)).decode()

    def expiry(self, switch_id: str, nonce: object, now: int) -> int | None:
        """When ``nonce`` expires, if this server issued it for this switch and it has not
        expired yet; else None. (Whether it was used is the database's to say.)"""
        if not isinstance(nonce, str) or not NONCE_SHAPE.fullmatch(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (binascii.Error, ValueError):
            return None
        body, mac = raw[:-NONCE_MAC], raw[-NONCE_MAC:]
        if not hmac.compare_digest(mac, self._mac(switch_id, body)):
            return None
        (expires_at,) = struct.unpack(">Q", body[:8])
        return expires_at if now <= expires_at <= now + NONCE_TTL else None

    def _mac(self, switch_id: str, body: bytes) -> bytes:
        message = switch_id.encode() + b"\0" + body
        return hmac.new(self._key, message, hashlib.sha256).digest()[:NONCE_MAC]
