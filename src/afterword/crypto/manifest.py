"""The manifest: salted per-document commitments under one RFC 9162 Merkle root.

Leaf input for a document (the bytes hashed with RFC 9162's 0x00 leaf prefix)::

    salt (32 bytes) || SHA-256(content) (32 bytes) || size (uint64, big-endian) || title (UTF-8)

The title is the document's path inside the dossier (``folder/file.pdf``); it comes last
so the encoding is unambiguous. The random salt makes the public list hiding: without it
nobody can test a guessed document against a leaf. The *public* manifest publishes the
leaf hashes (and the titles if the owner opts in); the *private* manifest (salts, paths,
content hashes, sizes) travels inside the dossier and, for teasers, in the owner's copy.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from afterword.crypto import merkle
from afterword.crypto.encoding import hex_to_bytes, parse_json
from afterword.crypto.signing import Document
from afterword.errors import FormatError, IntegrityError

PUBLIC_KIND = "manifest/1"
PRIVATE_KIND = "private-manifest/1"
TREE_ALGORITHM = "rfc9162-sha256"
PRIVATE_MAX_BYTES = 64 * 1024 * 1024
"""The largest private manifest opened: some 300,000 documents with long paths."""
PRIVATE_MAX_DEPTH = 4
"""An object, its list of documents, an entry object: three levels, and one to spare."""


@dataclass(frozen=True, slots=True)
class DocumentEntry:
    """One document's commitment data (what the private manifest lists)."""

    path: str
    salt: bytes
    sha256: bytes
    size: int
    _leaf: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # computed once: roots, proofs and manifests all need it, for every document
        object.__setattr__(self, "_leaf", merkle.leaf_hash(self.leaf_input()))

    def leaf_input(self) -> bytes:
        return self.salt + self.sha256 + struct.pack(">Q", self.size) + self.path.encode("utf-8")

    def leaf_hash(self) -> bytes:
        return self._leaf

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "salt": self.salt.hex(),
            "sha256": self.sha256.hex(),
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: object) -> DocumentEntry:
        if not isinstance(data, dict):
            raise FormatError("a manifest entry is not an object")
        try:
            size = data["size"]
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise FormatError("a manifest entry has an invalid size")
            return cls(
                path=str(data["path"]),
                salt=hex_to_bytes(data["salt"], length=32, what="a salt"),
                sha256=hex_to_bytes(data["sha256"], length=32, what="a content hash"),
                size=size,
            )
        except KeyError as exc:
            raise FormatError(f"a manifest entry lacks {exc}") from exc


def tree_root(entries: Sequence[DocumentEntry]) -> bytes:
    return merkle.root_from_leaf_hashes([e.leaf_hash() for e in entries])


def private_manifest_chunks(switch: str, entries: Sequence[DocumentEntry]) -> Iterator[bytes]:
    """The private manifest as compact JSON, one piece per document (it is not signed:
    the leaves are). Streamed, so tens of thousands of documents never exist as one big
    JSON text or structure at once: sealing must keep memory flat."""
    head = json.dumps(
        {"afterword": PRIVATE_KIND, "switch": switch, "root": tree_root(entries).hex()},
        separators=(",", ":"),
    )
    yield f'{head[:-1]},"documents":['.encode()
    for i, e in enumerate(entries):
        # the same JSON as json.dumps(e.to_json()), without building a dict per document
        path = json.dumps(e.path, ensure_ascii=False)
        yield (
            f'{"," if i else ""}{{"path":{path},"salt":"{e.salt.hex()}",'
            f'"sha256":"{e.sha256.hex()}","size":{e.size}}}'
        ).encode()
    yield b"]}"


def read_private_manifest(raw: bytes, what: str) -> tuple[str, list[DocumentEntry]]:
    """Entries of a private manifest from its untrusted bytes (inside a dossier, or the
    owner's copy): bounded in size and depth, so no hostile file makes parsing run out
    of memory or stack, and every refusal is a :class:`FormatError` or IntegrityError."""
    return parse_private_manifest(
        parse_json(raw, what, max_depth=PRIVATE_MAX_DEPTH, max_bytes=PRIVATE_MAX_BYTES)
    )


def parse_private_manifest(data: object) -> tuple[str, list[DocumentEntry]]:
    """Entries of a private manifest, after checking its root matches its entries."""
    if not isinstance(data, dict) or data.get("afterword") != PRIVATE_KIND:
        raise FormatError("not an afterword private manifest")
    docs = data.get("documents")
    if not isinstance(docs, list):
        raise FormatError("the private manifest lists no documents")
    entries = [DocumentEntry.from_json(d) for d in docs]
    if tree_root(entries).hex() != data.get("root"):
        raise IntegrityError("the private manifest's entries do not add up to its root")
    return str(data.get("switch")), entries


def public_manifest_body(
    *,
    switch: str,
    entries: Sequence[DocumentEntry],
    titles: bool,
    dossier_recipient: str,
    dossier_header_sha256: str,
    dossier_header_size: int,
    dossier_size: int,
    created: str,
) -> dict[str, Any]:
    """The unsigned public manifest: what anyone may see of the dossier."""
    body: dict[str, Any] = {
        "afterword": PUBLIC_KIND,
        "switch": switch,
        "created": created,
        "tree": TREE_ALGORITHM,
        "root": tree_root(entries).hex(),
        "count": len(entries),
        "leaves": [e.leaf_hash().hex() for e in entries],
        "dossier": {
            "recipient": dossier_recipient,
            "size": dossier_size,
            "header_size": dossier_header_size,
            "header_sha256": dossier_header_sha256,
        },
    }
    if titles:
        body["titles"] = [e.path for e in entries]
    return body


def check_public_manifest(doc: Document) -> list[bytes]:
    """Structural checks beyond the signature: the leaves must add up to the root."""
    leaves_hex = doc.get("leaves")
    if not isinstance(leaves_hex, list) or doc.get("count") != len(leaves_hex):
        raise FormatError("the manifest's leaf list and count disagree")
    leaves = [hex_to_bytes(str(x), length=32, what="a leaf hash") for x in leaves_hex]
    if merkle.root_from_leaf_hashes(leaves).hex() != doc.get("root"):
        raise IntegrityError("the manifest's leaves do not add up to its root")
    titles = doc.get("titles")
    if titles is not None and (not isinstance(titles, list) or len(titles) != len(leaves)):
        raise FormatError("the manifest's titles do not match its leaves")
    return leaves


def match_entries(doc: Document, entries: Sequence[DocumentEntry]) -> None:
    """Check a private manifest against a signed public one, leaf by leaf."""
    leaves = check_public_manifest(doc)
    if len(entries) != len(leaves):
        raise IntegrityError(
            f"the dossier holds {len(entries)} documents but the signed manifest lists "
            f"{len(leaves)}"
        )
    for entry, leaf in zip(entries, leaves, strict=True):
        if entry.leaf_hash() != leaf:
            raise IntegrityError(f"{entry.path!r} does not match its leaf in the signed manifest")
