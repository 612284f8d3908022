"""Opening a hostile dossier (issue 15, item 18): sealed with real age encryption to the
bundle's own recipient, its manifest re-signed by the owner key, so that only the checks
made while extracting stand between it and the disk.

Each test failed on the code before the fix: a sparse member was written out in full
(32 MiB here from a dossier of a few KB; 1.85 GB in the report), a deeply nested manifest
raised RecursionError, links were refused as a vague "unexpected entry" (or, behind a
larger document, misreported as a decryption failure), and an oversize header had its
first block written before the tar ran dry.
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from afterword.crypto.agestream import AgeWriter
from afterword.crypto.bundle import make_teaser, open_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.streams import BLOCK
from afterword.errors import AfterwordError, FormatError, IntegrityError
from tests.conftest import Sealed
from tests.crypto import hostile

SHARES = ["alice.age", "carol.txt"]


def _refusal(sealed: Sealed, tmp_path: Path) -> tuple[AfterwordError, int]:
    """Open the planted dossier: the refusal, and how many document bytes reached the
    disk first (the progress callback counts each block as it is written)."""
    written = 0

    def count(n: int) -> None:
        nonlocal written
        written += n

    with pytest.raises(AfterwordError) as caught:
        open_bundle(
            sealed.bundle / "dossier.age",
            [sealed.bundle / "shares" / s for s in SHARES],
            tmp_path / "out",
            identity_files=[sealed.keys["alice"].path],
            progress=count,
        )
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))]
    assert leftovers == [], leftovers
    return caught.value, written


@pytest.mark.parametrize("build", [hostile.gnu_sparse, hostile.pax_sparse])
def test_sparse_member_is_refused_before_writing(
    sealed: Sealed, owner: OwnerKey, tmp_path: Path, build: object
) -> None:
    assert callable(build)
    payload = build("documents/evidence/zeros.bin") + hostile.end()
    assert len(payload) < 4096
    hostile.plant(sealed.bundle, owner, payload)
    error, written = _refusal(sealed, tmp_path)
    assert written == 0  # before the fix: all 32 MiB
    assert isinstance(error, IntegrityError)
    assert "'documents/evidence/zeros.bin', which is a" in str(error)
    assert "sparse file, not a regular file" in str(error)
    assert "crafted or altered: nothing of it was kept" in str(error)


@pytest.mark.parametrize(
    ("kind", "link", "what"),
    [
        (tarfile.SYMTYPE, "/etc/passwd", "a symbolic link"),
        (tarfile.LNKTYPE, "documents/evidence/ledger.csv", "a hard link"),
        (tarfile.CHRTYPE, "", "a character device"),
        (tarfile.BLKTYPE, "", "a block device"),
        (tarfile.FIFOTYPE, "", "a named pipe"),
        (tarfile.DIRTYPE, "", "a folder"),
    ],
)
def test_non_regular_member_is_refused(
    sealed: Sealed, owner: OwnerKey, tmp_path: Path, kind: bytes, link: str, what: str
) -> None:
    """Behind the link a document larger than the pipe: refusing it must not be reported
    as a broken decryption."""
    payload = (
        hostile.member("documents/evidence/ledger.csv", b"date,amount\n")
        + hostile.member("documents/evidence/link", kind=kind, link=link)
        + hostile.member("documents/evidence/big.bin", os.urandom(300_000))
        + hostile.end()
    )
    hostile.plant(sealed.bundle, owner, payload)
    error, written = _refusal(sealed, tmp_path)
    assert isinstance(error, IntegrityError)
    assert f"'documents/evidence/link', which is {what}, not a regular" in str(error)
    assert written == len(b"date,amount\n")  # the document before it, then nothing


def test_oversize_member_is_refused_before_writing(
    sealed: Sealed, owner: OwnerKey, tmp_path: Path
) -> None:
    payload = hostile.lying_header("documents/evidence/huge.bin", 1 << 30, os.urandom(BLOCK + 1))
    hostile.plant(sealed.bundle, owner, payload)
    error, written = _refusal(sealed, tmp_path)
    assert written == 0  # before the fix: a first block of 1 MiB, then "damaged"
    assert isinstance(error, IntegrityError)
    assert "claims 1073741824 bytes, more than the" in str(error)


def test_more_documents_than_signed_are_refused(
    sealed: Sealed, owner: OwnerKey, tmp_path: Path
) -> None:
    count = len(sealed.corpus)
    payload = b"".join(hostile.member(f"documents/f{i}", b"x") for i in range(count + 1))
    hostile.plant(sealed.bundle, owner, payload + hostile.end())
    error, written = _refusal(sealed, tmp_path)
    assert isinstance(error, IntegrityError)
    assert f"more documents than the {count} its signed manifest lists" in str(error)
    assert written == count


def test_deep_private_manifest_is_a_format_error(
    sealed: Sealed, owner: OwnerKey, tmp_path: Path
) -> None:
    hostile.plant(sealed.bundle, owner, hostile.deep_manifest() + hostile.end())
    error, _ = _refusal(sealed, tmp_path)
    assert isinstance(error, FormatError)
    assert "the dossier's private manifest nests deeper than 4 levels" in str(error)


def test_deep_public_manifest_is_a_format_error(sealed: Sealed, tmp_path: Path) -> None:
    (sealed.bundle / "manifest.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)
    error, _ = _refusal(sealed, tmp_path)
    assert isinstance(error, FormatError)
    assert "manifest.json nests deeper than 64 levels" in str(error)


def test_deep_owner_copy_is_a_format_error(sealed: Sealed, owner: OwnerKey) -> None:
    with open(sealed.bundle / "owner.age", "wb") as f, AgeWriter(f, [owner.age_recipient]) as w:
        w.write(b"{" * 1 + b'"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}")
    with pytest.raises(FormatError, match=r"owner's copy .* nests deeper than"):
        make_teaser(sealed.bundle, sealed.source / "evidence" / "ledger.csv", owner)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 10 + b"]" * 10, b'{"a": "[[[[[[[[[[[[[["}', b"not json", b'{"a": 1e400000}'],
)
def test_private_manifest_bounds(raw: bytes) -> None:
    """Brackets inside strings are no nesting; anything not JSON is a FormatError."""
    from afterword.crypto.manifest import read_private_manifest

    with pytest.raises(AfterwordError):
        read_private_manifest(raw, "the private manifest")


def test_huge_private_manifest_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from afterword.crypto import manifest

    monkeypatch.setattr(manifest, "PRIVATE_MAX_BYTES", 1000)
    with pytest.raises(FormatError, match="1001 bytes, more than the 1000"):
        manifest.read_private_manifest(b" " * 1001, "the private manifest")
