"""``afterword verify``: check a notice, manifest, teaser, release or audit log.

Each checker returns plain-language statements of what was established, or raises an
:class:`~afterword.errors.AfterwordError` naming the first thing that did not hold.
Release bundles and audit logs are checked by :mod:`afterword.crypto.release` and
:mod:`afterword.crypto.audit`; this module only dispatches to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterword.crypto.audit import AUDIT_KIND, verify_log
from afterword.crypto.bundle import load_json
from afterword.crypto.encoding import is_count
from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.notice import check_against_notice, check_owners_switch, load_notice
from afterword.crypto.release import RELEASE_KIND, verify_release_folder, verify_statement
from afterword.crypto.signing import Document, document_kind, fingerprint, verify_document
from afterword.crypto.teaser import check_teaser
from afterword.errors import AfterwordError, FormatError, IntegrityError


def _check_notice_fields(notice: Document) -> None:
    """The fields a notice is read for: present and of the right type (a signature only
    says who wrote a document, not that it is well-formed)."""
    for name in ("count", "threshold", "shares"):
        if not is_count(notice.get(name)):
            raise FormatError(
                f"the notice's {name!r} is missing or not a whole number",
                "it was not made by afterword; ask the owner for the notice afterword made",
            )
    if not isinstance(notice.get("root"), str):
        raise FormatError(
            "the notice names no Merkle root",
            "it was not made by afterword; ask the owner for the notice afterword made",
        )


def _check_dossier_fields(manifest: Document) -> dict[str, Any]:
    """The manifest's description of its dossier, as ``verify`` reports it."""
    dossier = manifest.get("dossier")
    if (
        not isinstance(dossier, dict)
        or not is_count(dossier.get("size"))
        or not isinstance(dossier.get("header_sha256"), str)
    ):
        raise FormatError(
            "the manifest does not describe its dossier (size, header hash)",
            "it was not made by afterword; ask the owner for the manifest afterword made",
        )
    return dossier


def verify_notice(doc: Any) -> list[str]:
    notice = load_notice(doc)
    _check_notice_fields(notice)
    said = [
        f"The notice is signed by owner key {fingerprint(notice['owner_key'])}.",
        f"Its switch id {notice['switch']} is the one derived from that key and the "
        "dossier: nobody else can arm it.",
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
    dossier = _check_dossier_fields(manifest)
    check_owners_switch(manifest, dossier.get("recipient"), "manifest")
    said = [
        f"The manifest is signed by owner key {fingerprint(manifest['owner_key'])}.",
        f"Its {manifest['count']} leaf hashes add up to Merkle root {manifest['root']}.",
        f"It describes a dossier of {dossier['size']} bytes whose age header "
        f"has SHA-256 {dossier['header_sha256']}.",
    ]
    if notice is not None:
        check_against_notice(manifest, notice, "count")
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
        check_against_notice(teaser, notice, "tree_size")
        said.append("That root is the one the notice announced: the document is in the dossier.")
    return said


def verify_audit(doc: Any, notice: Document | None, server_key: str | None) -> list[str]:
    said = verify_log(doc, server_key)
    if notice is not None:
        if doc["switch"] != notice.get("switch"):
            raise IntegrityError(
                f"the audit log is of switch {doc['switch']}, the notice of {notice.get('switch')}",
                "this log does not belong to that notice",
            )
        said.append("It is the log of the notice's switch.")
    return said


def verify_any(
    doc: Any, notice_doc: Any | None = None, *, server_key: str | None = None
) -> tuple[str, list[str]]:
    """Detect what ``doc`` is and verify it (against a notice, and a server key, if given).

    Returns the kind as people say it ("notice", "release statement", "audit log") and
    the statements. ``server_key`` pins the signer of server-signed documents; it is an
    error with any other kind, so a pin is never silently ignored.
    """

    notice = load_notice(notice_doc) if notice_doc is not None else None
    tag = document_kind(doc)
    if tag == AUDIT_KIND:
        return "audit log", verify_audit(doc, notice, server_key)
    if tag == RELEASE_KIND:
        return "release statement", verify_statement(doc, server_key, notice)
    kind = tag.split("/", 1)[0]
    if server_key is not None and kind in ("notice", "manifest", "teaser"):
        raise AfterwordError(
            f"a {kind} is signed by the owner, not by a server",
            "--server-key applies to release statements, release folders and audit logs",
        )
    if kind == "notice":
        return kind, verify_notice(doc)
    if kind == "manifest":
        return kind, verify_manifest(doc, notice)
    if kind == "teaser":
        return kind, verify_teaser(doc, notice)
    raise FormatError(
        f"afterword cannot verify a {kind!r} file",
        "verify takes a notice, manifest, teaser, release statement, release folder or audit log",
    )


def verify_path(
    path: Path,
    *,
    notice: Path | None = None,
    server_key: str | None = None,
    open_to: Path | None = None,
) -> tuple[str, list[str]]:
    """What ``afterword verify PATH`` checks: a folder is a release bundle, else one file."""

    if path.is_dir():
        statements = verify_release_folder(
            path, server_key=server_key, notice_path=notice, open_to=open_to
        )
        return "release bundle", statements
    if open_to is not None:
        raise AfterwordError(
            "--open needs a release folder",
            "pass the folder holding key, dossier.age, manifest.json and statement.json",
        )
    doc = load_json(path, "file")
    notice_doc = load_json(notice, "notice") if notice is not None else None
    return verify_any(doc, notice_doc, server_key=server_key)
