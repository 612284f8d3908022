"""``afterword verify``: check a notice, manifest or teaser and say what it proves.

Each checker returns plain-language statements of what was established, or raises an
:class:`~afterword.errors.AfterwordError` naming the first thing that did not hold.
"""

from __future__ import annotations

from typing import Any

from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.signing import Document, document_kind, fingerprint, verify_document
from afterword.crypto.teaser import check_teaser
from afterword.errors import FormatError, IntegrityError


def _same_dossier(doc: Document, notice: Document, size_field: str) -> None:
    """A manifest or teaser must name the notice's switch, root, size and owner."""
    for mine, theirs, what in (
        ("switch", "switch", "dossier id"),
        ("root", "root", "Merkle root"),
        (size_field, "count", "document count"),
        ("owner_key", "owner_key", "owner key"),
    ):
        if doc.get(mine) != notice.get(theirs):
            raise IntegrityError(
                f"the {what} differs from the notice's ({doc.get(mine)} vs {notice.get(theirs)})",
                "this file does not belong to that notice",
            )


def verify_notice(doc: Any) -> list[str]:
    notice = verify_document(doc, "notice")
    said = [
        f"The notice is signed by owner key {fingerprint(notice['owner_key'])}.",
        f"It commits to {notice['count']} document(s) under Merkle root {notice['root']}.",
        f"{notice['shares']} custodians hold key shares; any {notice['threshold']} can open "
        "the dossier.",
    ]
    if notice.get("conditions"):
        said.append(f"Conditions, in the owner's words: {notice['conditions']}")
    return said


def verify_manifest(doc: Any, notice: Document | None) -> list[str]:
    manifest = verify_document(doc, "manifest")
    check_public_manifest(manifest)
    said = [
        f"The manifest is signed by owner key {fingerprint(manifest['owner_key'])}.",
        f"Its {manifest['count']} leaf hashes add up to Merkle root {manifest['root']}.",
        f"It describes a dossier of {manifest['dossier']['size']} bytes whose age header "
        f"has SHA-256 {manifest['dossier']['header_sha256']}.",
    ]
    if notice is not None:
        _same_dossier(manifest, notice, "count")
        said.append("It matches the notice: same dossier, root, count and owner.")
    return said


def verify_teaser(doc: Any, notice: Document | None) -> list[str]:
    teaser = verify_document(doc, "teaser")
    content = check_teaser(teaser)
    said = [
        f"The teaser is signed by owner key {fingerprint(teaser['owner_key'])}.",
        f"Its document {teaser['path']!r} ({len(content)} bytes) matches its salted commitment,",
        f"and its inclusion proof shows it is document {teaser['index'] + 1} of "
        f"{teaser['tree_size']} under Merkle root {teaser['root']}.",
    ]
    if notice is None:
        said.append("Pass --notice NOTICE to check that this is the root the owner announced.")
    else:
        _same_dossier(teaser, notice, "tree_size")
        said.append("That root is the one the notice announced: the document is in the dossier.")
    return said


def verify_any(doc: Any, notice_doc: Any | None = None) -> tuple[str, list[str]]:
    """Detect what ``doc`` is and verify it (against a notice if given)."""
    notice = verify_document(notice_doc, "notice") if notice_doc is not None else None
    kind = document_kind(doc).split("/", 1)[0]
    if kind == "notice":
        return kind, verify_notice(doc)
    if kind == "manifest":
        return kind, verify_manifest(doc, notice)
    if kind == "teaser":
        return kind, verify_teaser(doc, notice)
    raise FormatError(
        f"afterword cannot verify a {kind!r} file",
        "verify takes a notice, a manifest or a teaser",
    )
