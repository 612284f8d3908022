"""The signed check-in: one document any holder of the owner's public key can verify.

A check-in names the switch, the owner's clock (``at``, seconds since the epoch) and a
``counter`` that grows with every check-in the owner signs. Nothing in it is specific to
a server, and no server nonce is quoted, so the owner sends the same document to every
server of a switch in one request each, and each server may relay it to its peers
(issue 17, docs/federation.md).

Replaying one is harmless by construction: a server keeps the highest counter it has seen
for the switch and a check-in that is not newer moves nothing (:func:`is_newer`). The
counter, not ``at``, orders check-ins: the owner's clock may be wrong, a counter from the
owner's own key file is not.

A duress check-in is the same document signed by the duress key. It does not name the
key that signed it (the notice a coercer holds names the owner key, so a named signer
would give a duress check-in away): a server tries each of the switch's keys, all of them
every time, and telling the two apart is its business alone. The document differs only in
its signature, of the same length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.encoding import b64decode, b64encode, canonical_json
from afterword.crypto.signing import Document, parse_public_key
from afterword.crypto.switch_id import check_switch_id
from afterword.errors import FormatError, SignatureError

CHECKIN_KIND = "checkin/1"
FIELDS = frozenset({"afterword", "switch", "at", "counter", "signature"})
MAX_COUNTER = 2**53 - 1  # a JSON number every reader keeps exactly
MAX_AT = 2**40  # far past any clock (year 36812), and exact in every JSON reader


@dataclass(frozen=True)
class CheckIn:
    """A check-in whose signature verified: which switch, by the owner's clock, its
    counter, and the key that signed it (the owner's, or the duress key)."""

    switch: str
    at: int
    counter: int
    signer: str


def checkin_body(switch: str, at: int, counter: int) -> Document:
    """The unsigned check-in."""
    check_switch_id(switch)
    _check_number(at, "the check-in's time", MAX_AT)
    _check_number(counter, "the check-in's counter", MAX_COUNTER, least=1)
    return {"afterword": CHECKIN_KIND, "switch": switch, "at": at, "counter": counter}


def sign_checkin(key: Ed25519PrivateKey, switch: str, at: int, counter: int) -> Document:
    """A check-in signed by ``key`` (the owner key, or under duress the duress key)."""
    body = checkin_body(switch, at, counter)
    return {**body, "signature": b64encode(key.sign(canonical_json(body)))}


def load_checkin(doc: object, switch: str, keys: Sequence[str]) -> CheckIn:
    """The check-in in ``doc`` for ``switch``, signed by one of ``keys`` (the switch's
    owner key and duress keys), or a ``FormatError``/``SignatureError`` that says why not.

    Every key is tried, whichever one verifies, so the work does not tell which signed.
    Which one did is in the result, for the server alone to act on."""
    if not isinstance(doc, dict):
        raise FormatError("a check-in must be a JSON object", _HINT)
    unknown = sorted(str(k) for k in doc if k not in FIELDS)
    if unknown:
        raise FormatError(f"the check-in has unknown fields: {', '.join(unknown)}", _HINT)
    if doc.get("afterword") != CHECKIN_KIND:
        raise FormatError(
            f"expected an afterword checkin (version 1), found {doc.get('afterword')!r}", _HINT
        )
    body = {k: v for k, v in doc.items() if k != "signature"}
    signature = b64decode(str(doc.get("signature", "")), what="the check-in's signature")
    message = canonical_json(body)
    signers = signed_by(keys, signature, message)
    if not signers:
        raise SignatureError(
            "the check-in's signature does not verify with this switch's owner key",
            "sign it with the key file the switch was armed with",
        )
    if doc.get("switch") != switch:
        raise FormatError(
            f"the check-in is for switch {doc.get('switch')!r}, not {switch}",
            "send each switch its own check-in",
        )
    at, counter = doc.get("at"), doc.get("counter")
    _check_number(at, "the check-in's time", MAX_AT)
    _check_number(counter, "the check-in's counter", MAX_COUNTER, least=1)
    assert isinstance(at, int) and isinstance(counter, int)
    return CheckIn(switch, at, counter, signers[0])


def signed_by(keys: Sequence[str], signature: bytes, message: bytes) -> list[str]:
    """The keys of ``keys`` that ``signature`` over ``message`` verifies with. Every key
    is tried, whichever verifies first, so the work does not tell which one signed."""
    return [key for key in keys if _verifies(key, signature, message)]  # all, always


def _verifies(key: str, signature: bytes, message: bytes) -> bool:
    try:
        parse_public_key(key).verify(signature, message)
    except (InvalidSignature, FormatError):  # a key of the server's own: never malformed
        return False
    return True


def is_newer(checkin: CheckIn, highest: int) -> bool:
    """Whether ``checkin`` moves the switch: its counter is past the highest one seen.
    Anything else is a replay or a copy that arrived late, and changes nothing."""
    return checkin.counter > highest


_HINT = 'send {"afterword": "checkin/1", "switch": ID, "at": SECONDS, "counter": N}, signed'


def _check_number(value: object, what: str, most: int, least: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise FormatError(f"{what} must be a whole number from {least} to {most}", _HINT)
