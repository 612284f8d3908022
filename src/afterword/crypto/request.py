"""The owner's signed request (``request/1``): a pause, an abort, a release-now, new
settings, a look at the status, each quoting a one-time nonce of the server it is sent to
(so a recorded request can never be sent to that server again) and the owner's
``counter``.

The counter is the one check-ins use (the key file's ``owner.age.checkins.json``): every
request and every check-in the owner signs takes the next number. A server relays each
request it takes to the switch's other servers, and a relayed copy is taken there only if
its counter is past the highest request that server acted on: so relayed requests are
taken in the order the owner signed them, whatever order the network (or a hostile
server that kept its copy) delivers them in. Without it, a release-now that arrives after
the abort that followed it triggers the switch again (docs/federation.md, "A third
attacker").

Like a check-in, a duress request is the same document signed by the duress key.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.checkin import MAX_COUNTER, signed_by
from afterword.crypto.encoding import b64decode, b64encode, canonical_json
from afterword.crypto.signing import REQUEST_KIND, Document
from afterword.errors import FormatError, SignatureError

NONCE_TTL = 300
"""How long a server's nonce stays good (seconds)."""
NONCE_RANDOM = 12
NONCE_MAC = 16
NONCE_SHAPE = re.compile(r"[A-Za-z0-9_-]{48}")  # 8 + 12 + 16 bytes, base64url without padding

_HINT = "sign the request with `afterword` (pause, abort, status, ...): it numbers each one"


def sign_request(
    key: Ed25519PrivateKey, switch: str, action: str, nonce: str, counter: int, **extra: Any
) -> Document:
    """The request ``action`` for ``switch``, quoting the server's ``nonce`` and the
    owner's ``counter``, signed by ``key`` (the owner key, or under duress the duress
    key). ``extra``: the action's own fields (``interval``, ``links``, ...)."""
    body: Document = {
        **extra,
        "afterword": REQUEST_KIND,
        "switch": switch,
        "action": action,
        "nonce": nonce,
        "counter": counter,
    }
    return {**body, "signature": b64encode(key.sign(canonical_json(body)))}


def request_counter(request: Document) -> int:
    """The owner's counter in a request whose signature was checked; a ``FormatError``
    if it has none (one signed before requests were numbered) or a malformed one."""
    counter = request.get("counter")
    if isinstance(counter, bool) or not isinstance(counter, int) or not 1 <= counter <= MAX_COUNTER:
        raise FormatError(
            f"the request's counter must be a whole number from 1 to {MAX_COUNTER}", _HINT
        )
    return counter


def proven_counter(doc: object, switch: str, keys: Sequence[str]) -> int:
    """The counter of ``doc``, a request for ``switch`` signed by one of ``keys``: what a
    server shows as the highest request it acted on, which the owner's CLI believes only
    once the signature checks (a server cannot make a counter up to lock the owner out of
    the others). A ``SignatureError`` or ``FormatError`` says why not."""
    if not isinstance(doc, dict) or doc.get("afterword") != REQUEST_KIND:
        raise FormatError("this is not an afterword request (request/1)", _HINT)
    body = {k: v for k, v in doc.items() if k != "signature"}
    signature = b64decode(str(doc.get("signature", "")), what="the request's signature")
    if not signed_by(keys, signature, canonical_json(body)) or doc.get("switch") != switch:
        raise SignatureError(
            "the request shown is not one this key file signed for this switch", _HINT
        )
    return request_counter(doc)


def stated_expiry(nonce: object) -> int | None:
    """When a nonce says it expires (``engine/challenges.py`` makes them: the instant, 12
    random bytes and a MAC), read without its MAC: for a peer of the server that issued
    it, which cannot check the MAC but can trust the instant in a request the owner signed
    (the signature covers the nonce). None if it is no nonce of this shape."""
    if not isinstance(nonce, str) or not NONCE_SHAPE.fullmatch(nonce):
        return None
    return int(struct.unpack(">Q", base64.urlsafe_b64decode(nonce)[:8])[0])
