"""Signed notes and transparency-log checkpoints, as C2SP writes them.

Why: peers of a federated switch keep each other's audit-log heads (docs/federation.md,
section 6), and a head is worth keeping only if tools we did not write can check it. C2SP
signed notes (c2sp.org/signed-note) and tlog checkpoints (c2sp.org/tlog-checkpoint) are what
Go's checksum database, sigstore and the witnesses exchange; Go's golang.org/x/mod/sumdb/note
is the reference implementation, and its test vectors pin our bytes.

A note is a text ending in a newline, a blank line, then lines ``\u2014 NAME BASE64(keyid ||
sig)`` (em dash U+2014); keyid = SHA-256(name || 0x0A || 0x01 || Ed25519 key)[:4]. A checkpoint
is a note whose text is origin, decimal size and base64 RFC 9162 root, a line each, then any
extension lines (we write none, and keep those we read: the signature covers them).

A switch's audit log is such a log: leaf ``i`` is the RFC 8785 canonical JSON of entry
``seq i+1`` as the ``audit/1`` export lists it (seven fields), and its origin is
``<server host>[/path]/afterword/<switch id>``. The hash chain (crypto/audit.py) is unchanged;
the tree over the same entries gives a peer who kept only a head a short proof that a newer
head extends it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from afterword.crypto import merkle
from afterword.crypto.audit import CHAIN_FIELDS, ENTRY_FIELDS, check_chain
from afterword.crypto.encoding import canonical_json
from afterword.crypto.servers import check_server_url
from afterword.crypto.switch_id import check_switch_id
from afterword.errors import FormatError, IntegrityError, SignatureError

ALG_ED25519 = 0x01
"""The signed-note signature type of Ed25519 (c2sp.org/signed-note, "Signature types")."""

MAX_NOTE_BYTES = 64 * 1024
"""A note larger than this is refused before anything else is read: a checkpoint with a
hundred signatures is under 12 KiB, and hostile input must be cheap to turn away."""

MAX_SIGNATURES = 100
"""At most this many signature lines, Go's own cap (the spec asks verifiers to take 16)."""

MAX_TREE_SIZE = 2**63 - 1
"""The largest tree size: Go's checkpoint readers keep it in an int64."""

SIG_PREFIX = "\u2014 "  # em dash and a space: how every signature line begins
_EMPTY_ROOT = hashlib.sha256(b"").digest()
_SIZE = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
_HEX_ID = re.compile(r"[0-9a-f]{8}", re.ASCII)
_NOTE_HINT = "do not trust this note; fetch it again from the server that signed it"
_KEY_HINT = "use the verifier key the server publishes, written name+keyid+base64key"
_HASH_HINT = "the root hash must be the 32-byte RFC 9162 root of the log"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted signed-note key: its name, its 32-bit key id, its Ed25519 public key."""

    name: str
    key_id: int
    public_key: Ed25519PublicKey = field(compare=False, repr=False)

    def key_text(self) -> str:
        """This key as a verifier key string, ``name+hexkeyid+base64(0x01||key)``."""
        return verifier_key(self.name, self.public_key)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line as read: key name, key id and the raw Ed25519 signature."""

    name: str
    key_id: int
    signature: bytes


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def is_valid_name(name: object) -> bool:
    """Whether ``name`` can name a key: not empty, no Unicode space, no ``+`` (Go's
    ``isValidName``), and here also no control character, since a note may hold none."""
    bad = ("Zs", "Zl", "Zp", "Cc", "Cs")
    ok = isinstance(name, str) and bool(name) and "+" not in name
    return ok and not any(c.isspace() or unicodedata.category(c) in bad for c in str(name))


def _check_name(name: object) -> str:
    if not is_valid_name(name):
        raise FormatError(
            f"{name!r:.80} cannot name a signed-note key",
            "a key name is non-empty text without spaces, control characters or '+', "
            "such as example.org/afterword/SWITCH",
        )
    assert isinstance(name, str)
    return name


def key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """The key id: the first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || key)."""
    data = _check_name(name).encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + _raw(public_key)
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key a server publishes so peers can check its notes:
    ``name+hexkeyid+base64(0x01 || 32-byte public key)``, as Go's NewEd25519VerifierKey."""
    encoded = base64.b64encode(bytes([ALG_ED25519]) + _raw(public_key)).decode("ascii")
    return f"{name}+{key_id(name, public_key):08x}+{encoded}"


def _b64(text: str) -> bytes | None:
    """Standard base64 (RFC 4648 section 4) with padding, or None."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None


def parse_verifier_key(text: object) -> NoteVerifier:
    """A verifier key string read back, with its key id checked against its name and key.

    A :class:`FormatError` says which part is wrong: shape, name, key id (not 8 lowercase hex
    digits, or not the hash of name and key), algorithm (Ed25519 only) or key length."""
    parts = text.split("+", 2) if isinstance(text, str) and len(text) <= 1024 else []
    if len(parts) != 3:  # (the base64 key may itself hold a "+": split at the first two)
        raise FormatError(f"{text!r:.80} is not a verifier key (name+keyid+key)", _KEY_HINT)
    name, hex_id, encoded = parts
    _check_name(name)
    if not _HEX_ID.fullmatch(hex_id):
        raise FormatError(f"the key id {hex_id!r:.20} is not 8 lowercase hex digits", _KEY_HINT)
    raw = _b64(encoded)
    if raw is None or not raw:
        raise FormatError("the verifier key's key is not base64", _KEY_HINT)
    if raw[0] != ALG_ED25519:
        raise FormatError(
            f"the verifier key is of signature type {raw[0]:#04x}, not Ed25519 (0x01)",
            "afterword checks Ed25519 note signatures only",
        )
    if len(raw) != 33:
        raise FormatError(f"the verifier key's key is {len(raw) - 1} bytes, not 32", _KEY_HINT)
    verifier = NoteVerifier(name, int(hex_id, 16), Ed25519PublicKey.from_public_bytes(raw[1:]))
    if key_id(name, verifier.public_key) != verifier.key_id:
        raise FormatError(
            f"the key id {hex_id} is not the id of this name and key (it is "
            f"{key_id(name, verifier.public_key):08x})",
            "the verifier key was altered or mistyped; copy it again from its server",
        )
    return verifier


def _check_note_text(text: str, what: str) -> bytes:
    """The UTF-8 of a note's text or whole note, refused if it holds a control character
    other than newline (the spec's rule), lone surrogates, or more than MAX_NOTE_BYTES."""
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FormatError(f"{what} is not valid UTF-8 text", _NOTE_HINT) from exc
    if len(raw) > MAX_NOTE_BYTES:
        raise FormatError(f"{what} is larger than {MAX_NOTE_BYTES} bytes", _NOTE_HINT)
    bad = next((c for c in text if c < " " and c != "\n"), None)
    if bad is not None:
        raise FormatError(
            f"{what} holds the control character U+{ord(bad):04X}",
            "a signed note may hold no control character other than newline; " + _NOTE_HINT,
        )
    return raw


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """``text`` signed by ``private_key`` under key ``name``: the text, a blank line and one
    signature line, the bytes Go's ``note.Sign`` gives. The text must end in a newline."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("a note's text must end in a newline", "add the final newline")
    raw = _check_note_text(text, "the note's text")
    _check_name(name)
    signature = private_key.sign(raw)
    kid = key_id(name, private_key.public_key()).to_bytes(4, "big")
    line = f"{SIG_PREFIX}{name} {base64.b64encode(kid + signature).decode('ascii')}\n"
    return _check_note_text(f"{text}\n{line}", "the signed note").decode("utf-8")


def _signature_line(line: str, number: int) -> NoteSignature:
    where = f"signature line {number} of the note"
    if not line.startswith(SIG_PREFIX):
        raise FormatError(
            f"{where} does not begin with an em dash (U+2014) and a space",
            "the signatures are the lines after the note's last blank line; " + _NOTE_HINT,
        )
    name, _, encoded = line[len(SIG_PREFIX) :].partition(" ")
    if not is_valid_name(name):
        raise FormatError(f"{where} has no valid key name", _NOTE_HINT)
    raw = _b64(encoded) if encoded else None
    if raw is None or len(raw) < 5:
        raise FormatError(f"{where} is not base64 of a key id and a signature", _NOTE_HINT)
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """A note's text and signature lines, checked for shape only (nothing verified yet).
    A :class:`FormatError` names the first flaw; a note over MAX_NOTE_BYTES or with more
    than MAX_SIGNATURES signature lines is refused before any line is decoded."""
    if not isinstance(note, str | bytes | bytearray):
        raise FormatError("a signed note must be text", _NOTE_HINT)
    if len(note) > MAX_NOTE_BYTES:  # (a character is at least one byte)
        raise FormatError(f"the signed note is larger than {MAX_NOTE_BYTES} bytes", _NOTE_HINT)
    if not isinstance(note, str):
        try:
            note = bytes(note).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatError("the signed note is not valid UTF-8", _NOTE_HINT) from exc
    _check_note_text(note, "the signed note")
    split = note.rfind("\n\n")
    if split < 0:
        raise FormatError("the note has no blank line before its signatures", _NOTE_HINT)
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise FormatError(
            "the note has no signature line after its last blank line, or its last line "
            "does not end in a newline",
            _NOTE_HINT,
        )
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise FormatError(
            f"the note has {len(lines)} signature lines; afterword reads at most {MAX_SIGNATURES}",
            _NOTE_HINT,
        )
    return text, [_signature_line(line, i) for i, line in enumerate(lines, 1)]


def _verifier_table(
    verifiers: Iterable[NoteVerifier | str],
) -> dict[tuple[str, int], list[NoteVerifier]]:
    table: dict[tuple[str, int], list[NoteVerifier]] = {}
    for v in verifiers:
        verifier = parse_verifier_key(v) if isinstance(v, str) else v
        if not isinstance(verifier, NoteVerifier):
            raise FormatError("each trusted key must be a verifier key", _KEY_HINT)
        table.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    return table


def open_note(
    note: str | bytes, verifiers: Iterable[NoteVerifier | str]
) -> tuple[str, tuple[NoteVerifier, ...]]:
    """The text of ``note`` and the trusted keys (objects or verifier key strings) whose
    signatures on it verified.

    As the spec and Go's ``note.Open``: a signature by a key not trusted is skipped, even if
    its name or its key id alone matches one; a trusted key's signature that fails refuses
    the whole note (:class:`SignatureError`; Go checks a key's first line only, we check
    every distinct line, as the spec's MUST says); so does a note no trusted key signed.
    A shape flaw is a :class:`FormatError`, and so are two trusted keys of one name and key
    id when a signature names them (Go's "ambiguous key")."""
    text, signatures = parse_note(note)
    table = _verifier_table(verifiers)
    message = text.encode("utf-8")
    signed: list[NoteVerifier] = []
    checked: set[tuple[str, int, bytes]] = set()
    for sig in signatures:
        known = table.get((sig.name, sig.key_id))
        label = f"{sig.name}+{sig.key_id:08x}"
        if not known or (sig.name, sig.key_id, sig.signature) in checked:
            continue  # someone else's key, or a line already verified
        if len(known) > 1:
            raise FormatError(f"two trusted keys are named {label}", "give each trusted key once")
        verifier = known[0]
        try:
            verifier.public_key.verify(sig.signature, message)
        except InvalidSignature as exc:
            raise SignatureError(
                f"the signature of key {label} on the note does not verify: the note was "
                "altered or the signature forged",
                _NOTE_HINT,
            ) from exc
        checked.add((sig.name, sig.key_id, sig.signature))
        if verifier not in signed:
            signed.append(verifier)
    if not signed:
        names = ", ".join(f"{s.name}+{s.key_id:08x}" for s in signatures[:5])
        raise SignatureError(
            f"the note is signed by none of the trusted keys (it names {names})",
            "check it against the verifier key its server publishes; " + _NOTE_HINT,
        )
    return text, tuple(signed)


# --- tlog checkpoints -----------------------------------------------------------------------


def _line_ok(line: str) -> bool:
    return bool(line) and "\n" not in line and not any(c < " " for c in line)


@dataclass(frozen=True)
class Checkpoint:
    """A log's head at one size (c2sp.org/tlog-checkpoint): who the log is (``origin``),
    how many leaves it has (``size``) and their RFC 9162 root (``root_hash``, 32 bytes).
    ``extensions`` are opaque extra lines, kept as read; afterword writes none."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not _line_ok(self.origin):
            raise FormatError(
                f"{self.origin!r:.80} cannot be a checkpoint's origin",
                "an origin is one non-empty line of text, such as example.org/log",
            )
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise FormatError(f"a checkpoint's size is a whole number from 0 to {MAX_TREE_SIZE}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise FormatError("a checkpoint's root hash must be 32 bytes", _HASH_HINT)
        lines = self.extensions if isinstance(self.extensions, tuple) else ("",)
        if not all(isinstance(e, str) and _line_ok(e) for e in lines):
            raise FormatError("a checkpoint's extension lines are each one non-empty line")

    def checkpoint_text(self) -> str:
        """The note text: origin, decimal size, base64 root hash, any extension lines, each
        ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint in a note's text; a :class:`FormatError` names the first bad line. The
    size is ASCII decimal without leading zeros, the root canonical base64 of 32 bytes."""
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("a checkpoint's text must end in a newline", _NOTE_HINT)
    _check_note_text(text, "the checkpoint")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise FormatError("a checkpoint has at least 3 lines: origin, size, root", _NOTE_HINT)
    origin, size, root, *extensions = lines
    if not origin:
        raise FormatError("the checkpoint's origin line is empty", _NOTE_HINT)
    if not _SIZE.fullmatch(size) or int(size) > MAX_TREE_SIZE:
        raise FormatError(
            f"the checkpoint's size {size!r:.30} is not a decimal number from 0 to "
            f"{MAX_TREE_SIZE} without leading zeros",
            _NOTE_HINT,
        )
    raw = _b64(root)
    if raw is None or len(raw) != 32 or base64.b64encode(raw).decode("ascii") != root:
        raise FormatError("the checkpoint's root hash is not base64 of 32 bytes", _HASH_HINT)
    if any(not line for line in extensions):
        raise FormatError("the checkpoint has an empty extension line", _NOTE_HINT)
    return Checkpoint(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint, private_key: Ed25519PrivateKey, name: str | None = None
) -> str:
    """The checkpoint as a signed note. The key name defaults to the origin, as the spec
    recommends; pass ``name`` for an origin that cannot name a key (one with spaces)."""
    return sign_note(
        checkpoint.checkpoint_text(), checkpoint.origin if name is None else name, private_key
    )


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier | str], origin: str | None = None
) -> tuple[Checkpoint, tuple[NoteVerifier, ...]]:
    """The checkpoint in a signed note, with the trusted keys that signed it (as
    :func:`open_note`). With ``origin``, a checkpoint of another log is refused."""
    text, signers = open_note(note, verifiers)
    checkpoint = parse_checkpoint(text)
    if origin is not None and checkpoint.origin != origin:
        raise FormatError(
            f"the checkpoint is of log {checkpoint.origin!r:.100}, not {origin!r:.100}",
            "ask the server for this switch's own checkpoint",
        )
    return checkpoint, signers


# --- an afterword switch's audit log as a tlog ----------------------------------------------


def switch_origin(server_url: str, switch: str) -> str:
    """The origin (and key name) of a switch's audit log on a server:
    ``<host>[:port][/path]/afterword/<switch id>``, the server's address without its scheme
    (``https://Example.org/aw`` gives ``example.org/aw/afterword/ID``)."""
    parts = urlsplit(check_server_url(server_url))
    origin = f"{parts.netloc.lower()}{parts.path}/afterword/{check_switch_id(switch)}"
    return _check_name(origin)


def audit_leaf(entry: dict[str, Any]) -> bytes:
    """One log leaf: the RFC 8785 canonical JSON of the entry's seven exported fields."""
    return canonical_json({f: entry[f] for f in ENTRY_FIELDS + CHAIN_FIELDS})


def audit_leaf_hashes(switch: str, entries: list[dict[str, Any]]) -> list[bytes]:
    """The RFC 9162 leaf hashes of a switch's audit log, after its hash chain is checked
    (a chain that does not hold is refused, as ``export_log`` refuses to sign it)."""
    check_chain(switch, entries)
    return [merkle.leaf_hash(audit_leaf(e)) for e in entries]


def switch_checkpoint(server_url: str, switch: str, entries: list[dict[str, Any]]) -> Checkpoint:
    """The checkpoint of a switch's audit log (entries as ``chain``/``export_log`` hold them)."""
    leaves = audit_leaf_hashes(switch, entries)
    return Checkpoint(
        switch_origin(server_url, switch), len(leaves), merkle.root_from_leaf_hashes(leaves)
    )


def switch_consistency_proof(switch: str, entries: list[dict[str, Any]], old: int) -> list[bytes]:
    """The RFC 9162 proof that a peer's older checkpoint of size ``old`` is a prefix."""
    return merkle.consistency_proof(audit_leaf_hashes(switch, entries), old)


class Consistency(Enum):
    """What :func:`compare_checkpoints` established about two heads of one log: the same
    log (SAME), a larger one a proof showed only appended to the older (EXTENDED), or a
    larger one with no proof given (GREW_UNPROVEN: ask its server for one before trusting
    that the older entries are unchanged)."""

    SAME = "same"
    EXTENDED = "extended"
    GREW_UNPROVEN = "grew-unproven"


_RETRY_HINT = "ask the server for the proof again"
_FORK_HINT = (
    "keep both signed checkpoints: together they prove the server signed two different "
    "histories of this switch; tell the owner and the custodians"
)


def compare_checkpoints(
    older: Checkpoint, newer: Checkpoint, proof: Sequence[bytes] | None = None
) -> Consistency:
    """Whether ``newer`` is a later head of the same log as ``older`` (the one kept).

    The same size with another root is a fork; a newer that is smaller went back (a
    rollback, or a fork); a larger one with a ``proof`` that does not verify was rewritten.
    Each raises :class:`IntegrityError`. Checkpoints of two logs are a :class:`FormatError`."""
    if older.origin != newer.origin:
        raise FormatError(
            f"the checkpoints are of two logs ({older.origin!r:.100} and {newer.origin!r:.100})",
            "compare only checkpoints of one switch on one server",
        )
    if older.size == 0 and older.root_hash != _EMPTY_ROOT:
        raise IntegrityError(
            "the older checkpoint is of an empty log but its root is not", _FORK_HINT
        )
    if older.size == newer.size:
        if older.root_hash != newer.root_hash:
            raise IntegrityError(
                f"the log forked: two checkpoints of size {older.size} with different roots",
                _FORK_HINT,
            )
        if proof:
            raise IntegrityError(
                "a consistency proof between checkpoints of one size is empty", _RETRY_HINT
            )
        return Consistency.SAME
    if newer.size < older.size:
        raise IntegrityError(
            f"the log went back from {older.size} to {newer.size} entries: the newer "
            "checkpoint is of a shorter log (rolled back, or a fork)",
            _FORK_HINT,
        )
    if proof is None:
        # the empty log is a prefix of every log: there is nothing to prove
        return Consistency.EXTENDED if older.size == 0 else Consistency.GREW_UNPROVEN
    if not merkle.verify_consistency(
        older.size, newer.size, older.root_hash, newer.root_hash, proof
    ):
        raise IntegrityError(
            f"the log of {newer.size} entries does not extend the one of {older.size}: the "
            "consistency proof fails (its first entries were rewritten, or the proof is "
            "not for these checkpoints)",
            _RETRY_HINT + "; if a fresh one fails too, " + _FORK_HINT,
        )
    return Consistency.EXTENDED
