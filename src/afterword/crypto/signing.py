"""Ed25519 signatures over RFC 8785 canonical JSON.

Every signed afterword document is a JSON object with a type tag in ``afterword``
(for example ``"notice/1"``), the signer's public key in ``owner_key`` and the signature
in ``signature``. The signature covers the canonical JSON of the object *without* the
``signature`` member, so any tool with Ed25519 and RFC 8785 can check it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from afterword.crypto.encoding import b64decode, b64encode, canonical_json
from afterword.errors import FormatError, SignatureError

KEY_PREFIX = "ed25519:"

Document = dict[str, Any]


def public_key_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<base64 of the 32 raw bytes>``: how afterword writes a public key."""
    return KEY_PREFIX + b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def parse_public_key(text: object) -> Ed25519PublicKey:
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise FormatError("the owner key is missing or not an ed25519: key")
    raw = b64decode(text[len(KEY_PREFIX) :], what="the owner key")
    if len(raw) != 32:
        raise FormatError("the owner key is not 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_key: str) -> str:
    """A short, readable fingerprint of a public key, for people comparing keys by eye."""
    digest = hashlib.sha256(public_key.encode("ascii")).hexdigest()[:24]
    return " ".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def document_kind(doc: object) -> str:
    """The ``afterword`` type tag, e.g. ``notice/1``; a clear error if this is not ours."""
    if not isinstance(doc, dict) or not isinstance(doc.get("afterword"), str):
        raise FormatError(
            "this is not an afterword file (no 'afterword' type field)",
            "pass a notice.json, manifest.json, teaser or release file",
        )
    return str(doc["afterword"])


def sign_document(body: Document, key: Ed25519PrivateKey) -> Document:
    """Return ``body`` with ``owner_key`` and ``signature`` added."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    unsigned["owner_key"] = public_key_text(key.public_key())
    signature = key.sign(canonical_json(unsigned))
    return {**unsigned, "signature": b64encode(signature)}


def verify_document(doc: object, kind: str, expected_key: str | None = None) -> Document:
    """Check type tag and signature; return the document. Raises on any mismatch.

    ``kind`` is the tag without version (``"notice"``); only version 1 exists.
    ``expected_key`` pins the signer (for example the key named by a notice).
    """
    tag = document_kind(doc)
    assert isinstance(doc, dict)
    if tag != f"{kind}/1":
        raise FormatError(f"expected an afterword {kind} (version 1), found {tag!r}")
    owner_key = doc.get("owner_key")
    public = parse_public_key(owner_key)
    signature = b64decode(str(doc.get("signature", "")), what="the signature")
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    try:
        public.verify(signature, canonical_json(unsigned))
    except InvalidSignature as exc:
        raise SignatureError(
            f"the {kind}'s signature does not verify: it was altered after signing",
            "do not trust its contents; ask the owner for an authentic copy",
        ) from exc
    if expected_key is not None and owner_key != expected_key:
        raise SignatureError(
            f"the {kind} is signed by {fingerprint(str(owner_key))}, "
            f"not by the expected key {fingerprint(expected_key)}",
            "it was not made by the owner who signed the notice",
        )
    return doc
