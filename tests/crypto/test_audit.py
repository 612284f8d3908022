"""The audit log: hash chain, signed export, and every way of rewriting history."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afterword.crypto.audit import (
    AUDIT_KIND,
    GENESIS,
    MAX_TIME,
    chain,
    entry_hash,
    export_log,
    verify_log,
)
from afterword.crypto.encoding import pretty_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import public_key_text, sign_document
from afterword.crypto.switch_id import switch_id_for
from afterword.crypto.verify import verify_any
from afterword.errors import AfterwordError, FormatError, IntegrityError, SignatureError

NOTICE_OWNER = OwnerKey.generate()
DOSSIER_RECIPIENT = OwnerKey.generate().age_recipient
SWITCH = switch_id_for(NOTICE_OWNER.public_key, DOSSIER_RECIPIENT)
SERVER = Ed25519PrivateKey.generate()
SERVER_KEY = public_key_text(SERVER.public_key())
AFTERWORD = str(Path(sys.executable).parent / "afterword")

KINDS = ["created", "armed", "check-in", "reminder", "overdue", "triggered", "released"]
raw_entries = st.lists(
    st.fixed_dictionaries(
        {
            "at": st.integers(min_value=0, max_value=MAX_TIME),
            "kind": st.sampled_from(KINDS) | st.text(max_size=12),
            "detail": st.text(max_size=40),
        }
    ),
    min_size=1,
    max_size=12,
)


def exported(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return export_log(SWITCH, chain(entries, SWITCH), SERVER)


def test_entry_hash_is_sha256_of_canonical_json() -> None:
    """Pinned by hand-written RFC 8785 bytes, so another implementation can match it."""
    entry = {"seq": 1, "at": 5, "kind": "armed", "detail": "d", "switch": "s"}
    canonical = '{"at":5,"detail":"d","kind":"armed","prev":"' + GENESIS + '","seq":1,"switch":"s"}'
    expected = hashlib.sha256(canonical.encode()).hexdigest()
    assert entry_hash(GENESIS, entry) == expected
    assert entry_hash(GENESIS, {**entry, "prev": "x", "hash": "y"}) == expected
    (chained,) = chain([{"at": 5, "kind": "armed", "detail": "d"}], "s")
    assert chained == {**entry, "prev": GENESIS, "hash": expected}


def test_chain_appends_and_refuses_misfits() -> None:
    entries = [{"at": i, "kind": "check-in", "detail": f"#{i}"} for i in range(5)]
    whole = chain(entries, SWITCH)
    assert chain(entries[3:], SWITCH, after=whole[2]) == whole[3:]
    with pytest.raises(FormatError, match="cannot come next"):
        chain([{**entries[0], "seq": 7}], SWITCH)
    with pytest.raises(FormatError, match="cannot come next"):
        chain([{**entries[0], "switch": "other"}], SWITCH)
    with pytest.raises(IntegrityError, match="cannot continue the log of switch"):
        chain(entries, "other", after=whole[-1])
    with pytest.raises(IntegrityError, match="entry seq 5 does not match its hash"):
        chain(entries, SWITCH, after={**whole[-1], "detail": "edited"})
    with pytest.raises(FormatError, match="has unknown fields"):
        chain([{**entries[0], "note": "x"}], SWITCH)
    for at in (-1, MAX_TIME + 1, 1.5, True):
        with pytest.raises(FormatError, match="invalid time"):
            chain([{**entries[0], "at": at}], SWITCH)
    broken = copy.deepcopy(whole)
    broken[1]["detail"] = "edited"
    with pytest.raises(IntegrityError, match="entry seq 2 was altered"):
        export_log(SWITCH, broken, SERVER)  # the server never signs a broken chain


@settings(max_examples=60, deadline=None)
@given(entries=raw_entries)
def test_exported_log_verifies(entries: list[dict[str, Any]]) -> None:
    doc = exported(entries)
    assert doc["afterword"] == AUDIT_KIND and doc["server_key"] == SERVER_KEY
    assert doc["head"] == doc["entries"][-1]["hash"]
    said = verify_log(json.loads(pretty_json(doc)), SERVER_KEY)  # through a file's bytes
    assert "the key you pinned" in said[0]
    n = len(entries)
    assert f"It holds {n} entr{'y' if n == 1 else 'ies'}, seq 1 to {n}" in said[2]
    assert any(doc["head"] in line for line in said)
    assert verify_any(doc)[0] == "audit log"


def _delete(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    n = len(doc["entries"])
    del doc["entries"][i]
    return f"entry seq {i + 1} is missing" if i < n - 1 else "head"


def _swap(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    entries = doc["entries"]
    j = data.draw(st.integers(0, len(entries) - 1).filter(lambda j: j != i), label="other")
    entries[i], entries[j] = entries[j], entries[i]
    return f"entry seq {max(i, j) + 1} is where seq {min(i, j) + 1} should be"


def _edit(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    entry = doc["entries"][i]
    field = data.draw(st.sampled_from(sorted(entry)), label="field")
    if field in ("seq", "at"):
        value: Any = data.draw(st.integers(0, 100).filter(lambda v: v != entry[field]))
    elif field in ("prev", "hash"):
        value = data.draw(
            st.sampled_from([GENESIS, "ab" * 32, "f" * 64]).filter(entry[field].__ne__)
        )
    else:
        value = entry[field] + data.draw(st.text(min_size=1, max_size=3), label="suffix")
    entry[field] = value
    if field == "seq":  # named by where it should be, or by the invalid number it carries
        return f"seq {i + 1}" if value else "entry seq 0 has an invalid seq number"
    return f"entry seq {i + 1}"


def _insert_copy(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    entries = doc["entries"]
    at = data.draw(st.integers(0, len(entries)), label="at")
    entries.insert(at, copy.deepcopy(entries[i]))
    return f"entry seq {i + 1}"


def _insert_forged(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    """A well-formed entry, correctly chained to its predecessor, slipped in after it."""
    entries = doc["entries"]
    before = entries[i]
    forged = {**before, "seq": i + 2, "kind": "check-in", "detail": "owner checked in"}
    forged["prev"] = before["hash"]
    forged["hash"] = entry_hash(before["hash"], forged)
    entries.insert(i + 1, forged)
    return f"entry seq {i + 2}" if i + 1 < len(entries) - 1 else "head"


def _edit_head(doc: dict[str, Any], i: int, data: st.DataObject) -> str:
    doc["head"] = doc["entries"][i]["hash"] if i < len(doc["entries"]) - 1 else GENESIS
    return "head"


OPS = [_delete, _swap, _edit, _insert_copy, _insert_forged, _edit_head]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=raw_entries, data=st.data())
def test_any_one_change_is_caught_and_named(
    entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    doc = exported(entries)
    op = data.draw(
        st.sampled_from(OPS if len(entries) > 1 else [o for o in OPS if o is not _swap]),
        label="op",
    )
    i = data.draw(st.integers(0, len(entries) - 1), label="index")
    needle = op(doc, i, data)
    with pytest.raises(AfterwordError) as caught:
        verify_log(doc)
    assert needle in caught.value.message
    assert caught.value.hint


@settings(max_examples=60, deadline=None)
@given(entries=raw_entries, data=st.data())
def test_rewritten_history_needs_the_server_key(
    entries: list[dict[str, Any]], data: st.DataObject
) -> None:
    """The chain is unkeyed: a forger can recompute it, but not sign it as the server."""
    doc = exported(entries)
    i = data.draw(st.integers(0, len(entries) - 1), label="index")
    rewritten = [{k: e[k] for k in ("at", "kind", "detail")} for e in doc["entries"]]
    del rewritten[i]
    forged = {**doc, "entries": chain(rewritten, SWITCH)}
    forged["head"] = forged["entries"][-1]["hash"] if rewritten else GENESIS
    with pytest.raises(SignatureError, match="audit log's signature does not verify"):
        verify_log(forged)
    resigned = sign_document(forged, Ed25519PrivateKey.generate(), key_field="server_key")
    verify_log(resigned)  # unpinned, a stranger's key "verifies": hence pinning
    with pytest.raises(SignatureError, match="not by the expected key") as caught:
        verify_log(resigned, SERVER_KEY)
    assert "server whose key you pinned" in caught.value.hint


def test_other_refusals_and_notes() -> None:
    doc = exported(
        [{"at": 100, "kind": "armed", "detail": ""}, {"at": 50, "kind": "x", "detail": ""}]
    )
    said = verify_log(doc)
    assert any("entry seq 2 is dated before seq 1" in line for line in said)
    assert "pin it with --server-key" in said[0]
    other_switch = copy.deepcopy(doc)
    other_switch["switch"] = "someoneelse"
    with pytest.raises(IntegrityError, match="entry seq 1 belongs to switch"):
        verify_log(other_switch)
    with pytest.raises(FormatError, match="expected an afterword audit log"):
        verify_log({**doc, "afterword": "notice/1"})
    with pytest.raises(FormatError, match="the server key to check against"):
        verify_log(doc, "ed25519:short")
    with pytest.raises(IntegrityError, match="does not belong to that notice"):
        verify_any(doc, _notice_of(OwnerKey.generate()))
    assert (
        verify_any(doc, _notice_of(NOTICE_OWNER))[1][-1] == "It is the log of the notice's switch."
    )
    empty = export_log(SWITCH, [], SERVER)
    assert empty["head"] == GENESIS and "It holds no entries." in verify_log(empty)


def _notice_of(owner: OwnerKey) -> dict[str, Any]:
    """A notice of ``owner``'s switch (of the dossier DOSSIER_RECIPIENT), its id bound."""
    switch = switch_id_for(owner.public_key, DOSSIER_RECIPIENT)
    return owner.sign(
        {"afterword": "notice/1", "switch": switch, "dossier_recipient": DOSSIER_RECIPIENT}
    )


def test_cli_verifies_an_audit_log(tmp_path: Path) -> None:
    doc = exported([{"at": 1_717_243_200 + i, "kind": "check-in", "detail": ""} for i in range(3)])
    (tmp_path / "audit.json").write_bytes(pretty_json(doc))
    done = subprocess.run(
        [AFTERWORD, "verify", "audit.json", "--server-key", SERVER_KEY],
        cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK: audit.json is a valid afterword audit log.\n  - ")
    assert "from 2024-06-01T12:00:00Z to 2024-06-01T12:00:02Z" in done.stdout
    doc["entries"][1]["detail"] = "rewritten"
    (tmp_path / "audit.json").write_bytes(pretty_json(doc))
    done = subprocess.run(
        [AFTERWORD, "verify", "audit.json"],
        cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "afterword: error: entry seq 2 was altered: its hash does not match its contents; "
        "do not trust this log; export it again from the server and compare"
    )
