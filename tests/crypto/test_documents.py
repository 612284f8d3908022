"""Signed documents: canonical signatures, manifest, notice, teaser and `verify`."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto import merkle
from afterword.crypto.bundle import make_teaser
from afterword.crypto.keys import OwnerKey
from afterword.crypto.manifest import DocumentEntry, public_manifest_body
from afterword.crypto.notice import render_text
from afterword.crypto.signing import sign_document, verify_document
from afterword.crypto.switch_id import switch_id_for
from afterword.crypto.teaser import teaser_body
from afterword.crypto.verify import verify_any
from afterword.errors import AfterwordError, FormatError, IntegrityError, SignatureError
from tests.conftest import Sealed

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(body=st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=6))
def test_signature_covers_rfc8785_bytes_and_any_change_breaks_it(
    owner: OwnerKey, body: dict[str, Any]
) -> None:
    body = {k: v for k, v in body.items() if k not in {"owner_key", "signature"}}
    body["afterword"] = "notice/1"
    signed = sign_document(body, owner.signing)
    # an independent check: Ed25519 over the RFC 8785 bytes of everything but the signature
    raw_key = base64.b64decode(signed["owner_key"].removeprefix("ed25519:"))
    unsigned = {k: v for k, v in signed.items() if k != "signature"}
    Ed25519PublicKey.from_public_bytes(raw_key).verify(
        base64.b64decode(signed["signature"]), rfc8785.dumps(unsigned)
    )
    # member order and whitespace do not matter; content does
    reordered = json.loads(json.dumps(dict(reversed(list(signed.items())))))
    assert verify_document(reordered, "notice") == reordered
    tampered = copy.deepcopy(signed)
    tampered["extra"] = 1
    with pytest.raises(SignatureError):
        verify_document(tampered, "notice")


def test_values_outside_canonical_json_are_a_format_error(owner: OwnerKey) -> None:
    signed = owner.sign({"afterword": "notice/1"})
    for bad in (2**60, float("nan")):
        with pytest.raises(FormatError, match="signatures cannot cover"):
            verify_document({**signed, "x": bad}, "notice")


def test_signature_pinned_to_expected_key(owner: OwnerKey) -> None:
    signed = owner.sign({"afterword": "notice/1"})
    other = OwnerKey.generate()
    with pytest.raises(SignatureError, match="not by the expected key"):
        verify_document(signed, "notice", expected_key=other.public_key)
    resigned = other.sign({k: v for k, v in signed.items() if k != "owner_key"})
    assert verify_document(resigned, "notice")["owner_key"] == other.public_key
    with pytest.raises(FormatError, match="expected an afterword manifest"):
        verify_document(signed, "manifest")
    with pytest.raises(FormatError, match="not an afterword file"):
        verify_document({"x": 1}, "notice")


def test_leaf_encoding_is_exactly_as_documented() -> None:
    salt, content = os.urandom(32), b"some evidence"
    entry = DocumentEntry("dir/f\u00e9.txt", salt, hashlib.sha256(content).digest(), len(content))
    expected = (
        b"\x00"
        + salt
        + hashlib.sha256(content).digest()
        + struct.pack(">Q", len(content))
        + "dir/f\u00e9.txt".encode()
    )
    assert entry.leaf_hash() == hashlib.sha256(expected).digest()


def entries_strategy() -> st.SearchStrategy[list[DocumentEntry]]:
    entry = st.builds(
        DocumentEntry,
        path=st.text(min_size=1, max_size=12),
        salt=st.binary(min_size=32, max_size=32),
        sha256=st.binary(min_size=32, max_size=32),
        size=st.integers(0, 2**40),
    )
    return st.lists(entry, min_size=1, max_size=17)


@settings(max_examples=30, deadline=None)
@given(entries=entries_strategy(), data=st.data())
def test_every_teaser_verifies_against_its_manifest_and_notice(
    owner: OwnerKey, entries: list[DocumentEntry], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(entries) - 1))
    content = data.draw(st.binary(max_size=64))
    entries[index] = DocumentEntry(
        entries[index].path, entries[index].salt, hashlib.sha256(content).digest(), len(content)
    )
    switch = switch_id_for(owner.public_key, "age1x")
    manifest = owner.sign(
        public_manifest_body(
            switch=switch,
            entries=entries,
            titles=False,
            dossier_recipient="age1x",
            dossier_header_sha256="00" * 32,
            dossier_header_size=100,
            dossier_size=1,
            created="2026-01-01T00:00:00Z",
        )
    )
    notice = owner.sign(
        {
            "afterword": "notice/1",
            "switch": switch,
            "dossier_recipient": "age1x",
            "root": manifest["root"],
            "count": len(entries),
        }
    )
    teaser = owner.sign(teaser_body(switch, entries, index, content))
    kind, said = verify_any(teaser, notice)
    assert kind == "teaser" and "announced" in said[-1]
    assert verify_any(manifest, notice)[0] == "manifest"
    assert manifest["root"] == merkle.root_from_leaf_hashes([e.leaf_hash() for e in entries]).hex()


def _resign(owner: OwnerKey, doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return owner.sign({**{k: v for k, v in doc.items() if k != "signature"}, **changes})


def test_teaser_end_to_end_and_every_forgery(sealed: Sealed, owner: OwnerKey) -> None:
    notice = json.loads((sealed.bundle / "notice.json").read_text())
    document = sealed.source / "evidence" / "ledger.csv"
    teaser = make_teaser(sealed.bundle, document, owner)
    assert base64.b64decode(teaser["content"]) == document.read_bytes()
    assert teaser["path"] == "evidence/ledger.csv"
    verify_any(teaser, notice)
    # the owner re-signing a lie does not help: content, proof and root are checked
    with pytest.raises(IntegrityError, match="committed hash"):
        verify_any(_resign(owner, teaser, content=base64.b64encode(b"forged").decode()), notice)
    with pytest.raises(IntegrityError, match="inclusion proof"):
        verify_any(_resign(owner, teaser, index=(teaser["index"] + 1) % 5), notice)
    with pytest.raises(IntegrityError, match="inclusion proof"):
        verify_any(_resign(owner, teaser, salt="00" * 32), notice)
    with pytest.raises(IntegrityError, match="inclusion proof"):
        verify_any(_resign(owner, teaser, path="evidence/other.csv"), notice)
    # a valid proof in another tree (here: a tree of just this document) is not enough
    content = document.read_bytes()
    alone = DocumentEntry(
        teaser["path"], os.urandom(32), hashlib.sha256(content).digest(), len(content)
    )
    lone = owner.sign(teaser_body(notice["switch"], [alone], 0, content))
    assert verify_any(lone)[0] == "teaser"
    with pytest.raises(IntegrityError, match="Merkle root differs"):
        verify_any(lone, notice)
    # the notice re-signed by someone else: its id is not theirs, so it is refused itself
    with pytest.raises(SignatureError, match="the notice names switch"):
        verify_any(teaser, _resign(OwnerKey.generate(), notice))
    stranger = OwnerKey.generate()
    with pytest.raises(IntegrityError, match="owner key differs"):
        verify_any(_resign(stranger, teaser), notice)
    with pytest.raises(SignatureError):
        verify_any({**teaser, "path": "x"}, notice)


def test_teaser_refuses_unknown_document(sealed: Sealed, owner: OwnerKey, tmp_path: Path) -> None:
    stranger = tmp_path / "ledger.csv"
    stranger.write_text("not sealed")
    with pytest.raises(AfterwordError, match="not one of the sealed documents"):
        make_teaser(sealed.bundle, stranger, owner)
    with pytest.raises(AfterwordError, match="not found"):
        make_teaser(sealed.bundle, tmp_path / "missing", owner)
    with pytest.raises(AfterwordError, match="cannot open the owner's copy"):
        make_teaser(sealed.bundle, sealed.source / "evidence" / "ledger.csv", OwnerKey.generate())


def test_manifest_leaves_must_add_up(sealed: Sealed, owner: OwnerKey) -> None:
    manifest = json.loads((sealed.bundle / "manifest.json").read_text())
    leaves = list(manifest["leaves"])
    leaves[0] = "11" * 32
    with pytest.raises(IntegrityError, match="do not add up"):
        verify_any(_resign(owner, manifest, leaves=leaves))
    with pytest.raises(FormatError, match="disagree"):
        verify_any(_resign(owner, manifest, count=4))


def test_notice_text_rendering(sealed: Sealed) -> None:
    notice = json.loads((sealed.bundle / "notice.json").read_text())
    notice["policy"] = {"interval": 7 * 86400, "grace": 2 * 86400, "waiting": 3600}
    notice["titles"] = ["evidence/ledger.csv"]
    text = render_text(notice)
    assert "every 1 week, 2 days grace, then 1 hour before release" in text
    assert "1. evidence/ledger.csv" in text
    assert "If I stop checking in, publish." in text
    kind, said = verify_any(json.loads((sealed.bundle / "notice.json").read_text()))
    assert kind == "notice" and "any 2 can open" in said[3]
    assert said[1] == (
        f"Its switch id {notice['switch']} is the one derived from that key and the dossier: "
        "nobody else can arm it."
    )


@settings(max_examples=50, deadline=None)
@given(entries=entries_strategy())
def test_streamed_private_manifest_is_plain_json_of_the_entries(
    entries: list[DocumentEntry],
) -> None:
    from afterword.crypto.manifest import parse_private_manifest, private_manifest_chunks

    text = b"".join(private_manifest_chunks("sw", entries))
    data = json.loads(text)
    assert data["documents"] == [e.to_json() for e in entries]
    assert parse_private_manifest(data) == ("sw", entries)
