"""The audit log: every state change of a switch, hash-chained and signed by the server.

Each entry is ``{seq, at, kind, detail, switch}`` plus ``prev`` (the hash of the entry
before it, :data:`GENESIS` for the first) and ``hash``::

    hash = SHA-256(canonical_json({"prev": prev, "seq": .., "at": .., "kind": ..,
                                   "detail": .., "switch": ..}))

so an entry's hash commits to everything before it, and the last hash (the *head*)
commits to the whole history. The owner exports the log as one document signed by the
server (``server_key``), and ``afterword verify`` re-walks the chain offline.

What this proves: an export is internally consistent and made by the holder of the
server key. The chain is unkeyed, so whoever can sign can also rewrite history; what
catches that is the owner keeping the head of an earlier export and finding its entries
unchanged, at the same hash, in every later one.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.encoding import canonical_json
from afterword.crypto.signing import (
    SERVER_KEY,
    Document,
    describe_server_signer,
    document_kind,
    parse_public_key,
    sign_document,
    verify_document,
)
from afterword.errors import FormatError, IntegrityError

AUDIT_KIND = "audit/1"
GENESIS = "0" * 64
ENTRY_FIELDS = ("seq", "at", "kind", "detail", "switch")
CHAIN_FIELDS = ("prev", "hash")
MAX_TIME = 253_402_300_799  # 9999-12-31T23:59:59Z: the last instant ISO 8601 dates can show
_ENTRY_KEYS = frozenset(ENTRY_FIELDS)
_KNOWN_KEYS = frozenset(ENTRY_FIELDS + CHAIN_FIELDS)
_HASH = re.compile(r"^[0-9a-f]{64}$")
_TAMPERED = "do not trust this log; export it again from the server and compare"


def utc_text(seconds: int) -> str:
    """Unix seconds as ISO 8601 UTC (``2024-05-01T12:00:00Z``): unambiguous in any zone."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_unix_time(value: object) -> bool:
    """Whole unix seconds from 1970 to the year 9999 (so every time can be shown as a date)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIME


def _name(entry: dict[str, Any], position: int | None) -> str:
    """How errors name an entry: by its seq when it has a usable one, else by position."""
    seq = entry.get("seq")
    if _is_int(seq):
        return f"entry seq {seq}"
    return f"entry {position} of the log" if position is not None else "an entry"


def _entry_fields(entry: object, position: int | None) -> dict[str, Any]:
    """The five hashed fields of ``entry``, type-checked; ``prev``/``hash`` are ignored.

    Unknown fields are refused rather than skipped: a field outside the hash would be
    text a verifier shows but nothing commits to.
    """
    if not isinstance(entry, dict):
        where = f"entry {position} of the log" if position is not None else "an entry"
        raise FormatError(f"{where} is not an object", _TAMPERED)
    if not (_ENTRY_KEYS <= entry.keys() <= _KNOWN_KEYS):  # (every entry the server writes
        # passes here: the message is built only for one that does not)
        unknown = sorted(entry.keys() - _KNOWN_KEYS)
        missing = [f for f in ENTRY_FIELDS if f not in entry]
        raise FormatError(
            f"{_name(entry, position)} "
            + (f"has unknown fields {unknown}" if unknown else f"lacks {', '.join(missing)}"),
            _TAMPERED,
        )
    seq, at = entry["seq"], entry["at"]
    if not _is_int(seq) or seq < 1:
        raise FormatError(f"{_name(entry, position)} has an invalid seq number {seq!r}", _TAMPERED)
    if not is_unix_time(at):
        raise FormatError(
            f"{_name(entry, position)} has an invalid time {at!r} (unix seconds)", _TAMPERED
        )
    for field in ("kind", "detail", "switch"):
        if not isinstance(entry[field], str):
            raise FormatError(f"{_name(entry, position)} has a non-text {field}", _TAMPERED)
    return {f: entry[f] for f in ENTRY_FIELDS}


def _check_hash_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HASH.match(value):
        raise FormatError(f"{what} is not a lowercase hex SHA-256", _TAMPERED)
    return value


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """SHA-256 hex of ``canonical_json({"prev": prev_hash, **entry})`` (five fields only).

    ``entry`` may already carry ``prev`` and ``hash``: they are left out, so the hash of
    a chained entry can be recomputed from the entry itself.
    """
    _check_hash_text(prev_hash, "the previous hash")
    fields = _entry_fields(entry, None)
    return hashlib.sha256(canonical_json({"prev": prev_hash, **fields})).hexdigest()


def chain(
    entries: list[dict[str, Any]], switch: str, *, after: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Return ``entries`` with ``prev`` and ``hash`` filled in, ready to store or export.

    ``seq`` and ``switch`` may be omitted (they are filled in); if given, they must be
    the next number and ``switch``. ``after`` continues an existing chain from its last
    entry, so the server can append one entry at a time; its hash is rechecked first, so
    a damaged tail is never extended.
    """
    prev, seq = GENESIS, 0
    if after is not None:
        last = _entry_fields(after, None)
        if last["switch"] != switch:
            raise IntegrityError(
                f"cannot continue the log of switch {last['switch']} as switch {switch}",
                "pass the last entry of this switch's own log",
            )
        recorded = _check_hash_text(after.get("hash"), "the last entry's hash")
        if entry_hash(_check_hash_text(after.get("prev"), "its prev"), last) != recorded:
            raise IntegrityError(
                f"entry seq {last['seq']} does not match its hash", "the stored log is damaged"
            )
        prev, seq = recorded, last["seq"]
    chained: list[dict[str, Any]] = []
    for given in entries:
        seq += 1
        fields = {"seq": seq, "switch": switch, **given}
        fields = _entry_fields({k: v for k, v in fields.items() if k not in CHAIN_FIELDS}, seq)
        if fields["seq"] != seq or fields["switch"] != switch:
            raise FormatError(
                f"entry seq {fields['seq']} of switch {fields['switch']} cannot come next "
                f"(expected seq {seq} of switch {switch})",
                "omit seq and switch and let chain() number the entries",
            )
        digest = entry_hash(prev, fields)
        chained.append({**fields, "prev": prev, "hash": digest})
        prev = digest
    return chained


def _misplaced(seqs: list[object], position: int, seq: int) -> IntegrityError:
    """Name what went wrong when the entry at ``position`` (0-based) has the wrong seq."""
    expected = position + 1
    after = f"seq {position}" if position else "the start of the log"
    if seq < expected:
        message = f"entry seq {seq} appears twice: again where seq {expected} should be"
    elif expected not in seqs[position:]:
        message = f"entry seq {expected} is missing: seq {seq} follows {after}"
    else:
        message = f"entry seq {seq} is where seq {expected} should be (right after {after})"
    return IntegrityError(message, "entries were removed, reordered or inserted; " + _TAMPERED)


def check_chain(switch: str, entries: object) -> str:
    """Walk the chain; return the head (the last hash, GENESIS if empty).

    Raises on the first entry that does not hold, naming its seq: a missing, duplicated,
    reordered or inserted entry, one of another switch, a broken link or an altered entry.
    """
    if not isinstance(entries, list):
        raise FormatError("the audit log has no list of entries", _TAMPERED)
    seqs = [e.get("seq") if isinstance(e, dict) else None for e in entries]
    prev = GENESIS
    for position, entry in enumerate(entries):
        fields = _entry_fields(entry, position + 1)
        assert isinstance(entry, dict)
        seq = fields["seq"]
        if seq != position + 1:
            raise _misplaced(seqs, position, seq)
        if fields["switch"] != switch:
            raise IntegrityError(
                f"entry seq {seq} belongs to switch {fields['switch']}, not to this log's "
                f"switch {switch}",
                "it was copied in from another switch's log; " + _TAMPERED,
            )
        if entry.get("prev") != prev:
            raise IntegrityError(
                f"entry seq {seq} is not chained to "
                + (f"entry seq {seq - 1}" if seq > 1 else "the start of the log")
                + ": its prev is not "
                + ("that entry's hash" if seq > 1 else "the genesis hash"),
                "an entry was inserted or removed before it, or it was altered; " + _TAMPERED,
            )
        recorded = _check_hash_text(entry.get("hash"), f"the hash of entry seq {seq}")
        if entry_hash(prev, fields) != recorded:
            raise IntegrityError(
                f"entry seq {seq} was altered: its hash does not match its contents",
                _TAMPERED,
            )
        prev = recorded
    return prev


def export_log(
    switch: str, entries_with_hashes: list[dict[str, Any]], server_signing_key: Ed25519PrivateKey
) -> Document:
    """The signed export of a switch's log; refuses to sign a chain that does not hold."""
    head = check_chain(switch, entries_with_hashes)
    body = {
        "afterword": AUDIT_KIND,
        "switch": switch,
        "entries": [{f: e[f] for f in ENTRY_FIELDS + CHAIN_FIELDS} for e in entries_with_hashes],
        "head": head,
    }
    return sign_document(body, server_signing_key, key_field=SERVER_KEY)


def verify_log(doc: Any, server_key: str | None = None) -> list[str]:
    """Check an exported audit log; return what it establishes, or raise on the first flaw.

    The chain is walked before the signature is checked: both must hold, and walking it
    first lets a tampered entry be named by its seq instead of only "bad signature".
    """
    tag = document_kind(doc)
    if tag != AUDIT_KIND:
        raise FormatError(f"expected an afterword audit log (audit/1), found {tag!r}")
    assert isinstance(doc, dict)
    switch = doc.get("switch")
    if not isinstance(switch, str) or not switch:
        raise FormatError("the audit log names no switch", _TAMPERED)
    entries = doc.get("entries")
    head = check_chain(switch, entries)
    assert isinstance(entries, list)
    if doc.get("head") != head:
        last = f"entry seq {len(entries)}" if entries else "the genesis hash (the log is empty)"
        raise IntegrityError(
            f"the log's head {str(doc.get('head'))[:16]}... is not the hash of {last}",
            "entries after it were removed, or the head was altered; " + _TAMPERED,
        )
    if server_key is not None:
        parse_public_key(server_key, "the server key to check against")
    verify_document(doc, "audit", expected_key=server_key, key_field=SERVER_KEY)
    said = [describe_server_signer("audit log", doc[SERVER_KEY], server_key is not None)]
    said.append(f"It is the log of switch {switch}.")
    if not entries:
        said.append("It holds no entries.")
        return said
    first, last_entry = entries[0], entries[-1]
    n = len(entries)
    said.append(
        f"It holds {n} entr{'y' if n == 1 else 'ies'}, seq 1 to {n}, from "
        f"{utc_text(first['at'])} to {utc_text(last_entry['at'])}, each chained to the one "
        "before: none was removed, reordered, altered or inserted since it was written."
    )
    kinds = Counter(str(e["kind"]) for e in entries)
    said.append("Events: " + ", ".join(f"{k} x{c}" for k, c in sorted(kinds.items())) + ".")
    when = utc_text(last_entry["at"])
    said.append(f"Last entry: {last_entry['kind']} at {when}: {last_entry['detail']}")
    said.append(
        f"Head hash {head}: keep it. A later export whose entry seq {n} has another hash "
        "was rewritten."
    )
    for before, entry in itertools.pairwise(entries):
        if entry["at"] < before["at"]:
            said.append(
                f"Note: entry seq {entry['seq']} is dated before seq {before['seq']} (the "
                "server's clock went back); the chain, not the times, fixes the order."
            )
    return said
