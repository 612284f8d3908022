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
import re
import secrets
import struct

from afterword.engine.keys import ServerKeys

NONCE_TTL = 300
SPENT_KEPT = 3600  # a spent nonce is remembered this long past its expiry: a clock set
# back by up to this much cannot make a forgotten one quotable again
_RANDOM = 12
_MAC = 16
_SHAPE = re.compile(r"[A-Za-z0-9_-]{48}")  # 8 + 12 + 16 bytes, base64url without padding


class Challenges:
    """Issues nonces and checks the ones quoted back, for one server key."""

    def __init__(self, keys: ServerKeys) -> None:
        self._key = keys.derived_key("check-in challenges v1")

    def issue(self, switch_id: str, expires_at: int) -> str:
        body = struct.pack(">Q", expires_at) + secrets.token_bytes(_RANDOM)
        return base64.urlsafe_b64encode(body + self._mac(switch_id, body)).decode()

    def expiry(self, switch_id: str, nonce: object, now: int) -> int | None:
        """When ``nonce`` expires, if this server issued it for this switch and it has not
        expired yet; else None. (Whether it was used is the database's to say.)"""
        if not isinstance(nonce, str) or not _SHAPE.fullmatch(nonce):
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce)
        except (binascii.Error, ValueError):
            return None
        body, mac = raw[:-_MAC], raw[-_MAC:]
        if not hmac.compare_digest(mac, self._mac(switch_id, body)):
            return None
        (expires_at,) = struct.unpack(">Q", body[:8])
        return expires_at if now <= expires_at <= now + NONCE_TTL else None

    def _mac(self, switch_id: str, body: bytes) -> bytes:
        message = switch_id.encode() + b"\0" + body
        return hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC]


def stated_expiry(nonce: object) -> int | None:
    """When a nonce says it expires, read without its MAC: for a peer of the server that
    issued it, which cannot check the MAC but can trust the instant in a request the owner
    signed (the signature covers the nonce). None if it is no nonce of this shape."""
    if not isinstance(nonce, str) or not _SHAPE.fullmatch(nonce):
        return None
    return int(struct.unpack(">Q", base64.urlsafe_b64decode(nonce)[:8])[0])
