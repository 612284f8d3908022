"""C2SP signed notes and tlog checkpoints (crypto/checkpoint.py): the bytes Go's reference
implementation writes, what a verifier must refuse, and the checkpoint of a switch's audit
log with the comparisons peers make of two of them."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto import merkle
from afterword.crypto.audit import chain
from afterword.crypto.checkpoint import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    Checkpoint,
    Consistency,
    NoteVerifier,
    audit_leaf,
    compare_checkpoints,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    switch_checkpoint,
    switch_consistency_proof,
    switch_origin,
    verifier_key,
)
from afterword.crypto.encoding import canonical_json
from afterword.errors import FormatError, IntegrityError, SignatureError

# ---------------------------------------------------------------------------------------------
# Test vectors copied exactly from Go's reference implementation, golang.org/x/mod,
# sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign, TestOpen). The signer
# key there is "PRIVATE+KEY+" name "+" key id "+" base64(0x01 || 32-byte Ed25519 seed).
# ---------------------------------------------------------------------------------------------

GO_PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)
# from golang.org/x/mod, sumdb/tlog/note_test.go (TestFormatTree): a tree of 123456789012
# records whose hash is RecordHash("hello world"), i.e. the RFC 9162 leaf hash of it.
GO_TREE = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"

# A signed tree head sum.golang.org served (as quoted in public write-ups on checkpoints),
# and that log's verifier key as Go's cmd/go carries it (cmd/go/internal/modfetch/key.go).
# Its signature verifies, so the bytes are sum.golang.org's own: a checkpoint made by a real
# log that afterword did not write.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n15368405\n/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=\n\n"
    "\u2014 sum.golang.org Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295Ej"
    "wdSwlzgijq5WA9d1Ded7owM=\n"
)


def _go_signer(skey: str) -> tuple[str, Ed25519PrivateKey]:
    _, _, name, _, encoded = skey.split("+", 4)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and len(raw) == 33
    return name, Ed25519PrivateKey.from_private_bytes(raw[1:])


PETER_NAME, PETER = _go_signer(GO_PETER_SKEY)


def test_go_vector_sign_gives_the_exact_note() -> None:
    assert sign_note(GO_TEXT, PETER_NAME, PETER) == GO_TEXT + "\n" + GO_PETER_SIG


def test_go_vector_verifier_key_and_key_id() -> None:
    assert verifier_key(PETER_NAME, PETER.public_key()) == GO_PETER_VKEY
    assert key_id(PETER_NAME, PETER.public_key()) == 0xC74F20A3
    peter = parse_verifier_key(GO_PETER_VKEY)
    assert (peter.name, peter.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert peter.key_text() == GO_PETER_VKEY
    enoch = parse_verifier_key(GO_ENOCH_VKEY)
    assert (enoch.name, enoch.key_id) == ("EnochRoot", 0xAF0CFE78)


def test_go_vector_open_one_known_one_unknown() -> None:
    note = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    text, signers = open_note(note, [GO_PETER_VKEY])
    assert text == GO_TEXT
    assert [s.key_text() for s in signers] == [GO_PETER_VKEY]
    _, both = open_note(note.encode("utf-8"), [GO_PETER_VKEY, GO_ENOCH_VKEY])
    assert [s.name for s in both] == ["PeterNeumann", "EnochRoot"]


def test_go_vector_no_known_signature_is_refused() -> None:
    with pytest.raises(SignatureError, match="none of the trusted keys"):
        open_note(GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG, [])


def test_go_vector_duplicated_verifier_is_ambiguous_only_when_used() -> None:
    with pytest.raises(FormatError, match="two trusted keys"):
        open_note(GO_TEXT + "\n" + GO_ENOCH_SIG, [GO_ENOCH_VKEY, GO_PETER_VKEY, GO_ENOCH_VKEY])
    open_note(GO_TEXT + "\n" + GO_PETER_SIG, [GO_ENOCH_VKEY, GO_PETER_VKEY, GO_ENOCH_VKEY])


def test_go_vector_too_many_signatures() -> None:
    for verifiers in ([GO_PETER_VKEY], []):
        with pytest.raises(FormatError, match="signature lines"):
            open_note(GO_TEXT + "\n" + GO_PETER_SIG * (MAX_SIGNATURES + 1), verifiers)
    _, signers = open_note(GO_TEXT + "\n" + GO_PETER_SIG * MAX_SIGNATURES, [GO_PETER_VKEY])
    assert len(signers) == 1  # one key's repeated signature counts once


def test_go_vector_forged_signature_refuses_the_whole_note() -> None:
    forged = GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(SignatureError, match=r"PeterNeumann\+c74f20a3 .* does not verify"):
        open_note(GO_TEXT + "\n" + forged, [GO_PETER_VKEY])
    # ... even next to a good signature by another trusted key, or by the same key (Go's
    # Open skips a key's later lines; the spec says a known key's signature MUST be checked)
    for good in (GO_ENOCH_SIG, GO_PETER_SIG):
        for note in (GO_TEXT + "\n" + good + forged, GO_TEXT + "\n" + forged + good):
            with pytest.raises(SignatureError):
                open_note(note, [GO_PETER_VKEY, GO_ENOCH_VKEY])


def test_go_vector_repeated_and_unknown_forged_signatures_are_skipped() -> None:
    enoch_abcd = GO_ENOCH_SIG[:60] + "ABCD" + GO_ENOCH_SIG[60:]
    note = GO_TEXT + "\n" + GO_PETER_SIG * 2 + GO_ENOCH_SIG * 2 + enoch_abcd
    _, signers = open_note(note, [GO_PETER_VKEY])
    assert [s.name for s in signers] == ["PeterNeumann"]


@pytest.mark.parametrize(
    "note",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        "\xff".encode("latin-1") + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        GO_TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1"
        "FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
    ],
)
def test_go_vector_malformed_notes(note: str | bytes) -> None:
    with pytest.raises(FormatError):
        open_note(note, [GO_PETER_VKEY])


def test_go_vector_mangled_verifier_keys_are_refused() -> None:
    """As TestNewVerifier: every proper substring and every one-byte change is refused."""
    key = GO_PETER_VKEY
    for i in range(len(key)):
        for j in range(i + 1, len(key) + 1):
            if (i, j) != (0, len(key)):
                with pytest.raises(FormatError):
                    parse_verifier_key(key[i:j])
    for i in range(len(key)):
        mangled = key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :]
        with pytest.raises(FormatError):
            parse_verifier_key(mangled)
    bad_length = "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    unknown_alg = "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    with pytest.raises(FormatError, match="not 32"):
        parse_verifier_key(bad_length)
    with pytest.raises(FormatError, match="signature type"):
        parse_verifier_key(unknown_alg)


def test_go_vector_wrong_name_or_key_id_is_an_unknown_key() -> None:
    """A signature whose name, or whose key id, differs from the trusted key's is someone
    else's: skipped (the spec's MUST), so a note carrying only that is refused."""
    misnamed = GO_PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    wrong_id = GO_PETER_SIG.replace("x08g", "xxxx")
    for sig in (misnamed, wrong_id):
        with pytest.raises(SignatureError, match="none of the trusted keys"):
            open_note(GO_TEXT + "\n" + sig, [GO_PETER_VKEY])
        _, signers = open_note(GO_TEXT + "\n" + sig + GO_PETER_SIG, [GO_PETER_VKEY])
        assert [s.name for s in signers] == ["PeterNeumann"]


def test_go_vector_tree_text() -> None:
    tree = Checkpoint("go.sum database tree", 123456789012, merkle.leaf_hash(b"hello world"))
    assert tree.checkpoint_text() == GO_TREE
    assert parse_checkpoint(GO_TREE) == tree
    for bad in (
        "go.sum database tree\n0xabcdef\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n",
        "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n",
    ):
        with pytest.raises(FormatError):
            parse_checkpoint(bad)


def test_a_real_sum_golang_org_checkpoint_opens() -> None:
    checkpoint, signers = open_checkpoint(SUMDB_CHECKPOINT, [SUMDB_VKEY])
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 15368405
    assert checkpoint.root_hash == base64.b64decode("/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=")
    assert [s.name for s in signers] == ["sum.golang.org"]
    tampered = SUMDB_CHECKPOINT.replace("15368405", "15368406")
    with pytest.raises(SignatureError, match="does not verify"):
        open_checkpoint(tampered, [SUMDB_VKEY])


# ---------------------------------------------------------------------------------------------
# Our own notes and checkpoints
# ---------------------------------------------------------------------------------------------

SERVER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
SWITCH = "k7qw2xdn4v6m3pzj5hb8rcty2e"
URL = "https://Witness.example.org"
ORIGIN = f"witness.example.org/afterword/{SWITCH}"


def _entries(n: int) -> list[dict[str, Any]]:
    return chain(
        [{"at": 1_800_000_000 + i, "kind": "check-in", "detail": f"#{i}"} for i in range(n)],
        SWITCH,
    )


def test_notes_round_trip_and_name_their_signers() -> None:
    text = "line one\n\nline three after a blank line\n"
    note = sign_note(text, "example.org/a", SERVER)
    verifier = parse_verifier_key(verifier_key("example.org/a", SERVER.public_key()))
    assert open_note(note, [verifier]) == (text, (verifier,))
    assert parse_note(note)[0] == text


def test_a_tampered_body_is_refused() -> None:
    note = sign_note("size 1\n", "example.org/a", SERVER)
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(
            note.replace("size 1", "size 2"), [verifier_key("example.org/a", SERVER.public_key())]
        )


def test_a_note_signed_by_an_unknown_key_is_refused() -> None:
    note = sign_note("hello\n", "example.org/a", OTHER)
    with pytest.raises(SignatureError, match=r"none of the trusted keys \(it names example"):
        open_note(note, [verifier_key("example.org/a", SERVER.public_key())])


def test_a_key_with_the_right_name_and_id_but_another_key_cannot_verify() -> None:
    """The spec's warning: a key id collides cheaply. A signature naming our key's name and
    id, made by another key, is checked against the trusted key and fails."""
    trusted = parse_verifier_key(verifier_key("example.org/a", SERVER.public_key()))
    impostor = NoteVerifier(trusted.name, trusted.key_id, OTHER.public_key())
    note = sign_note("hello\n", "example.org/a", OTHER)
    kid = key_id("example.org/a", SERVER.public_key()).to_bytes(4, "big")
    raw = base64.b64decode(note.split(" ")[-1])
    forged = note.replace(note.split(" ")[-1], base64.b64encode(kid + raw[4:]).decode() + "\n")
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(forged, [trusted])
    assert open_note(forged, [impostor])[0] == "hello\n"  # (only the real key is trusted)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("no newline", "a"),
        ("bell \x07\n", "a"),
        ("ok\n", "bad name"),
        ("ok\n", "a+b"),
        ("ok\n", ""),
    ],
)
def test_sign_note_refuses_what_could_not_be_opened(text: str, name: str) -> None:
    with pytest.raises(FormatError):
        sign_note(text, name, SERVER)


def test_oversized_notes_are_refused_before_parsing() -> None:
    huge = "x" * MAX_NOTE_BYTES + "\n\n" + GO_PETER_SIG
    for note in (huge, huge.encode()):
        with pytest.raises(FormatError, match="larger than"):
            open_note(note, [GO_PETER_VKEY])


def test_checkpoints_round_trip_and_keep_extension_lines() -> None:
    checkpoint = Checkpoint(ORIGIN, 7, bytes(32), ("ext one", "ext two"))
    text = checkpoint.checkpoint_text()
    assert text == f"{ORIGIN}\n7\n{'A' * 43}=\next one\next two\n"
    assert parse_checkpoint(text) == checkpoint
    note = sign_checkpoint(checkpoint, SERVER)
    assert note.startswith(text + "\n\u2014 " + ORIGIN + " ")
    vkey = verifier_key(ORIGIN, SERVER.public_key())
    assert open_checkpoint(note, [vkey], origin=ORIGIN)[0] == checkpoint
    with pytest.raises(FormatError, match=r"not 'example\.org/other'"):
        open_checkpoint(note, [vkey], origin="example.org/other")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "origin\n1\n",
        "origin\n01\n" + "A" * 43 + "=\n",
        "origin\n+1\n" + "A" * 43 + "=\n",
        "origin\n\u0661\n" + "A" * 43 + "=\n",  # an Arabic-Indic one: int() would take it
        "origin\n1 \n" + "A" * 43 + "=\n",
        "origin\n9223372036854775808\n" + "A" * 43 + "=\n",
        "origin\n1\n" + "A" * 42 + "==\n",
        "origin\n1\n" + "A" * 43 + "B\n",
        "origin\n1\n" + "A" * 43 + "=",
        "\n1\n" + "A" * 43 + "=\n",
        "origin\n1\n" + "A" * 43 + "=\n\n",
        "origin\n1\n" + "A" * 43 + "=\next\n\nmore\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        parse_checkpoint(text)


def test_checkpoint_fields_are_checked() -> None:
    for args in (
        ("", 1, bytes(32)),
        ("two\nlines", 1, bytes(32)),
        (ORIGIN, -1, bytes(32)),
        (ORIGIN, 2**63, bytes(32)),
        (ORIGIN, True, bytes(32)),
        (ORIGIN, 1, bytes(31)),
    ):
        with pytest.raises(FormatError):
            Checkpoint(*args)  # type: ignore[arg-type]
    with pytest.raises(FormatError):
        Checkpoint(ORIGIN, 1, bytes(32), ("",))


def test_the_origin_of_a_switch_log() -> None:
    assert switch_origin(URL, SWITCH) == ORIGIN
    assert switch_origin("https://example.org/aw/", SWITCH) == f"example.org/aw/afterword/{SWITCH}"
    assert switch_origin("http://127.0.0.1:8000", SWITCH) == f"127.0.0.1:8000/afterword/{SWITCH}"
    with pytest.raises(FormatError):
        switch_origin("http://example.org", SWITCH)  # plain http off loopback
    with pytest.raises(FormatError):
        switch_origin(URL, "not a switch")
    with pytest.raises(FormatError):
        switch_origin("https://example.org/a+b", SWITCH)  # cannot name a key


def test_a_switch_checkpoint_is_the_rfc9162_tree_of_its_exported_entries() -> None:
    entries = _entries(5)
    checkpoint = switch_checkpoint(URL, SWITCH, entries)
    leaves = [canonical_json({k: e[k] for k in sorted(e)}) for e in entries]
    assert [audit_leaf(e) for e in entries] == leaves
    assert checkpoint == Checkpoint(ORIGIN, 5, merkle.merkle_root(leaves))
    empty = switch_checkpoint(URL, SWITCH, [])
    assert empty == Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest())
    note = sign_checkpoint(checkpoint, SERVER)
    assert open_checkpoint(note, [verifier_key(ORIGIN, SERVER.public_key())], ORIGIN)[0] == (
        checkpoint
    )


def test_a_broken_chain_gets_no_checkpoint() -> None:
    entries = _entries(3)
    entries[1] = {**entries[1], "detail": "rewritten"}
    with pytest.raises(IntegrityError):
        switch_checkpoint(URL, SWITCH, entries)


def test_compare_a_log_that_grew() -> None:
    entries = _entries(12)
    for old in range(13):
        older = switch_checkpoint(URL, SWITCH, entries[:old])
        for new in range(old, 13):
            newer = switch_checkpoint(URL, SWITCH, entries[:new])
            proof = switch_consistency_proof(SWITCH, entries[:new], old)
            expected = Consistency.SAME if old == new else Consistency.EXTENDED
            assert compare_checkpoints(older, newer, proof) is expected
            if 0 < old < new:
                assert compare_checkpoints(older, newer) is Consistency.GREW_UNPROVEN
    empty = switch_checkpoint(URL, SWITCH, [])
    assert compare_checkpoints(empty, switch_checkpoint(URL, SWITCH, entries)) is (
        Consistency.EXTENDED
    )


def test_compare_catches_a_fork_a_rollback_and_a_rewrite() -> None:
    entries = _entries(8)
    # the same entries after the first, re-chained onto another first entry
    forked = chain([{"at": 1, "kind": "check-in", "detail": "other"}, *entries[1:]], SWITCH)
    assert len(forked) == 8 and forked[1:] != entries[1:]
    ours = switch_checkpoint(URL, SWITCH, entries)
    theirs = switch_checkpoint(URL, SWITCH, forked)
    with pytest.raises(IntegrityError, match="forked: two checkpoints of size 8"):
        compare_checkpoints(ours, theirs)
    with pytest.raises(IntegrityError, match="went back from 8 to 5"):
        compare_checkpoints(ours, switch_checkpoint(URL, SWITCH, entries[:5]))
    older = switch_checkpoint(URL, SWITCH, entries[:5])
    rewritten_proof = switch_consistency_proof(SWITCH, forked, 5)
    with pytest.raises(IntegrityError, match="does not extend"):
        compare_checkpoints(older, theirs, rewritten_proof)
    with pytest.raises(IntegrityError, match="of one size is empty"):
        compare_checkpoints(ours, ours, [bytes(32)])
    with pytest.raises(FormatError, match="two logs"):
        compare_checkpoints(ours, Checkpoint("example.org/other", 8, ours.root_hash))
    with pytest.raises(IntegrityError, match="empty log but its root"):
        compare_checkpoints(Checkpoint(ORIGIN, 0, bytes(32)), ours)


# ---------------------------------------------------------------------------------------------
# Hostile input: only FormatError or SignatureError, never anything else
# ---------------------------------------------------------------------------------------------

_note_alphabet = st.sampled_from(
    [
        "\n",
        "\n\n",
        "\u2014 ",
        "\u2014",
        " ",
        "+",
        "=",
        "A",
        "a",
        "/",
        "0",
        "1",
        "\x00",
        "\xff",
        "\u2028",
        "\ud800",
        "PeterNeumann",
        "x08go/ZJkuBS9UG",
        GO_TEXT,
    ]
)
_hostile_text = st.one_of(
    st.text(max_size=300),
    st.lists(_note_alphabet, max_size=40).map("".join),
    st.binary(max_size=300),
)
_hostile = settings(max_examples=300, deadline=None)


def _mutations() -> st.SearchStrategy[str]:
    good = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG

    @st.composite
    def mutate(draw: st.DrawFn) -> str:
        at = draw(st.integers(0, len(good)))
        cut = draw(st.integers(0, 8))
        insert = draw(st.text(max_size=4))
        return good[:at] + insert + good[at + cut :]

    return mutate()


@_hostile
@given(st.one_of(_hostile_text, _mutations()))
def test_open_note_raises_only_format_or_signature_errors(note: str | bytes) -> None:
    try:
        text, signers = open_note(note, [GO_PETER_VKEY, GO_ENOCH_VKEY])
    except (FormatError, SignatureError):
        return
    assert signers  # whatever opened was signed by a trusted key, over exactly its text
    assert text == GO_TEXT


@_hostile
@given(_hostile_text)
def test_parse_checkpoint_and_verifier_keys_raise_only_format_errors(data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    for parse in (parse_checkpoint, parse_verifier_key):
        with contextlib.suppress(FormatError):
            parse(text)


@_hostile
@given(
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
        lambda s: "\n" not in s
    ),
    st.integers(0, 2**63 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20),
        max_size=3,
    ),
)
def test_checkpoint_text_round_trips(
    origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint(checkpoint.checkpoint_text()) == checkpoint
    note = sign_checkpoint(checkpoint, SERVER, name="example.org/log")
    assert open_checkpoint(note, [verifier_key("example.org/log", SERVER.public_key())]) == (
        checkpoint,
        (parse_verifier_key(verifier_key("example.org/log", SERVER.public_key())),),
    )
