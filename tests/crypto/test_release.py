"""Release bundles, built from a real sealed bundle the way the server will, then attacked.

The server rebuilds the dossier key from K custodian shares, signs a release statement
with its own Ed25519 key and publishes key, dossier.age, manifest.json, notice.json and
statement.json; a reader downloads them into a folder and verifies it offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.bundle import Custodian, read_shares, rebuild_dossier_key, seal_bundle
from afterword.crypto.encoding import age_recipient_of, pretty_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.release import release_statement_body, verify_release_folder
from afterword.crypto.signing import (
    Document,
    fingerprint,
    public_key_text,
    sign_document,
    verify_document,
)
from afterword.crypto.verify import verify_any, verify_path
from afterword.errors import AfterwordError, FormatError, IntegrityError, SignatureError
from tests.conftest import Sealed

AFTERWORD = str(Path(sys.executable).parent / "afterword")
TRIGGERED = 1_717_243_200  # 2024-06-01T12:00:00Z
RELEASED = TRIGGERED + 3 * 86400  # after a three-day waiting period


@dataclass
class Release:
    folder: Path
    server: Ed25519PrivateKey
    statement: Document
    sealed: Sealed | None = None

    @property
    def server_key(self) -> str:
        return public_key_text(self.server.public_key())

    def read(self, name: str) -> Any:
        return json.loads((self.folder / name).read_text())

    def write(self, name: str, doc: Any) -> None:
        (self.folder / name).write_bytes(pretty_json(doc))


def publish(bundle: Path, shares: list[Path], identities: list[str], folder: Path) -> Release:
    """What the server does on release: rebuild the key from shares, sign, publish."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    identity = rebuild_dossier_key(read_shares(shares, identities), manifest)
    server = Ed25519PrivateKey.generate()
    body = release_statement_body(
        switch=manifest["switch"],
        cause="missed",
        triggered_at=TRIGGERED,
        released_at=RELEASED,
        custodians=[p.stem for p in shares],
        manifest=manifest,
        dossier_recipient=age_recipient_of(identity),
        server_url="https://switch.example.org",
    )
    statement = sign_document(body, server, key_field="server_key")
    folder.mkdir()
    (folder / "key").write_text(identity + "\n")
    (folder / "statement.json").write_bytes(pretty_json(statement))
    for name in ("manifest.json", "notice.json", "dossier.age"):
        shutil.copyfile(bundle / name, folder / name)
    return Release(folder, server, statement)


@pytest.fixture
def release(sealed: Sealed, tmp_path: Path) -> Release:
    """A release of the 2-of-3 bundle: alice (age envelope) and carol (paper card)."""
    shares = [sealed.bundle / "shares" / "alice.age", sealed.bundle / "shares" / "carol.txt"]
    done = publish(sealed.bundle, shares, [sealed.keys["alice"].identity], tmp_path / "release")
    done.sealed = sealed
    return done


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory, owner: OwnerKey) -> Release:
    """A release of another dossier by the same owner (read-only: tests copy from it)."""
    root = tmp_path_factory.mktemp("other")
    (root / "memo.txt").write_text("another dossier\n")
    bundle = root / "bundle"
    seal_bundle(
        [root / "memo.txt"], bundle, owner, [Custodian("x", "paper"), Custodian("y", "paper")], 2
    )
    shares = [bundle / "shares" / "x.txt", bundle / "shares" / "y.txt"]
    return publish(bundle, shares, [], root / "release")


def test_release_folder_verifies_and_says_what_happened(release: Release) -> None:
    said = verify_release_folder(release.folder)
    text = "\n".join(said)
    assert release.server_key in said[0] and fingerprint(release.server_key) in said[0]
    assert "pin it with --server-key" in said[0]
    assert "triggered at 2024-06-01T12:00:00Z" in text
    assert "released at 2024-06-04T12:00:00Z" in text
    assert "stopped checking in" in text and "(cause: missed)" in text
    assert "Custodians who released their shares: alice, carol." in said
    assert "published by https://switch.example.org" in text
    assert "The published key is the dossier key" in text
    assert "It matches the notice" in text and "any 2 of 3 custodians" in text
    assert "Pass --open FOLDER" in text

    pinned = verify_release_folder(release.folder, server_key=release.server_key)
    assert "the key you pinned with --server-key" in pinned[0]

    (release.folder / "notice.json").unlink()
    alone = "\n".join(verify_release_folder(release.folder))
    assert "There is no notice.json: pass --notice NOTICE" in alone
    assert release.sealed is not None
    given = verify_release_folder(release.folder, notice_path=release.sealed.bundle / "notice.json")
    assert any("It matches the notice" in line for line in given)


def _resign(release: Release, **changes: Any) -> None:
    """The statement altered and signed again by the same server (a lying server)."""
    body = {**release.statement, **changes}
    release.write("statement.json", sign_document(body, release.server, key_field="server_key"))


def _edit_statement(release: Release, other: Release) -> None:
    release.write("statement.json", {**release.statement, "cause": "deliberate"})


def _another_server(release: Release, other: Release) -> None:
    release.write(
        "statement.json",
        sign_document(release.statement, Ed25519PrivateKey.generate(), key_field="server_key"),
    )


def _owner_signed_statement(release: Release, other: Release) -> None:
    """An owner's signature where the server's belongs does not count as the server's."""
    body = {k: v for k, v in release.statement.items() if k != "server_key"}
    release.write("statement.json", OwnerKey.generate().sign(body))


def _garbled_key(release: Release, other: Release) -> None:
    key = (release.folder / "key").read_text().strip()
    (release.folder / "key").write_text(key[:-3] + ("QQQ" if key[-3:] != "QQQ" else "PPP"))


def _two_keys(release: Release, other: Release) -> None:
    (release.folder / "key").write_text(
        (release.folder / "key").read_text() + (other.folder / "key").read_text()
    )


def _key_of_another_dossier(release: Release, other: Release) -> None:
    for name in ("key", "dossier.age"):  # the squatter's own dossier and its key
        shutil.copyfile(other.folder / name, release.folder / name)


def _truncated_dossier(release: Release, other: Release) -> None:
    path = release.folder / "dossier.age"
    path.write_bytes(path.read_bytes()[:-100])


def _dossier_of_another_bundle(release: Release, other: Release) -> None:
    shutil.copyfile(other.folder / "dossier.age", release.folder / "dossier.age")


def _manifest_of_another_bundle(release: Release, other: Release) -> None:
    shutil.copyfile(other.folder / "manifest.json", release.folder / "manifest.json")


def _edited_manifest(release: Release, other: Release) -> None:
    release.write("manifest.json", {**release.read("manifest.json"), "count": 4})


def _notice_of_another_bundle(release: Release, other: Release) -> None:
    shutil.copyfile(other.folder / "notice.json", release.folder / "notice.json")


def _server_lies_about_recipient(release: Release, other: Release) -> None:
    dossier = {
        **release.statement["dossier"],
        "recipient": str(pyrage.x25519.Identity.generate().to_public()),
    }
    _resign(release, dossier=dossier)


def _server_lies_about_root(release: Release, other: Release) -> None:
    _resign(release, root="ab" * 32)


def _released_before_triggered(release: Release, other: Release) -> None:
    _resign(release, released_at=TRIGGERED - 1)


def _missing_key(release: Release, other: Release) -> None:
    (release.folder / "key").unlink()


Tamper = Callable[[Release, Release], None]
TAMPERING: list[tuple[Tamper, type[AfterwordError], str]] = [
    (_edit_statement, SignatureError, "release statement's signature does not verify"),
    (_owner_signed_statement, FormatError, "release statement's server key is missing"),
    (_garbled_key, FormatError, "does not hold a valid age identity"),
    (_two_keys, FormatError, "should hold one AGE-SECRET-KEY-1... line, found 2"),
    (_key_of_another_dossier, IntegrityError, "the published key is not this dossier's key"),
    (_truncated_dossier, IntegrityError, "bytes but its manifest says"),
    (_dossier_of_another_bundle, IntegrityError, "bytes but its manifest says"),
    (_manifest_of_another_bundle, IntegrityError, "switch id differs from the manifest's"),
    (_edited_manifest, SignatureError, "manifest's signature does not verify"),
    (_notice_of_another_bundle, IntegrityError, "dossier id differs from the notice's"),
    (_server_lies_about_recipient, IntegrityError, "dossier recipient differs"),
    (_server_lies_about_root, IntegrityError, "Merkle root differs from the manifest's"),
    (_released_before_triggered, FormatError, "is before its trigger time"),
    (_missing_key, AfterwordError, "lacks key"),
]


@pytest.mark.parametrize(
    ("tamper", "error", "message"), TAMPERING, ids=[t[0].__name__.strip("_") for t in TAMPERING]
)
def test_tampered_release_is_refused(
    release: Release, other: Release, tamper: Tamper, error: type[AfterwordError], message: str
) -> None:
    tamper(release, other)
    with pytest.raises(error) as caught:
        verify_release_folder(release.folder)
    assert message in caught.value.message
    assert caught.value.hint  # every refusal says what to do


def test_server_key_pin(release: Release, other: Release) -> None:
    with pytest.raises(SignatureError, match="not by the expected key") as caught:
        verify_release_folder(release.folder, server_key=other.server_key)
    assert "server whose key you pinned" in caught.value.hint
    with pytest.raises(FormatError, match="the server key you gave"):
        verify_release_folder(release.folder, server_key="ed25519:not-base64!")
    _another_server(release, other)
    assert verify_release_folder(release.folder)  # unpinned: any server key "verifies"...
    with pytest.raises(SignatureError, match="not by the expected key"):
        verify_release_folder(release.folder, server_key=release.server_key)  # ...pinned: no


def test_notice_option_of_another_bundle_is_refused(release: Release, other: Release) -> None:
    with pytest.raises(IntegrityError, match="dossier id differs") as caught:
        verify_release_folder(release.folder, notice_path=other.folder / "notice.json")
    assert "this release does not belong to that notice" in str(caught.value)
    with pytest.raises(AfterwordError, match="not found"):
        verify_release_folder(release.folder, notice_path=release.folder / "nope.json")


def test_open_extracts_the_sealed_documents(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "opened"
    said = verify_release_folder(release.folder, open_to=out)
    assert said[-1].startswith("Opened 5 document(s)")
    assert release.sealed is not None
    opened = {
        str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()
    }
    assert opened == release.sealed.corpus


def test_open_catches_an_altered_payload(release: Release, tmp_path: Path) -> None:
    """Size and header pin the file; a flipped payload byte is caught by age on opening."""
    path = release.folder / "dossier.age"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    verify_release_folder(release.folder)  # same size, same header: only --open can tell
    out = tmp_path / "opened"
    with pytest.raises(IntegrityError, match="cannot be decrypted"):
        verify_release_folder(release.folder, open_to=out)
    assert not out.exists() and not list(tmp_path.glob(".opened.partial-*"))
    (out / "x").parent.mkdir()
    (out / "x").write_text("busy")
    with pytest.raises(AfterwordError, match="not empty"):
        verify_release_folder(release.folder, open_to=out)


def test_statement_alone(release: Release, other: Release) -> None:
    notice = release.read("notice.json")
    kind, said = verify_any(release.statement, notice)
    assert kind == "release statement"
    assert "It names the notice's dossier, root, count and owner." in said
    assert "pass the release folder" in said[-1]
    with pytest.raises(IntegrityError, match="dossier id differs"):
        verify_any(release.statement, other.read("notice.json"))
    with pytest.raises(SignatureError, match="not by the expected key"):
        verify_any(release.statement, server_key=other.server_key)
    with pytest.raises(AfterwordError, match="signed by the owner, not by a server"):
        verify_any(notice, server_key=release.server_key)
    with pytest.raises(AfterwordError, match="--open needs a release folder"):
        verify_path(release.folder / "statement.json", open_to=release.folder / "out")
    assert verify_path(release.folder)[0] == "release bundle"


def test_a_release_under_someone_elses_switch_id_is_refused(
    release: Release, other: Release
) -> None:
    """A server that let a squatter arm the victim's id (its owner key and dossier are the
    squatter's) cannot pass the squatter's release off as the victim's switch's."""
    victim = release.statement["switch"]
    squatted = {**other.statement, "switch": victim}
    squatted = sign_document(squatted, other.server, key_field="server_key")
    with pytest.raises(SignatureError, match=f"the release statement names switch {victim}"):
        verify_any(squatted)
    # the whole folder of such a release: statement and manifest agree, and both lie
    manifest = other.read("manifest.json")
    owner = OwnerKey.generate()
    forged = owner.sign(
        {k: v for k, v in manifest.items() if k not in ("signature", "owner_key")}
        | {"switch": victim}
    )
    release.write("manifest.json", forged)
    release.write(
        "statement.json",
        sign_document(
            {**other.statement, "switch": victim, "owner_key": forged["owner_key"]},
            release.server,
            key_field="server_key",
        ),
    )
    for name in ("key", "dossier.age"):  # the squatter's own dossier and its key
        shutil.copyfile(other.folder / name, release.folder / name)
    (release.folder / "notice.json").unlink()
    with pytest.raises(SignatureError, match=f"the release statement names switch {victim}"):
        verify_release_folder(release.folder)


def test_statement_body_refuses_what_verify_would(release: Release, other: Release) -> None:
    manifest = release.read("manifest.json")
    args: dict[str, Any] = {
        "switch": manifest["switch"],
        "cause": "deliberate",
        "triggered_at": TRIGGERED,
        "released_at": TRIGGERED,
        "custodians": [],
        "manifest": manifest,
        "dossier_recipient": manifest["dossier"]["recipient"],
        "server_url": None,
    }
    body = release_statement_body(**args)
    assert "AGE-SECRET-KEY" not in json.dumps(body)  # the key is published beside it
    assert body["owner_key"] == manifest["owner_key"] and body["root"] == manifest["root"]
    said = verify_any(sign_document(body, release.server, key_field="server_key"))[1]
    assert "the owner chose to release it" in said[1]
    assert "It names no custodian: the server held enough shares itself." in said
    other_recipient = other.read("manifest.json")["dossier"]["recipient"]
    with pytest.raises(IntegrityError, match="not this dossier's key"):
        release_statement_body(**{**args, "dossier_recipient": other_recipient})
    with pytest.raises(IntegrityError, match="cannot release the manifest"):
        release_statement_body(**{**args, "switch": other.statement["switch"]})
    with pytest.raises(FormatError, match="before its trigger time"):
        release_statement_body(**{**args, "released_at": TRIGGERED - 1})
    with pytest.raises(FormatError, match="names a custodian twice"):
        release_statement_body(**{**args, "custodians": ["alice", "alice"]})
    with pytest.raises(SignatureError):
        release_statement_body(**{**args, "manifest": {**manifest, "count": 4}})


def test_server_signed_documents(release: Release) -> None:
    """Signer field is explicit: a server document never passes as the owner's."""
    statement = release.statement
    assert statement["server_key"] == release.server_key
    assert statement["owner_key"] != release.server_key  # names the owner, signed by server
    verify_document(statement, "release", release.server_key, key_field="server_key")
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_document(statement, "release")  # owner_key is not its signer
    with pytest.raises(FormatError, match="not a signer field"):
        verify_document(statement, "release", key_field="custodian_key")
    with pytest.raises(FormatError, match="not a signer field"):
        sign_document({"afterword": "release/1"}, release.server, key_field="key")
    # owner documents: unchanged, and the default
    owner = OwnerKey.generate()
    notice = owner.sign({"afterword": "notice/1"})
    assert set(notice) == {"afterword", "owner_key", "signature"}
    assert verify_document(notice, "notice", owner.public_key) == notice


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AFTERWORD, *map(str, args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def test_cli_verifies_a_release_folder(release: Release, other: Release, tmp_path: Path) -> None:
    assert release.sealed is not None
    notice = release.sealed.bundle / "notice.json"
    out = tmp_path / "docs"
    done = run(
        "verify", release.folder, "--server-key", release.server_key, "--notice", notice,
        "--open", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"OK: {release.folder} is a valid afterword release bundle."
    assert all(line.startswith("  - ") for line in lines[1:])
    assert "Custodians who released their shares: alice, carol." in done.stdout
    assert (out / "evidence" / "ledger.csv").read_bytes() == b"date,amount\n2024-01-01,100\n"

    refused = run("verify", release.folder, "--server-key", other.server_key)
    assert refused.returncode == 1, refused.stdout
    error = refused.stderr.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("afterword: error: the release statement")
    assert "not by the expected key" in error[0] and "Traceback" not in refused.stderr
