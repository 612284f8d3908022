"""Ed25519 signatures over RFC 8785 canonical JSON.

Every signed afterword document is a JSON object with a type tag in ``afterword``
(for example ``"notice/1"``), the signer's public key and the signature in ``signature``.
The signature covers the canonical JSON of the object *without* the ``signature`` member,
so any tool with Ed25519 and RFC 8785 can check it.

Who signed is part of the format, not a convention: the owner's documents (notice,
manifest, teaser, ...) carry the signer in ``owner_key``; the server's documents (release
statement, audit log) carry it in ``server_key``. A server document may still *name* the
owner in ``owner_key`` (a release statement does), so a verifier must be told which field
holds the signer; it never guesses, or a server could pass off a statement as the owner's.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from afterword.crypto.encoding import b64decode, b64encode, canonical_json
from afterword.errors import FormatError, SignatureError

KEY_PREFIX = "ed25519:"
OWNER_KEY = "owner_key"
SERVER_KEY = "server_key"
SIGNER_FIELDS = (OWNER_KEY, SERVER_KEY)

# how messages name a kind whose tag alone reads badly ("the release's signature")
_KIND_NAMES = {"release": "release statement", "audit": "audit log"}

Document = dict[str, Any]

REQUEST_KIND = "request/1"
"""An owner request to a server: signed canonical JSON quoting a one-time server nonce."""


def public_key_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``: how afterword writes a public key."""
    return KEY_PREFIX + b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def parse_public_key(text: object, what: str = "the owner key") -> Ed25519PublicKey:
    """Parse ``ed25519:<base64>``; ``what`` names the key in errors (owner, server, ...).

    Parsed keys are kept, keyed by their text (so a switch whose key changed is never
    checked against the old one): every owner check-in tries the same three keys, and
    parsing each anew showed in its profile. A key that does not parse is never kept,
    so it raises the same ``FormatError`` every time."""
    if not isinstance(text, str):
        raise FormatError(f"{what} is missing or not an ed25519: key", _DAMAGED)
    return _parse_public_key(text, what)


_DAMAGED = "the file is damaged or was not made by afterword"


@lru_cache(maxsize=4096)
def _parse_public_key(text: str, what: str) -> Ed25519PublicKey:
    if not text.startswith(KEY_PREFIX):
        raise FormatError(f"{what} is missing or not an ed25519: key", _DAMAGED)
    raw = b64decode(text[len(KEY_PREFIX) :], what=what)
    if len(raw) != 32:
        raise FormatError(f"{what} is not 32 bytes", _DAMAGED)
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_key: str) -> str:
    """A short, readable fingerprint of a public key, for people comparing keys by eye."""
    digest = hashlib.sha256(public_key.encode("ascii")).hexdigest()[:24]
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def describe_server_signer(what: str, key: str, pinned: bool) -> str:
    """How ``afterword verify`` names the server that signed ``what``.

    A server signature proves only that *some* key signed; it means something once the
    reader compares the key with one the operator published. So the full key is shown
    when it was not pinned, and pinning is suggested.
    """
    said = f"The {what} is signed by server key {key} (fingerprint {fingerprint(key)})"
    if pinned:
        return said + ", the key you pinned with --server-key."
    return (
        said + "; compare it with the key the server's operator publishes, "
        "and pin it with --server-key."
    )


def document_kind(doc: object) -> str:
    """The ``afterword`` type tag, e.g. ``notice/1``; a clear error if this is not ours."""
    if not isinstance(doc, dict) or not isinstance(doc.get("afterword"), str):
        raise FormatError(
            "this is not an afterword file (no 'afterword' type field)",
            "pass a notice.json, manifest.json, teaser, release folder or audit log",
        )
    return str(doc["afterword"])


def _check_signer_field(key_field: str) -> str:
    """The signer field must be one the format defines; returns how messages name it."""
    if key_field not in SIGNER_FIELDS:
        raise FormatError(
            f"{key_field!r} is not a signer field",
            f"afterword documents are signed in {' or '.join(SIGNER_FIELDS)}",
        )
    return key_field.replace("_", " ")


def sign_document(body: Document, key: Ed25519PrivateKey, key_field: str = OWNER_KEY) -> Document:
    """Return ``body`` with the signer's public key (in ``key_field``) and ``signature``.

    The owner signs with the default ``owner_key``; the server passes ``"server_key"``.
    """
    _check_signer_field(key_field)
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    unsigned[key_field] = public_key_text(key.public_key())
    signature = key.sign(canonical_json(unsigned))
    return {**unsigned, "signature": b64encode(signature)}


def verify_document(
    doc: object, kind: str, expected_key: str | None = None, key_field: str = OWNER_KEY
) -> Document:
    """Check type tag and signature; return the document. Raises on any mismatch.

    ``kind`` is the tag without version (``"notice"``); only version 1 exists.
    ``key_field`` is where the signer's key is (``owner_key``, or ``server_key`` for the
    server's documents); ``expected_key`` pins the signer (for example the key named by a
    notice, or the server key a user got from the operator).
    """
    who = _check_signer_field(key_field)
    tag = document_kind(doc)
    assert isinstance(doc, dict)
    name = _KIND_NAMES.get(kind, kind)
    if tag != f"{kind}/1":
        raise FormatError(f"expected an afterword {name} (version 1), found {tag!r}")
    signer = doc.get(key_field)
    public = parse_public_key(signer, f"the {name}'s {who}")
    signature = b64decode(str(doc.get("signature", "")), what="the signature")
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    by_server = key_field == SERVER_KEY
    try:
        public.verify(signature, canonical_json(unsigned))
    except InvalidSignature as exc:
        raise SignatureError(
            f"the {name}'s signature does not verify: it was altered after signing",
            "do not trust its contents; "
            + (
                "download an authentic copy from the server"
                if by_server
                else "ask the owner for an authentic copy"
            ),
        ) from exc
    if expected_key is not None and signer != expected_key:
        raise SignatureError(
            f"the {name} is signed by {fingerprint(str(signer))}, "
            f"not by the expected key {fingerprint(expected_key)}",
            "it was not made by the server whose key you pinned; do not trust it"
            if by_server
            else "it was not made by the owner who signed the notice",
        )
    return doc
