"""Hostile dossiers: tar payloads afterword never writes, sealed with real age encryption.

``plant`` encrypts a payload to a bundle's dossier recipient and re-signs its manifest
with the owner's key for the new file's size and header hash, as a hostile owner (or
anyone holding the owner key) would: opening then gets past every check on the file
itself and reaches extraction, which is what must refuse.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from afterword.crypto.agestream import AgeWriter
from afterword.crypto.dossier import MANIFEST_MEMBER
from afterword.crypto.encoding import pretty_json
from afterword.crypto.keys import OwnerKey

BIG = 32 * 1024 * 1024
"""What a sparse member expands to: the code before the fix wrote all of it to disk."""


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def gnu_sparse(name: str, realsize: int = BIG) -> bytes:
    """A GNU sparse member (type ``S``): 512 stored bytes, then a hole up to ``realsize``."""
    info = tarfile.TarInfo(name)
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = tarfile.BLOCKSIZE
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT, "utf-8", "strict"))
    block[386:410] = _octal(0, 12) + _octal(tarfile.BLOCKSIZE, 12)  # one data region
    block[482] = 0  # no extension blocks
    block[483:495] = _octal(realsize, 12)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block[: tarfile.BLOCKSIZE])
    return bytes(block) + b"x" * tarfile.BLOCKSIZE


def pax_sparse(name: str, realsize: int = BIG) -> bytes:
    """A PAX sparse member (GNU.sparse 1.0): the map and 512 bytes of data, then a hole."""
    sparse_map = b"1\n0\n512\n".ljust(tarfile.BLOCKSIZE, b"\0")
    data = sparse_map + b"x" * tarfile.BLOCKSIZE
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": name,
        "GNU.sparse.realsize": str(realsize),
    }
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict") + data


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = "") -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict") + data + bytes(-len(data) % 512)


def lying_header(name: str, claimed: int, present: bytes) -> bytes:
    """A regular member whose header claims ``claimed`` bytes; only ``present`` follow."""
    info = tarfile.TarInfo(name)
    info.size = claimed
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict") + present


def end() -> bytes:
    return bytes(2 * tarfile.BLOCKSIZE)


def deep_manifest(depth: int = 50_000) -> bytes:
    return member(MANIFEST_MEMBER, b"[" * depth + b"]" * depth)


def plant(bundle: Path, owner: OwnerKey, payload: bytes) -> None:
    """Replace ``bundle``'s dossier with ``payload`` encrypted to its recipient, and
    re-sign the manifest so the new file's size and age header are the signed ones."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    sink = io.BytesIO()
    with AgeWriter(sink, [manifest["dossier"]["recipient"]]) as age:
        age.write(payload)
    manifest["dossier"] = {
        **manifest["dossier"],
        "size": len(sink.getvalue()),
        "header_size": len(age.prefix),
        "header_sha256": hashlib.sha256(age.prefix).hexdigest(),
    }
    (bundle / "dossier.age").write_bytes(sink.getvalue())
    (bundle / "manifest.json").write_bytes(pretty_json(owner.sign(manifest)))
