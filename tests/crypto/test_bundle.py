"""Seal and open whole bundles: contents, layout, and every way opening must refuse."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyrage
import pytest

from afterword.crypto.bundle import Custodian, open_bundle, seal_bundle
from afterword.crypto.dossier import MANIFEST_MEMBER
from afterword.crypto.encoding import age_recipient_of
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import ShareEnvelope
from afterword.crypto.signing import verify_document
from afterword.errors import AfterwordError, IntegrityError, ShareError
from tests.conftest import Sealed, require_tool


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_bundle_layout_and_signed_documents(sealed: Sealed, owner: OwnerKey) -> None:
    b = sealed.bundle
    assert sorted(p.name for p in b.iterdir()) == [
        "RECOVERY.md",
        "custodians.json",
        "dossier.age",
        "manifest.json",
        "notice.json",
        "notice.txt",
        "owner.age",
        "shares",
    ]
    assert sorted(p.name for p in (b / "shares").iterdir()) == ["alice.age", "bob.age", "carol.txt"]
    manifest = verify_document(json.loads((b / "manifest.json").read_text()), "manifest")
    notice = verify_document(json.loads((b / "notice.json").read_text()), "notice")
    assert manifest["owner_key"] == notice["owner_key"] == owner.public_key
    assert notice["root"] == manifest["root"] and notice["count"] == manifest["count"] == 5
    assert (notice["threshold"], notice["shares"]) == (2, 3)
    assert notice["conditions"] == "If I stop checking in, publish."
    assert "titles" not in manifest and "titles" not in notice  # opt-in only
    assert manifest["dossier"]["size"] == (b / "dossier.age").stat().st_size
    roster = verify_document(json.loads((b / "custodians.json").read_text()), "custodians")
    assert [c["label"] for c in roster["custodians"]] == ["alice", "bob", "carol"]
    assert [c["kind"] for c in roster["custodians"]] == ["age", "age", "paper"]
    repo_doc = Path(__file__).resolve().parents[2] / "docs" / "recovery.md"
    assert (b / "RECOVERY.md").read_text() == repo_doc.read_text()
    assert "shamir recover" in (b / "RECOVERY.md").read_text()
    text = (b / "notice.txt").read_text()
    assert manifest["root"] in text and "any 2 can open it" in text


def test_share_envelope_is_age_to_the_custodian(sealed: Sealed) -> None:
    alice = sealed.keys["alice"]
    blob = (sealed.bundle / "shares" / "alice.age").read_bytes()
    plain = json.loads(pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(alice.identity)]))
    assert plain["switch"] == sealed.result.switch
    assert plain["custodian"] == "alice"
    assert (plain["threshold"], plain["shares"]) == (2, 3)
    assert len(plain["mnemonic"].split()) == 33
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(sealed.keys["bob"].identity)])


def test_no_secret_in_the_clear(sealed: Sealed) -> None:
    """Neither the dossier key nor any document appears in a bundle file outside age files."""
    card = (sealed.bundle / "shares" / "carol.txt").read_text()
    for path in sealed.bundle.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".txt"} and path.name != "carol.txt":
            text = path.read_text()
            assert "AGE-SECRET-KEY" not in text
            assert "date,amount" not in text
            words = set(text.split())
            assert not {"academic", "acid"} & words - set(card.split())
    blob = (sealed.bundle / "owner.age").read_bytes()
    assert b"ledger" not in blob and blob.startswith(b"age-encryption.org/v1\n")


@pytest.mark.parametrize(
    ("shares", "identities"),
    [
        (["alice.age", "bob.age"], ["alice", "bob"]),
        (["alice.age", "carol.txt"], ["alice"]),
        (["carol.txt", "bob.age"], ["bob", "alice"]),
        (["alice.age", "bob.age", "carol.txt"], ["alice", "bob"]),
    ],
)
def test_open_with_any_k_shares(
    sealed: Sealed, tmp_path: Path, shares: list[str], identities: list[str]
) -> None:
    out = tmp_path / "out"
    opened = open_bundle(
        sealed.bundle / "dossier.age",
        [sealed.bundle / "shares" / s for s in shares],
        out,
        identity_files=[sealed.keys[i].path for i in identities],
    )
    assert tree(out) == sealed.corpus
    assert len(opened.entries) == 5
    assert opened.size == sum(len(v) for v in sealed.corpus.values())


def test_dossier_opens_with_stock_age_and_tar(sealed: Sealed, tmp_path: Path) -> None:
    """What any key holder can do without afterword (the key here from the library)."""
    from afterword.crypto.bundle import load_manifest, read_shares, rebuild_dossier_key

    age = require_tool("age")
    manifest = load_manifest(sealed.bundle / "manifest.json")
    shares = read_shares(
        [sealed.bundle / "shares" / "alice.age", sealed.bundle / "shares" / "carol.txt"],
        [sealed.keys["alice"].identity],
    )
    keyfile = tmp_path / "dossier.key"
    keyfile.write_text(rebuild_dossier_key(shares, manifest) + "\n")
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(
        f"{age} -d -i {keyfile} {sealed.bundle / 'dossier.age'} | tar -x -C {out}",
        shell=True,
        check=True,
    )
    assert tree(out / "documents") == sealed.corpus
    private = json.loads((out / MANIFEST_MEMBER).read_text())
    assert sorted(d["path"] for d in private["documents"]) == sorted(sealed.corpus)


def _open(sealed: Sealed, tmp_path: Path, shares: list[Path], ids: list[str] = ("alice",)) -> Path:  # type: ignore[assignment]
    out = tmp_path / "out"
    open_bundle(
        sealed.bundle / "dossier.age",
        shares,
        out,
        identity_files=[sealed.keys[i].path for i in ids],
    )
    return out


def _assert_nothing_left(tmp_path: Path) -> None:
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))]
    assert leftovers == [], leftovers


def test_fewer_than_k_shares(sealed: Sealed, tmp_path: Path) -> None:
    with pytest.raises(ShareError, match="not enough shares: 1 distinct given, 2 needed"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "alice.age"])
    # the same share twice is still one share
    with pytest.raises(ShareError, match="not enough shares"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "carol.txt"] * 2)
    _assert_nothing_left(tmp_path)


def test_share_of_another_switch(
    sealed: Sealed, tmp_path: Path, owner: OwnerKey, make_age_key
) -> None:
    other = seal_bundle(
        [sealed.source / "evidence" / "ledger.csv"],
        tmp_path / "other",
        owner,
        [Custodian("carol", "paper"), Custodian("dave", "paper")],
        2,
    )
    with pytest.raises(ShareError, match=f"share of switch {other.switch}"):
        _open(
            sealed,
            tmp_path,
            [sealed.bundle / "shares" / "carol.txt", other.bundle / "shares" / "dave.txt"],
        )
    # bare words (no switch id recorded) from another set: refused by SLIP-39's identifier
    words = tmp_path / "words.txt"
    text = (other.bundle / "shares" / "dave.txt").read_text()
    words.write_text(text.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0])
    with pytest.raises(ShareError, match="do not belong together"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "carol.txt", words])
    # a full set of another switch's bare words rebuilds a key, but not this dossier's
    words2 = tmp_path / "words2.txt"
    text2 = (other.bundle / "shares" / "carol.txt").read_text()
    words2.write_text(text2.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0])
    with pytest.raises(ShareError, match="not this dossier's key"):
        _open(sealed, tmp_path, [words, words2])
    _assert_nothing_left(tmp_path)


def test_corrupted_share(sealed: Sealed, tmp_path: Path) -> None:
    card = sealed.bundle / "shares" / "carol.txt"
    text = card.read_text()
    body = text.split("-----BEGIN AFTERWORD SHARE-----\n")[1]
    first_word = body.split()[1]
    replacement = "academic" if first_word != "academic" else "acid"
    bad = tmp_path / "bad.txt"
    bad.write_text(text.replace(f" 1. {first_word}", f" 1. {replacement}", 1))
    # located, as the custodian page locates it: the word, and what it should be
    with pytest.raises(ShareError, match=f"Word 1, “{replacement}”, is probably wrong"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "alice.age", bad])
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\xff\xfe\x00" * 10)
    with pytest.raises(ShareError, match="neither a share envelope nor a text share"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "alice.age", garbage])
    with pytest.raises(ShareError, match="cannot be opened with the given identities"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "bob.age", card])
    with pytest.raises(ShareError, match="no identity was given"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / "bob.age", card], ids=[])
    _assert_nothing_left(tmp_path)


SHARES = ["alice.age", "carol.txt"]


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("header", "age header does not match its signed manifest"),
        ("nonce", "age header does not match its signed manifest"),
        ("first-chunk", "cannot be decrypted"),
        ("last-chunk", "cannot be decrypted"),
    ],
)
def test_tampered_dossier(sealed: Sealed, tmp_path: Path, where: str, message: str) -> None:
    dossier = sealed.bundle / "dossier.age"
    manifest = json.loads((sealed.bundle / "manifest.json").read_text())
    header_size = manifest["dossier"]["header_size"]
    offset = {
        "header": 40,
        "nonce": header_size - 3,
        "first-chunk": header_size + 300,
        "last-chunk": dossier.stat().st_size - 5,
    }[where]
    _flip(dossier, offset)
    with pytest.raises(IntegrityError, match=message):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / s for s in SHARES])
    _assert_nothing_left(tmp_path)


def test_tampered_payload_fails_authentication(sealed: Sealed, tmp_path: Path) -> None:
    """The payload is not hashed up front: age's authentication refuses a changed byte."""
    from afterword.crypto.bundle import load_manifest, read_shares, rebuild_dossier_key
    from afterword.crypto.dossier import extract_dossier

    dossier = sealed.bundle / "dossier.age"
    _flip(dossier, dossier.stat().st_size - 100)
    manifest = load_manifest(sealed.bundle / "manifest.json")
    shares = read_shares(
        [sealed.bundle / "shares" / s for s in SHARES], [sealed.keys["alice"].identity]
    )
    identity = rebuild_dossier_key(shares, manifest)
    with pytest.raises(IntegrityError, match="cannot be decrypted"):
        extract_dossier(dossier, identity, manifest, tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_truncated_dossier(sealed: Sealed, tmp_path: Path) -> None:
    dossier = sealed.bundle / "dossier.age"
    data = dossier.read_bytes()
    dossier.write_bytes(data[: len(data) - 1000])
    with pytest.raises(IntegrityError, match="truncated"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / s for s in SHARES])
    _assert_nothing_left(tmp_path)


def test_substituted_dossier_is_refused(sealed: Sealed, tmp_path: Path) -> None:
    """The recipient is public: anyone can encrypt a fake dossier to it. The signed
    manifest is what makes opening refuse it, even when its hash line is also forged."""
    import io
    import tarfile

    from afterword.crypto.agestream import AgeWriter

    manifest = json.loads((sealed.bundle / "manifest.json").read_text())
    fake = io.BytesIO()
    with tarfile.open(fileobj=fake, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("documents/evidence/ledger.csv")
        payload = b"forged\n"
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    out = io.BytesIO()
    with AgeWriter(out, [manifest["dossier"]["recipient"]]) as w:
        w.write(fake.getvalue())
    (sealed.bundle / "dossier.age").write_bytes(out.getvalue())
    with pytest.raises(IntegrityError):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / s for s in SHARES])
    from afterword.crypto.bundle import load_manifest, read_shares, rebuild_dossier_key
    from afterword.crypto.dossier import extract_dossier

    shares = read_shares(
        [sealed.bundle / "shares" / s for s in SHARES], [sealed.keys["alice"].identity]
    )
    identity = rebuild_dossier_key(shares, load_manifest(sealed.bundle / "manifest.json"))
    with pytest.raises(IntegrityError, match="no private manifest"):
        extract_dossier(sealed.bundle / "dossier.age", identity, manifest, tmp_path / "out")
    _assert_nothing_left(tmp_path)


def test_unsafe_tar_member_is_refused(sealed: Sealed, tmp_path: Path) -> None:
    import io
    import tarfile

    from afterword.crypto.agestream import AgeWriter
    from afterword.crypto.bundle import load_manifest, read_shares, rebuild_dossier_key
    from afterword.crypto.dossier import extract_dossier

    manifest = load_manifest(sealed.bundle / "manifest.json")
    shares = read_shares(
        [sealed.bundle / "shares" / s for s in SHARES], [sealed.keys["alice"].identity]
    )
    identity = rebuild_dossier_key(shares, manifest)
    for name in ["documents/../../escape.txt", "/etc/evil", "elsewhere.txt"]:
        fake = io.BytesIO()
        with tarfile.open(fileobj=fake, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        out = io.BytesIO()
        with AgeWriter(out, [age_recipient_of(identity)]) as w:
            w.write(fake.getvalue())
        (sealed.bundle / "dossier.age").write_bytes(out.getvalue())
        with pytest.raises(IntegrityError, match="unexpected entry"):
            extract_dossier(sealed.bundle / "dossier.age", identity, manifest, tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()
    _assert_nothing_left(tmp_path)


def test_open_refuses_non_empty_output(sealed: Sealed, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(AfterwordError, match="not empty"):
        _open(sealed, tmp_path, [sealed.bundle / "shares" / s for s in SHARES])
    assert (out / "keep.txt").read_text() == "mine"


def test_seal_refusals(tmp_path: Path, owner: OwnerKey) -> None:
    src = tmp_path / "a"
    src.mkdir()
    (src / "x.txt").write_text("x")
    other = tmp_path / "b"
    other.mkdir()
    (other / "x.txt").write_text("y")
    paper = [Custodian("p1", "paper"), Custodian("p2", "paper")]
    with pytest.raises(AfterwordError, match="both be named"):
        seal_bundle([src / "x.txt", other / "x.txt"], tmp_path / "B", owner, paper, 2)
    with pytest.raises(ShareError, match="threshold 3 is impossible"):
        seal_bundle([src], tmp_path / "B", owner, paper, 3)
    with pytest.raises(AfterwordError, match="same label"):
        seal_bundle([src], tmp_path / "B", owner, [paper[0], paper[0]], 2)
    with pytest.raises(AfterwordError, match="does not exist"):
        seal_bundle([tmp_path / "missing"], tmp_path / "B", owner, paper, 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AfterwordError, match="hold no files"):
        seal_bundle([empty], tmp_path / "B", owner, paper, 2)
    (tmp_path / "exists").mkdir()
    with pytest.raises(AfterwordError, match="already exists"):
        seal_bundle([src], tmp_path / "exists", owner, paper, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "empty", "exists"]


@pytest.mark.parametrize("text", ["nolabel", "=age1x", "a b=paper", "ok=age1notakey"])
def test_custodian_parse_refusals(text: str) -> None:
    with pytest.raises(AfterwordError):
        Custodian.parse(text)


def test_threshold_one_gives_everyone_the_same_working_share(
    tmp_path: Path, owner: OwnerKey
) -> None:
    src = tmp_path / "doc.txt"
    src.write_text("one of three is enough")
    result = seal_bundle(
        [src], tmp_path / "B", owner, [Custodian(f"c{i}", "paper") for i in range(3)], 1
    )
    for i in range(3):
        out = tmp_path / f"out{i}"
        open_bundle(result.bundle / "dossier.age", [result.bundle / "shares" / f"c{i}.txt"], out)
        assert (out / "doc.txt").read_text() == "one of three is enough"


def test_envelope_rejects_non_envelope_json(make_age_key) -> None:
    from afterword.crypto.shares import decrypt_envelope
    from afterword.errors import FormatError

    key = make_age_key("eve")
    blob = pyrage.encrypt(
        b'{"afterword": "notice/1"}', [pyrage.x25519.Recipient.from_str(key.recipient)]
    )
    with pytest.raises(FormatError, match="not an afterword share envelope"):
        decrypt_envelope(blob, [key.identity], "x")
    assert ShareEnvelope  # the type exported for servers to build envelopes


def test_collect_documents_links_and_special_files(tmp_path: Path) -> None:
    import os

    from afterword.crypto.dossier import collect_documents

    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text("a")
    (root / "link-to-file").symlink_to(root / "sub" / "a.txt")
    (root / "link-to-dir").symlink_to(root / "sub")  # never followed: no loops, no dupes
    (root / "dangling").symlink_to(tmp_path / "nowhere")
    found = collect_documents([root])
    assert [(d.path, d.size) for d in found] == [("docs/link-to-file", 1), ("docs/sub/a.txt", 1)]
    os.mkfifo(root / "pipe")
    with pytest.raises(AfterwordError, match="not a regular file"):
        collect_documents([root])
