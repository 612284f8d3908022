"""AgeWriter, our own age v1 encrypting writer, held to independent references.

The writer is only acceptable if it is byte-exact against the C2SP age test vectors (files
made by the Go reference implementation) and round-trips both ways with the stock ``age``
CLI and with pyrage. The vectors are read from the shared checkout beside the repository
(``<repo>/../shared/age-testkit``), never copied in; if that folder is missing these tests
fail loudly instead of skipping, so a CI misconfiguration cannot pass as green.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import random
import shutil
import subprocess
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
from bech32 import bech32_encode, convertbits
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto.agestream import (
    CHUNK_SIZE,
    AgeWriter,
    encrypt_payload,
    header_mac,
    payload_key,
)
from afterword.errors import FormatError

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTKIT = REPO_ROOT.parent / "shared" / "age-testkit"
MISSING_TESTKIT = (
    f"C2SP age test vectors not found at {TESTKIT}: the shared/ checkout must sit beside "
    "the repository (<clone>/../shared/age-testkit, see its ORIGIN file)"
)
TESTKIT_DOCS = {"README.md", "LICENSE", "ORIGIN"}

# Lower bounds for the vector run, so it can never pass vacuously. The testkit at
# C2SP/CCTV 1e3d286 has 26 `expect: success` vectors; 19 are unarmored: 14 X25519,
# 1 scrypt (both checked end to end) and 4 ML-KEM hybrid (pyrage 1.4 has no hybrid
# identity: only their header MAC is checked).
MIN_SUCCESS_VECTORS = 19
MIN_EXERCISED = {"x25519": 14, "scrypt": 1, "hybrid": 4}
PYRAGE_UNSUPPORTED = {"hybrid"}

TAG = 16
SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE, 1024 * 1024 + 17]


# --- C2SP vectors ---------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    name: str
    fields: dict[str, list[str]]
    age_file: bytes  # decompressed, as age would read it

    def one(self, key: str) -> str:
        (value,) = self.fields[key]
        return value

    @property
    def kind(self) -> str:
        if "passphrase" in self.fields:
            return "scrypt"
        identities = self.fields.get("identity", [])
        if identities and all(i.startswith("AGE-SECRET-KEY-PQ-") for i in identities):
            return "hybrid"
        if identities and all(i.startswith("AGE-SECRET-KEY-1") for i in identities):
            return "x25519"
        return "other"


def _load_vector(path: Path) -> Vector:
    head, _, body = path.read_bytes().partition(b"\n\n")
    fields: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    if fields.get("compressed") == ["zlib"]:
        body = zlib.decompress(body)
    return Vector(path.name, fields, body)


def _success_vectors() -> list[Vector]:
    if not TESTKIT.is_dir():
        return []
    vectors = [
        _load_vector(p)
        for p in sorted(TESTKIT.iterdir())
        if p.is_file() and p.name not in TESTKIT_DOCS
    ]
    return [
        v
        for v in vectors
        if v.fields.get("expect") == ["success"] and v.fields.get("armored") != ["yes"]
    ]


SUCCESS_VECTORS = _success_vectors()
VECTOR_PARAMS = [pytest.param(v, id=v.name) for v in SUCCESS_VECTORS] or [
    pytest.param(None, id="testkit-missing")
]
_EXERCISED: dict[str, set[str]] = {}


def _split(age_file: bytes) -> tuple[bytes, bytes, bytes]:
    """(header through "---", MAC, payload) of a binary age file."""
    mark = age_file.index(b"\n--- ") + len(b"\n---")
    eol = age_file.index(b"\n", mark)
    mac = base64.b64decode(age_file[mark + 1 : eol] + b"=", validate=True)
    return age_file[:mark], mac, age_file[eol + 1 :]


def _reference_stream(file_key: bytes, nonce: bytes, plaintext: bytes) -> bytes:
    """STREAM written the obvious way, straight from the spec, to check the writer's chunker."""
    aead = ChaCha20Poly1305(payload_key(file_key, nonce))
    chunks = [plaintext[i : i + CHUNK_SIZE] for i in range(0, len(plaintext), CHUNK_SIZE)]
    chunks = chunks or [b""]
    sealed = [
        aead.encrypt(i.to_bytes(11, "big") + bytes([i == len(chunks) - 1]), chunk, None)
        for i, chunk in enumerate(chunks)
    ]
    return nonce + b"".join(sealed)


def _spec_decrypt_payload(file_key: bytes, payload: bytes) -> bytes:
    """STREAM decryption transcribed from the age spec, for vectors pyrage cannot open."""
    aead = ChaCha20Poly1305(payload_key(file_key, payload[:16]))
    body = payload[16:]
    sealed = [body[i : i + CHUNK_SIZE + 16] for i in range(0, len(body), CHUNK_SIZE + 16)]
    return b"".join(
        aead.decrypt(i.to_bytes(11, "big") + bytes([i == len(sealed) - 1]), chunk, None)
        for i, chunk in enumerate(sealed)
    )


def _odd_pieces(data: bytes) -> list[bytes | bytearray | memoryview]:
    """``data`` cut at sizes that straddle chunk boundaries, in all accepted buffer types."""
    sizes = [1, 4095, CHUNK_SIZE + 1, 7, 2 * CHUNK_SIZE - 3, 0, 100_003, CHUNK_SIZE]
    pieces: list[bytes | bytearray | memoryview] = []
    pos = i = 0
    while pos < len(data) or not pieces:
        piece = data[pos : pos + sizes[i % len(sizes)]]
        pos += len(piece)
        kind = i % 3
        pieces.append(bytearray(piece) if kind == 1 else memoryview(piece) if kind else piece)
        i += 1
    return pieces


@pytest.mark.parametrize("vector", VECTOR_PARAMS)
def test_success_vector(vector: Vector | None) -> None:
    if vector is None:
        pytest.fail(MISSING_TESTKIT)
    header, mac, payload = _split(vector.age_file)
    file_key = bytes.fromhex(vector.one("file key"))
    assert header_mac(file_key, header) == mac

    if vector.kind in PYRAGE_UNSUPPORTED:
        # pyrage cannot unwrap these recipients, but the vector gives the file key: open
        # the STREAM payload directly, straight from the spec, and hold us to its bytes.
        plaintext = _spec_decrypt_payload(file_key, payload)
    elif vector.kind == "scrypt":
        plaintext = pyrage.passphrase.decrypt(vector.age_file, vector.one("passphrase"))
    else:
        identities = [pyrage.x25519.Identity.from_str(i) for i in vector.fields["identity"]]
        plaintext = pyrage.decrypt(vector.age_file, identities)
    assert hashlib.sha256(plaintext).hexdigest() == vector.one("payload")

    nonce = payload[:16]
    assert encrypt_payload(file_key, nonce, plaintext) == payload

    # The writer itself, fed in odd pieces, yields the same payload and a valid header MAC.
    out = io.BytesIO()
    with AgeWriter(out, [RECIPIENT_A], _file_key=file_key, _nonce=nonce) as writer:
        for piece in _odd_pieces(plaintext):
            writer.write(piece)
    our_header, our_mac, our_payload = _split(out.getvalue())
    assert our_payload == payload
    assert header_mac(file_key, our_header) == our_mac
    _EXERCISED.setdefault(vector.kind, set()).add(vector.name)


# --- keys and helpers for round trips ---------------------------------------------------

IDENTITY_A = pyrage.x25519.Identity.generate()
IDENTITY_B = pyrage.x25519.Identity.generate()
RECIPIENT_A = str(IDENTITY_A.to_public())
RECIPIENT_B = str(IDENTITY_B.to_public())


@dataclass(frozen=True)
class CliKey:
    path: Path
    identity: object  # pyrage.x25519.Identity
    recipient: str


def _need_age() -> None:
    if shutil.which("age") is None or shutil.which("age-keygen") is None:
        pytest.fail("the age CLI is the reference these tests need: install it (make tools)")


def _age(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["age", *args], input=data, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def cli_key(tmp_path_factory: pytest.TempPathFactory) -> CliKey:
    """A key made by age-keygen, so our recipient parsing meets the CLI's own output."""
    _need_age()
    path = tmp_path_factory.mktemp("agekeys") / "cli.key"
    subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    text = path.read_text()
    (recipient,) = [ln.split(": ")[1] for ln in text.splitlines() if "public key:" in ln]
    (secret,) = [ln for ln in text.splitlines() if ln.startswith("AGE-SECRET-KEY-1")]
    return CliKey(path, pyrage.x25519.Identity.from_str(secret), recipient)


@pytest.fixture(scope="module")
def key_b_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agekeys") / "b.key"
    path.write_text(str(IDENTITY_B) + "\n")
    return path


def _seal(
    plaintext: bytes,
    recipients: list[str],
    file_key: bytes | None = None,
    nonce: bytes | None = None,
) -> bytes:
    out = io.BytesIO()
    with AgeWriter(out, recipients, _file_key=file_key, _nonce=nonce) as writer:
        for piece in _odd_pieces(plaintext):
            writer.write(piece)
    assert writer.bytes_written == len(plaintext)
    return out.getvalue()


def _payload_len(size: int) -> int:
    chunks = max(1, -(-size // CHUNK_SIZE))
    return 16 + size + TAG * chunks


# --- round trips ----------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_writer_output_opens_with_age_cli_and_pyrage(
    size: int, cli_key: CliKey, key_b_file: Path
) -> None:
    plaintext = random.Random(size).randbytes(size)
    sealed = _seal(plaintext, [cli_key.recipient, RECIPIENT_B])
    # A full last chunk stays the last chunk: no trailing empty chunk after it.
    assert len(_split(sealed)[2]) == _payload_len(size)
    for keyfile in (cli_key.path, key_b_file):
        result = _age(["-d", "-i", str(keyfile)], sealed)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == plaintext
    assert pyrage.decrypt(sealed, [cli_key.identity]) == plaintext
    assert pyrage.decrypt(sealed, [IDENTITY_B]) == plaintext


@pytest.mark.parametrize("size", SIZES)
def test_age_cli_output_opens_with_pyrage(size: int, cli_key: CliKey) -> None:
    """The reverse direction: pyrage, our decryptor, reads what the reference CLI writes."""
    plaintext = random.Random(size).randbytes(size)
    result = _age(["-r", cli_key.recipient, "-r", RECIPIENT_B], plaintext)
    assert result.returncode == 0, result.stderr.decode()
    assert pyrage.decrypt(result.stdout, [cli_key.identity]) == plaintext
    assert pyrage.decrypt(result.stdout, [IDENTITY_B]) == plaintext


@pytest.mark.parametrize("size", [0, CHUNK_SIZE, 17 * CHUNK_SIZE, 40 * CHUNK_SIZE + 5])
def test_one_big_write_matches_reference(size: int) -> None:
    """A single large write goes through the zero-copy, batched path; same bytes result."""
    file_key, nonce = bytes(range(16)), bytes(range(16, 32))
    plaintext = random.Random(size).randbytes(size)
    out = io.BytesIO()
    with AgeWriter(out, [RECIPIENT_A], _file_key=file_key, _nonce=nonce) as writer:
        assert writer.write(plaintext) == size
    assert _split(out.getvalue())[2] == _reference_stream(file_key, nonce, plaintext)


BOUNDARY_SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 3 * CHUNK_SIZE]


@st.composite
def _size_and_cuts(draw: st.DrawFn) -> tuple[int, list[int]]:
    size = draw(st.sampled_from(BOUNDARY_SIZES) | st.integers(0, 3 * CHUNK_SIZE + 100))
    cut_at = st.sampled_from([0, size, CHUNK_SIZE, 2 * CHUNK_SIZE]) | st.integers(0, size)
    cuts = draw(st.lists(cut_at.map(lambda c: min(c, size)), max_size=8))
    return size, sorted(cuts)


@settings(max_examples=60, deadline=None)
@given(case=_size_and_cuts())
def test_any_write_split_gives_the_same_file(case: tuple[int, list[int]]) -> None:
    size, cuts = case
    file_key, nonce = b"k" * 16, b"n" * 16
    plaintext = random.Random(size).randbytes(size)
    bounds = [0, *cuts, size]
    out = io.BytesIO()
    with AgeWriter(out, [RECIPIENT_A, RECIPIENT_B], _file_key=file_key, _nonce=nonce) as w:
        for i, (start, end) in enumerate(itertools.pairwise(bounds)):
            piece = plaintext[start:end]
            typed = bytearray(piece) if i % 3 == 1 else memoryview(piece) if i % 3 else piece
            assert w.write(typed) == end - start
    assert w.bytes_written == size
    sealed = out.getvalue()
    assert _split(sealed)[2] == _reference_stream(file_key, nonce, plaintext)
    assert pyrage.decrypt(sealed, [IDENTITY_A]) == plaintext
    assert pyrage.decrypt(sealed, [IDENTITY_B]) == plaintext


# --- header shape ---------------------------------------------------------------------


def test_header_is_canonical_age_v1() -> None:
    file_key, nonce = b"F" * 16, b"N" * 16
    sealed = _seal(b"hello", [RECIPIENT_A, RECIPIENT_B], file_key, nonce)
    header, mac, payload = _split(sealed)
    lines = header.split(b"\n")
    assert lines[0] == b"age-encryption.org/v1"
    assert lines[-1] == b"---"
    stanzas = lines[1:-1]
    assert len(stanzas) == 4  # two recipients: argument line + one body line each
    for arg_line, body_line in zip(stanzas[::2], stanzas[1::2], strict=True):
        kind, share = arg_line.split(b" ")[1:]
        assert kind == b"X25519"
        assert len(share) == 43 and len(body_line) == 43  # 32 bytes, unpadded base64
        assert base64.b64decode(share + b"=", validate=True)
        assert len(base64.b64decode(body_line + b"=", validate=True)) == 32
    assert mac == header_mac(file_key, header)
    assert payload[:16] == nonce
    assert stanzas[0] != stanzas[2]  # a fresh ephemeral share per stanza


def test_file_key_and_nonce_are_fresh_per_file() -> None:
    first, second = _seal(b"x", [RECIPIENT_A]), _seal(b"x", [RECIPIENT_A])
    assert _split(first)[2][:16] != _split(second)[2][:16]
    assert _split(first)[0] != _split(second)[0]


def test_close_is_idempotent_and_leaves_out_open() -> None:
    out = io.BytesIO()
    writer = AgeWriter(out, [RECIPIENT_A])
    writer.write(b"abc")
    writer.close()
    size = len(out.getvalue())
    writer.close()
    assert len(out.getvalue()) == size
    assert writer.closed and not out.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(b"more")
    assert pyrage.decrypt(out.getvalue(), [IDENTITY_A]) == b"abc"


# --- truncation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 9]
)
def test_truncated_file_does_not_decrypt(size: int) -> None:
    plaintext = random.Random(size).randbytes(size)
    sealed = _seal(plaintext, [RECIPIENT_A])
    last_chunk = (size - 1) % CHUNK_SIZE + 1 + TAG
    assert pyrage.decrypt(sealed, [IDENTITY_A]) == plaintext
    for cut in (last_chunk, 1, TAG):
        with pytest.raises(pyrage.DecryptError):
            pyrage.decrypt(sealed[:-cut], [IDENTITY_A])


@pytest.mark.parametrize("size", [0, 100, CHUNK_SIZE, 3 * CHUNK_SIZE])
def test_exception_in_with_block_leaves_an_incomplete_file(size: int) -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError, match="boom"), AgeWriter(out, [RECIPIENT_A]) as writer:
        writer.write(random.Random(size).randbytes(size))
        raise RuntimeError("boom")
    writer.close()  # a later close must not finalise the file either
    assert writer.closed
    sealed = out.getvalue()
    # Only the chunks known not to be last were written; the held-back one never was.
    assert len(_split(sealed)[2]) == 16 + (max(size - 1, 0) // CHUNK_SIZE) * (CHUNK_SIZE + TAG)
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(sealed, [IDENTITY_A])


def test_aborted_file_is_rejected_by_age_cli(tmp_path: Path) -> None:
    _need_age()
    keyfile = tmp_path / "a.key"
    keyfile.write_text(str(IDENTITY_A) + "\n")
    out = io.BytesIO()
    with pytest.raises(RuntimeError), AgeWriter(out, [RECIPIENT_A]) as writer:
        writer.write(b"z" * (2 * CHUNK_SIZE + 5))
        raise RuntimeError
    assert _age(["-d", "-i", str(keyfile)], out.getvalue()).returncode != 0


class _FailingOut(io.BytesIO):
    """Accepts the header, then fails like a full disk."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, data: object) -> int:
        self.calls += 1
        if self.calls > 1:
            raise OSError(28, "No space left on device")
        return super().write(data)  # type: ignore[arg-type]


def test_failed_out_write_never_finalises() -> None:
    out = _FailingOut()
    writer = AgeWriter(out, [RECIPIENT_A])
    with pytest.raises(OSError):
        writer.write(b"q" * (3 * CHUNK_SIZE))
    written = out.getvalue()
    writer.close()
    assert out.getvalue() == written
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(written, [IDENTITY_A])


# --- recipients -----------------------------------------------------------------------


def _bech(hrp: str, data: bytes) -> str:
    five_bit = convertbits(data, 8, 5, True)
    assert five_bit is not None
    return str(bech32_encode(hrp, five_bit))


_GOOD = _bech("age", bytes(range(1, 33)))
_FLIPPED = _GOOD[:-1] + ("q" if _GOOD[-1] != "q" else "p")
BAD_RECIPIENTS = [
    "",
    "age1",
    "age1qqqqqqqq",
    _FLIPPED,  # checksum error
    _GOOD.upper(),  # the age CLI refuses it too
    _GOOD[:10] + _GOOD[10].upper() + _GOOD[11:],  # mixed case
    " " + _GOOD,
    _GOOD + "\n",
    _bech("agf", bytes(range(1, 33))),
    _bech("age", bytes(31)),
    _bech("age", bytes(33)),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNvbWVrZXk",
]


@pytest.mark.parametrize("bad", BAD_RECIPIENTS)
def test_malformed_recipient_is_a_format_error(bad: str) -> None:
    with pytest.raises(FormatError) as caught:
        AgeWriter(io.BytesIO(), [RECIPIENT_A, bad])
    assert repr(bad) in caught.value.message
    assert "age1" in caught.value.hint and "62" in caught.value.hint


def test_good_bech32_recipient_is_accepted() -> None:
    # Any well-formed 32-byte key is accepted, as age does; only low-order points are not.
    AgeWriter(io.BytesIO(), [_GOOD]).close()


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31)])
def test_low_order_recipient_is_rejected(point: bytes) -> None:
    with pytest.raises(FormatError, match="low-order"):
        AgeWriter(io.BytesIO(), [_bech("age", point)])


def test_secret_key_as_recipient_is_rejected_without_echoing_it() -> None:
    secret = str(IDENTITY_A)
    with pytest.raises(FormatError) as caught:
        AgeWriter(io.BytesIO(), [secret])
    assert secret not in str(caught.value)
    assert secret[15:] not in str(caught.value)


def test_no_recipients_and_wrong_types() -> None:
    with pytest.raises(FormatError):
        AgeWriter(io.BytesIO(), [])
    with pytest.raises(TypeError):
        AgeWriter(io.BytesIO(), RECIPIENT_A)
    with pytest.raises(TypeError):
        AgeWriter(io.BytesIO(), [RECIPIENT_A.encode()])  # type: ignore[list-item]


def test_nothing_is_written_for_bad_recipients() -> None:
    out = io.BytesIO()
    with pytest.raises(FormatError):
        AgeWriter(out, [RECIPIENT_A, "age1nope"])
    assert out.getvalue() == b""


# --- must stay last: the vector run was not vacuous ------------------------------------


def test_vectors_were_exercised(request: pytest.FixtureRequest) -> None:
    if not TESTKIT.is_dir():
        pytest.fail(MISSING_TESTKIT)
    kinds = Counter(v.kind for v in SUCCESS_VECTORS)
    assert len(SUCCESS_VECTORS) >= MIN_SUCCESS_VECTORS
    for kind, minimum in MIN_EXERCISED.items():
        assert kinds[kind] >= minimum, (kind, kinds)
    assert set(kinds) <= set(MIN_EXERCISED) | PYRAGE_UNSUPPORTED, kinds
    # When this session ran every vector test (they come earlier in this file), every one
    # pyrage supports must have got to the end; none may have been skipped or lost.
    ran = {
        item.name
        for item in request.session.items
        if getattr(item, "originalname", None) == "test_success_vector"
    }
    if len(ran) == len(SUCCESS_VECTORS):
        for kind, minimum in MIN_EXERCISED.items():
            expected = {v.name for v in SUCCESS_VECTORS if v.kind == kind}
            assert _EXERCISED.get(kind, set()) == expected
            assert len(expected) >= minimum
