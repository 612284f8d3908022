"""A protected person's check-in, relayed by the server that took it to another server of
the switch (``canary-checkin/1``), sealed with ``age`` to that peer's recipient from the
roster and carried in the sender's signed ``relay/1`` (its ``canary`` field).

What is inside is the link token the person used, so the peer checks it against the
digests it holds itself: a relay can carry nothing the person did not do (a server that
lies can only withhold, or repeat a token it was given). The normal and the duress link
are the same length, the sealed text is padded to one size, and so is the age file (its
length first, then zeros: an age encryptor may add a header stanza of random length), so
the two relays look alike on the wire; only a server of the switch, opening it, can tell
which link it was.

- ``nonce``: random, made by the sender for this check-in: each peer takes it once.
- ``at``: the sender's clock when it took the check-in (the peer takes it for a while only).
- ``in_time``: 1 if the sender counted it before this person's alarm there, else 0: a
  peer that hears of it after its own deadline for the person does not raise the alarm
  for it. A number, not a boolean, so both are the same length.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass

import pyrage

from afterword.crypto.switch_id import check_switch_id
from afterword.errors import FormatError

CANARY_KIND = "canary-checkin/1"
SIZE = 256  # the sealed text, padded with spaces (JSON ignores them)
SEALED = 1024  # the age file: two bytes of its length, the file, zeros
TOKEN = re.compile(r"[0-9a-f]{32}")  # a link token, as the owner's CLI or a server made it
NONCE = re.compile(r"[0-9a-f]{32}")
_FIELDS = frozenset({"afterword", "switch", "token", "nonce", "at", "in_time"})
_HINT = "a protected person's check-in is relayed by the server that took it"


@dataclass(frozen=True)
class RelayedCanary:
    """An opened ``canary-checkin/1`` (its token still to be checked by the receiver)."""

    switch: str
    token: str
    nonce: str
    at: int
    in_time: bool


def seal_canary_checkin(recipient: str, switch: str, token: str, at: int, in_time: bool) -> bytes:
    """The check-in with link ``token`` at ``at``, sealed to a peer's age ``recipient``,
    with a fresh nonce."""
    check_switch_id(switch)
    if not TOKEN.fullmatch(token):
        raise FormatError("a link token is 32 hexadecimal digits")
    body = {
        "afterword": CANARY_KIND,
        "switch": switch,
        "token": token,
        "nonce": secrets.token_hex(16),
        "at": at,
        "in_time": 1 if in_time else 0,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":")).ljust(SIZE)
    if len(text) != SIZE:
        raise FormatError("the relayed check-in does not fit its size")
    to = [pyrage.x25519.Recipient.from_str(recipient)]
    for _ in range(8):  # a random header stanza too long for the size: seal again
        sealed = bytes(pyrage.encrypt(text.encode(), to))
        if len(sealed) <= SEALED - 2:
            return len(sealed).to_bytes(2, "big") + sealed.ljust(SEALED - 2, b"\0")
    raise FormatError("the relayed check-in does not fit its size")  # pragma: no cover


def sealed_file(padded: bytes) -> bytes:
    """The age file in a padded sealed check-in (see :func:`seal_canary_checkin`)."""
    if len(padded) != SEALED:
        raise FormatError(f"a relayed check-in is {SEALED} bytes", _HINT)
    size = int.from_bytes(padded[:2], "big")
    if not 0 < size <= SEALED - 2 or any(padded[2 + size :]):
        raise FormatError("a relayed check-in's padding is wrong", _HINT)
    return padded[2 : 2 + size]


def open_canary_checkin(plaintext: bytes, switch: str) -> RelayedCanary:
    """The check-in in ``plaintext`` (the age file of :func:`sealed_file`, opened by the
    receiver's key), for ``switch``; a ``FormatError`` for anything else."""
    try:
        body = json.loads(plaintext)
    except ValueError as exc:
        raise FormatError("the relayed check-in is not JSON", _HINT) from exc
    if not isinstance(body, dict) or set(body) != _FIELDS or body["afterword"] != CANARY_KIND:
        raise FormatError(f"the relayed check-in is not a {CANARY_KIND}", _HINT)
    if body["switch"] != switch:
        raise FormatError("the relayed check-in is for another switch", _HINT)
    token, nonce, at, in_time = body["token"], body["nonce"], body["at"], body["in_time"]
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        raise FormatError("the relayed check-in's token is not a link token", _HINT)
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise FormatError("the relayed check-in's nonce is not 32 hexadecimal digits", _HINT)
    if isinstance(at, bool) or not isinstance(at, int) or not 0 <= at <= 2**53 - 1:
        raise FormatError("the relayed check-in's time is not a whole number", _HINT)
    if in_time not in (0, 1) or isinstance(in_time, bool):
        raise FormatError("the relayed check-in's in_time is 0 or 1", _HINT)
    return RelayedCanary(switch, token, nonce, at, in_time == 1)
