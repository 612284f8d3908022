"""Teasers: one document, its salt and its RFC 9162 inclusion proof, signed by the owner.

A teaser proves to anyone holding the notice that this exact document is one of the
sealed ones, without revealing anything about the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from afterword.crypto import merkle
from afterword.crypto.encoding import b64decode, b64encode, hex_to_bytes
from afterword.crypto.manifest import TREE_ALGORITHM, DocumentEntry
from afterword.crypto.signing import Document
from afterword.errors import FormatError, IntegrityError

TEASER_KIND = "teaser/1"
MAX_TEASER_BYTES = 64 * 1024 * 1024


def teaser_body(
    switch: str, entries: Sequence[DocumentEntry], index: int, content: bytes
) -> dict[str, Any]:
    """The unsigned teaser for document ``index`` whose bytes are ``content``."""
    entry = entries[index]
    leaves = [e.leaf_hash() for e in entries]
    return {
        "afterword": TEASER_KIND,
        "switch": switch,
        "tree": TREE_ALGORITHM,
        "root": merkle.root_from_leaf_hashes(leaves).hex(),
        "tree_size": len(entries),
        "index": index,
        "path": entry.path,
        "salt": entry.salt.hex(),
        "sha256": entry.sha256.hex(),
        "size": entry.size,
        "proof": [p.hex() for p in merkle.inclusion_proof(leaves, index)],
        "content": b64encode(content),
    }


def check_teaser(doc: Document) -> bytes:
    """Check content against its hash and the proof against the root; return the content."""
    try:
        content = b64decode(str(doc["content"]), what="the teaser's document")
        size = int(doc["size"])
        if not 0 <= size < 2**64:  # the leaf encodes it as an unsigned 64-bit number
            raise FormatError(f"the teaser's document size {size} is out of range")
        entry = DocumentEntry(
            path=str(doc["path"]),
            salt=hex_to_bytes(str(doc["salt"]), length=32, what="the salt"),
            sha256=hex_to_bytes(str(doc["sha256"]), length=32, what="the content hash"),
            size=size,
        )
        proof = [hex_to_bytes(str(p), length=32, what="a proof step") for p in doc["proof"]]
        index, tree_size = int(doc["index"]), int(doc["tree_size"])
        root = hex_to_bytes(str(doc["root"]), length=32, what="the root")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise FormatError(f"the teaser is missing or has a malformed field ({exc})") from exc
    if len(content) != entry.size or hashlib.sha256(content).digest() != entry.sha256:
        raise IntegrityError("the teaser's document does not match its committed hash and size")
    if not merkle.verify_inclusion(entry.leaf_hash(), index, tree_size, proof, root):
        raise IntegrityError(
            "the teaser's inclusion proof does not lead to its Merkle root",
            "this document is not part of the sealed dossier",
        )
    return content
