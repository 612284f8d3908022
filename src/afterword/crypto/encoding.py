"""Small, exact encodings shared by every afterword format.

- canonical JSON (RFC 8785, via ``rfc8785``) is what signatures cover;
- base64 (standard alphabet, padded) for binary fields inside JSON;
- age X25519 keys as bech32 strings (via the reference ``bech32`` package), so a
  32-byte dossier key can be handed to the stock ``age`` CLI as ``AGE-SECRET-KEY-1...``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

import pyrage
import rfc8785
from bech32 import bech32_decode, bech32_encode, convertbits

from afterword.errors import FormatError

AGE_SECRET_HRP = "age-secret-key-"
AGE_PUBLIC_HRP = "age"


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a JSON value: the exact bytes a signature covers.

    Values made only of objects with keys below U+D800, arrays, strings without
    surrogates, integers within +-(2**53 - 1), booleans and null (audit entries, owner
    requests) take the standard library's C encoder, whose compact, key-sorted output with
    raw UTF-8 is exactly RFC 8785's for them (tests/crypto/test_encoding.py checks this
    against ``rfc8785`` with hypothesis); anything else (floats, surrogates, other keys)
    goes to ``rfc8785``. The rfc8785 encoder is pure Python: it was more than half of a
    scheduler transition's CPU, two audit hashes each.
    """
    if _plain(value):
        return _PLAIN.encode(value).encode("utf-8")
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeError) as exc:  # (a lone surrogate key)
        raise FormatError(
            f"the document holds a value JSON signatures cannot cover ({exc})",
            "it was not made by afterword",
        ) from exc


_PLAIN = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True)
_SAFE_INT = 2**53 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIGH_KEY = re.compile("[\ud800-\U0010ffff]")  # keys sorted by UTF-16 units may differ


def _plain(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is one whose RFC 8785 form the standard encoder writes."""
    kind = type(value)
    if kind is str:  # (isascii() reads a flag CPython keeps: most text is decided there)
        return value.isascii() or _SURROGATE.search(value) is None
    if kind is int:
        return bool(-_SAFE_INT <= value <= _SAFE_INT)
    if value is None or kind is bool:
        return True
    if depth > 32:
        return False
    if kind is dict:  # (loops, not all() over generators: this runs for every audit hash)
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or _HIGH_KEY.search(key) is None):
                return False
            if not _plain(item, depth + 1):
                return False
        return True
    if kind is list:
        return all(_plain(item, depth + 1) for item in value)
    return False


def pretty_json(value: Any) -> bytes:
    """Human-friendly JSON for files people may open; signatures never cover these bytes."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def is_count(value: object) -> bool:
    """A JSON whole number of zero or more (not a bool, which Python counts as an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, what: str) -> bytes:
    """Decode strict base64, naming ``what`` in the error so the user knows which field."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError, AttributeError) as exc:
        raise FormatError(f"{what} is not valid base64", "the file is damaged") from exc


def hex_to_bytes(text: str, *, length: int, what: str) -> bytes:
    """Decode lowercase/uppercase hex of an exact byte length."""
    try:
        raw = bytes.fromhex(text)
    except (ValueError, TypeError) as exc:
        raise FormatError(f"{what} is not hexadecimal", "the file is damaged") from exc
    if len(raw) != length:
        raise FormatError(f"{what} must be {length} bytes, got {len(raw)}", "the file is damaged")
    return raw


def _bech32(hrp: str, data: bytes) -> str:
    five = convertbits(data, 8, 5, True)
    if five is None:  # pragma: no cover - convertbits only fails on out-of-range input
        raise FormatError("cannot encode key as bech32")
    return str(bech32_encode(hrp, five))


def _unbech32(text: str, hrp: str, what: str) -> bytes:
    got_hrp, five = bech32_decode(text.strip())
    if got_hrp != hrp or five is None:
        raise FormatError(f"{what} is not a valid age key: {text.strip()[:24]}...")
    data = convertbits(five, 5, 8, False)
    if data is None or len(data) != 32:
        raise FormatError(f"{what} does not hold a 32-byte key")
    return bytes(data)


def age_identity_from_secret(secret: bytes) -> str:
    """The ``AGE-SECRET-KEY-1...`` string for a 32-byte X25519 secret (what age-keygen writes)."""
    if len(secret) != 32:
        raise FormatError(f"an age X25519 secret is 32 bytes, got {len(secret)}")
    return _bech32(AGE_SECRET_HRP, secret).upper()


def age_secret_from_identity(identity: str) -> bytes:
    """The 32 raw bytes behind an ``AGE-SECRET-KEY-1...`` string."""
    return _unbech32(identity, AGE_SECRET_HRP, "age identity")


def age_recipient_of(identity: str) -> str:
    """The ``age1...`` recipient that matches an identity (derived by pyrage, not by us)."""
    try:
        return str(pyrage.x25519.Identity.from_str(identity.strip()).to_public())
    except pyrage.IdentityError as exc:
        raise FormatError("not a valid age identity (AGE-SECRET-KEY-1...)") from exc


def check_age_recipient(recipient: str) -> str:
    """Validate an ``age1...`` recipient string and return it normalised."""
    text = recipient.strip()
    try:
        pyrage.x25519.Recipient.from_str(text)
    except pyrage.RecipientError as exc:
        raise FormatError(
            f"not a valid age recipient: {text[:70]!r}",
            "an age public key starts with age1 and is 62 characters (age-keygen -y KEYFILE)",
        ) from exc
    return text


# a JSON string, unrolled so a long one costs no backtracking; escapes stay inside it
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_EMPTY_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def parse_json(raw: bytes, what: str, *, max_depth: int, max_bytes: int | None = None) -> Any:
    """JSON from untrusted bytes, refused with a :class:`FormatError` when it is larger
    than ``max_bytes``, nests arrays and objects deeper than ``max_depth``, or is not JSON.

    The depth is measured before parsing, so a hostile file (``[[[[...``) cannot make the
    parser recurse until Python's stack runs out: with strings blanked out and only
    brackets kept, each pass removes the innermost empty pairs, and whatever is left after
    ``max_depth`` passes is nested too deeply (or unbalanced, which is no JSON either).
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise FormatError(
            f"{what} is {len(raw)} bytes, more than the {max_bytes} afterword allows",
            "the file is damaged or hostile; do not use it",
        )
    brackets = _JSON_STRING.sub(b'""', raw).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        if not brackets:
            break
        brackets = _EMPTY_PAIR.sub(b"", brackets)
    if brackets:
        raise FormatError(
            f"{what} nests deeper than {max_depth} levels or is not valid JSON",
            "the file is damaged or hostile; do not use it",
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise FormatError(
            f"{what} is not valid JSON", "the file is damaged or not afterword's"
        ) from exc
