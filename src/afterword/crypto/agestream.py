"""A streaming age v1 *encrypting* writer, composed from ``cryptography`` primitives.

Why this exists: dossiers are multi-GB, and pyrage's streaming encryption runs at about
half the speed of the ``age`` CLI. The age v1 format (https://age-encryption.org/v1,
C2SP age spec) is a thin composition of X25519, HKDF-SHA256, HMAC-SHA256 and
ChaCha20-Poly1305, all of which ``cryptography`` provides through OpenSSL. This module
only *composes* them; it contains no cipher code of its own.

Scope is deliberately narrow: encryption to X25519 recipients (``age1...``), binary
(unarmored) output. Decryption stays with pyrage, and the test suite holds this writer to
the C2SP test vectors and to round trips with the stock ``age`` CLI in both directions.

File layout written::

    age-encryption.org/v1
    -> X25519 <ephemeral share, base64 no padding>
    <wrapped file key, base64 no padding, 64 columns>
    --- <HMAC-SHA256 of the header up to and including "---", base64 no padding>
    <16-byte payload nonce><STREAM chunks: 64 KiB plaintext + 16-byte tag each>
"""

from __future__ import annotations

import base64
import hmac
import io
import os
from collections.abc import Sequence
from hashlib import sha256
from types import TracebackType
from typing import Protocol, Self

from bech32 import bech32_decode, convertbits
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from afterword.errors import FormatError

CHUNK_SIZE = 64 * 1024
"""Plaintext bytes per STREAM chunk, fixed by the age v1 spec."""

TAG_SIZE = 16
"""Poly1305 tag appended to every chunk."""

FILE_KEY_SIZE = 16
NONCE_SIZE = 16

VERSION_LINE = b"age-encryption.org/v1\n"
X25519_LABEL = b"age-encryption.org/v1/X25519"
RECIPIENT_HRP = "age"

_SEALED_CHUNK = CHUNK_SIZE + TAG_SIZE
# Upper bound on ciphertext handed to ``out`` in one call: big enough to amortise the call,
# small enough that a caller writing 1 GiB at once does not make us stage 1 GiB.
_BATCH_CHUNKS = 16
_ZERO_NONCE = bytes(12)
_RECIPIENT_HINT = (
    "an age recipient starts with age1 and is 62 characters long (age-keygen -y KEYFILE prints it)"
)


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 to 32 bytes: every key age derives has this shape."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def _b64(data: bytes) -> bytes:
    """Standard base64 without padding: the only encoding age headers accept (canonical)."""
    return base64.b64encode(data).rstrip(b"=")


def header_mac(file_key: bytes, header_without_mac: bytes) -> bytes:
    """The header MAC, over the header bytes up to and including ``---`` (not the space).

    The key is HKDF(file key, salt empty, info "header"), so only someone who unwrapped the
    file key can check it, and any change to a stanza invalidates the whole file.
    """
    mac_key = _hkdf(file_key, b"", b"header")
    return hmac.new(mac_key, header_without_mac, sha256).digest()


def payload_key(file_key: bytes, nonce: bytes) -> bytes:
    """The STREAM key: HKDF(file key, salt = payload nonce, info "payload").

    The random nonce makes the payload key unique per file even if a file key were reused.
    """
    return _hkdf(file_key, nonce, b"payload")


def _parse_recipient(recipient: str) -> bytes:
    """Decode and validate an ``age1...`` X25519 recipient into its 32-byte public key.

    Raises FormatError naming the bad string, except when it looks like an age *secret*
    key: that must never be echoed into an error message (and from there into logs).
    """
    if not isinstance(recipient, str):
        raise TypeError(f"an age recipient must be a str, not {type(recipient).__name__}")
    if recipient[:15].upper() == "AGE-SECRET-KEY-":
        raise FormatError(
            "an age secret key (identity) was given where a recipient was expected",
            "pass the public key instead: " + _RECIPIENT_HINT,
        )
    shown = recipient if len(recipient) <= 100 else recipient[:100] + "..."
    bad = FormatError(f"not an age X25519 recipient: {shown!r}", _RECIPIENT_HINT)
    if not recipient.startswith(RECIPIENT_HRP + "1"):
        raise bad  # the age CLI also refuses the all-uppercase form bech32 would allow
    hrp, data = bech32_decode(recipient)
    if hrp != RECIPIENT_HRP or data is None:
        raise bad
    raw = convertbits(data, 5, 8, False)
    if raw is None or len(raw) != 32:
        raise bad
    return bytes(raw)


def _wrap_body(body: bytes) -> bytes:
    """Base64 a stanza body in 64-column lines, the last one always shorter than 64.

    The spec ends a body at its first short line, so a body whose encoding is an exact
    multiple of 64 characters needs a trailing empty line. A 32-byte X25519 body is 43
    characters: one line.
    """
    text = _b64(body)
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    if len(text) % 64 == 0:
        lines.append(b"")
    return b"".join(line + b"\n" for line in lines)


def _x25519_stanza(file_key: bytes, recipient: str, public: bytes) -> bytes:
    """One ``-> X25519`` stanza wrapping ``file_key`` to ``public``, with a fresh ephemeral key."""
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:
        # OpenSSL refuses an all-zero result itself; the spec requires that refusal.
        shared = bytes(32)
    if not any(shared):
        raise FormatError(
            f"age recipient {recipient!r} is a low-order X25519 point (shared secret is zero)",
            "this is not a real public key; " + _RECIPIENT_HINT,
        )
    wrap_key = _hkdf(shared, share + public, X25519_LABEL)
    body = ChaCha20Poly1305(wrap_key).encrypt(_ZERO_NONCE, file_key, None)
    return b"-> X25519 " + _b64(share) + b"\n" + _wrap_body(body)


def _build_header(file_key: bytes, recipients: Sequence[tuple[str, bytes]]) -> bytes:
    """The complete header, MAC line included."""
    head = VERSION_LINE
    head += b"".join(_x25519_stanza(file_key, text, public) for text, public in recipients)
    head += b"---"
    return head + b" " + _b64(header_mac(file_key, head)) + b"\n"


class Sink(Protocol):
    """Where ciphertext goes: any object with file-like ``write`` and ``flush``."""

    def write(self, data: memoryview, /) -> int | None: ...

    def flush(self) -> None: ...


def _write_all(out: Sink, data: memoryview) -> None:
    """``out.write`` until everything is taken: raw (unbuffered) files may write short."""
    while data:
        written = out.write(data)
        if written is None or written >= len(data):
            return
        data = data[written:]


class _Stream:
    """STREAM encryption (the age payload) over ``out``, without the nonce prefix.

    Shared by AgeWriter and encrypt_payload, so the C2SP vectors exercise exactly the
    chunking code the writer uses. The last chunk is held back until finish(), because only
    then is it known to be last, and its nonce carries the last-chunk flag.
    """

    def __init__(self, out: Sink, key: bytes) -> None:
        self._out = out
        self._aead = ChaCha20Poly1305(key)
        self._counter = 0
        self._pending = bytearray(CHUNK_SIZE)  # plaintext held back: maybe the last chunk
        self._filled = 0
        self._scratch = bytearray(_BATCH_CHUNKS * _SEALED_CHUNK)  # ciphertext staging

    def _nonce(self, last: bool) -> bytes:
        # 11-byte big-endian counter || last flag. to_bytes raises OverflowError past 2**88
        # chunks, so the counter can never wrap into a reused nonce.
        return self._counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")

    def write(self, view: memoryview) -> None:
        """Accept ``view`` (1-D bytes), sealing every chunk known not to be the last."""
        total = len(view)
        if not total:
            return
        pos = 0
        flush_pending = False
        if self._filled:
            take = min(CHUNK_SIZE - self._filled, total)
            self._pending[self._filled : self._filled + take] = view[:take]
            self._filled += take
            pos = take
            if pos == total:
                return  # all held back; a full buffer may still turn out to be the last chunk
            flush_pending = True  # more data follows, so the full held-back chunk is not last
        # Seal straight from the caller's buffer while more than one chunk remains, so a big
        # write costs no plaintext copy except for the 1..CHUNK_SIZE bytes finally held back.
        direct = (total - pos - 1) // CHUNK_SIZE
        scratch = memoryview(self._scratch)
        while flush_pending or direct:
            used = 0
            if flush_pending:
                self._aead.encrypt_into(
                    self._nonce(False), self._pending, None, scratch[:_SEALED_CHUNK]
                )
                self._counter += 1
                self._filled = 0
                flush_pending = False
                used = _SEALED_CHUNK
            while direct and used < len(scratch):
                chunk = view[pos : pos + CHUNK_SIZE]
                self._aead.encrypt_into(
                    self._nonce(False), chunk, None, scratch[used : used + _SEALED_CHUNK]
                )
                self._counter += 1
                pos += CHUNK_SIZE
                used += _SEALED_CHUNK
                direct -= 1
            _write_all(self._out, scratch[:used])
        tail = total - pos
        self._pending[:tail] = view[pos:]
        self._filled = tail

    def finish(self) -> None:
        """Seal the held-back bytes as the last chunk (empty only for an empty payload)."""
        held = memoryview(self._pending)[: self._filled]
        last = self._aead.encrypt(self._nonce(True), held, None)
        self._counter += 1
        self._filled = 0
        _write_all(self._out, memoryview(last))


def _check_len(name: str, value: bytes, size: int) -> bytes:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return bytes(value)


def encrypt_payload(file_key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """``nonce || STREAM(plaintext)``: the age payload for a given file key and nonce.

    Deterministic, so the C2SP vectors can check our payload byte for byte. Holds the
    whole result in memory: for tests and small inputs, not for dossiers.
    """
    _check_len("file key", file_key, FILE_KEY_SIZE)
    _check_len("payload nonce", nonce, NONCE_SIZE)
    buf = io.BytesIO()
    buf.write(nonce)
    stream = _Stream(buf, payload_key(file_key, nonce))
    with memoryview(plaintext) as view:
        stream.write(view.cast("B"))
    stream.finish()
    return buf.getvalue()


class AgeWriter:
    """Binary file-like writer: encrypts everything written to it into `out` as an age v1 file.

    The header and payload nonce are written at construction; each complete 64 KiB chunk
    is written once more data proves it is not the last; close() writes the last chunk.
    Until close() the output is deliberately *not* a valid age file: a crash or an
    exception leaves a file that every age implementation rejects as truncated, never one
    that silently decrypts to a prefix. For that reason leaving a ``with`` block by an
    exception does not finalise the file, and close() afterwards does nothing.

    ``out`` is never closed here: the caller opened it, the caller owns it (it may need to
    fsync, rename or keep writing to it).
    """

    def __init__(
        self,
        out: Sink,
        recipients: Sequence[str],
        *,
        _file_key: bytes | None = None,
        _nonce: bytes | None = None,
    ) -> None:
        # _file_key / _nonce exist only so tests can inject the C2SP vectors' values.
        if isinstance(recipients, str | bytes):
            raise TypeError("recipients must be a sequence of age1... strings, not one string")
        parsed = [(text, _parse_recipient(text)) for text in recipients]
        if not parsed:
            raise FormatError("no age recipients given", "pass at least one: " + _RECIPIENT_HINT)
        file_key = (
            os.urandom(FILE_KEY_SIZE)
            if _file_key is None
            else _check_len("file key", _file_key, FILE_KEY_SIZE)
        )
        nonce = (
            os.urandom(NONCE_SIZE)
            if _nonce is None
            else _check_len("payload nonce", _nonce, NONCE_SIZE)
        )
        self._out = out
        self.bytes_written = 0
        self._closed = False
        self.prefix = _build_header(file_key, parsed) + nonce
        """The header and payload nonce as written: public, and unique to this file."""
        self._stream = _Stream(out, payload_key(file_key, nonce))
        _write_all(out, memoryview(self.prefix))

    @property
    def closed(self) -> bool:
        return self._closed

    def writable(self) -> bool:
        return not self._closed

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Encrypt ``data``; returns its length in bytes, as file objects do."""
        if self._closed:
            raise ValueError("write to a closed AgeWriter")
        with memoryview(data) as raw, raw.cast("B") as view:
            try:
                self._stream.write(view)
            except BaseException:
                # Part of a batch may be in `out` and the chunk counter is past it: the
                # stream can no longer be finished correctly, so it must never be.
                self._closed = True
                raise
            size = len(view)
        self.bytes_written += size
        return size

    def flush(self) -> None:
        """Flush `out`. The held-back last chunk is not written: it may not be last yet."""
        self._out.flush()

    def close(self) -> None:
        """Write the last chunk, completing the file. Idempotent; leaves `out` open."""
        if self._closed:
            return
        self._closed = True
        self._stream.finish()

    def _abort(self) -> None:
        """Stop without the last chunk, so the partial output never reads as complete."""
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()
