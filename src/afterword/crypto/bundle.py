"""The sealed bundle: the library API behind ``afterword seal``, ``open`` and ``teaser``.

A bundle is a folder::

    dossier.age        the documents, age-encrypted to the dossier key (which no file holds)
    manifest.json      public, signed: leaf hashes, Merkle root, the dossier's hash and size
    notice.json        signed notice for the adversary; notice.txt is its readable form
    custodians.json    signed: each custodian's label, kind and share commitment
    shares/LABEL.age   a share envelope, age-encrypted to that custodian's own key
    shares/LABEL.txt   a printable share card for a paper custodian
    owner.age          the private manifest, encrypted to the owner's own age key (for teasers)
    RECOVERY.md        how K custodians open the dossier with stock tools, without afterword
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from afterword.crypto.agestream import AgeWriter
from afterword.crypto.dossier import (
    OpenedDossier,
    check_dossier_file,
    check_output_folder,
    collect_documents,
    extract_dossier,
    write_dossier,
)
from afterword.crypto.encoding import (
    age_identity_from_secret,
    age_recipient_of,
    check_age_recipient,
    parse_json,
    pretty_json,
)
from afterword.crypto.keys import OwnerKey
from afterword.crypto.manifest import (
    DocumentEntry,
    check_public_manifest,
    private_manifest_chunks,
    public_manifest_body,
    read_private_manifest,
)
from afterword.crypto.notice import notice_body, render_text
from afterword.crypto.shares import (
    ShareEnvelope,
    ShareInput,
    check_threshold,
    combine_shares,
    commitment,
    credential_digest,
    read_share,
    split_secret,
)
from afterword.crypto.signing import Document, public_key_text, verify_document
from afterword.crypto.streams import Progress
from afterword.crypto.switch_id import switch_id_for
from afterword.crypto.teaser import MAX_TEASER_BYTES, teaser_body
from afterword.errors import AfterwordError, KeyFileError, ShareError

PAPER = "paper"
CUSTODIANS_KIND = "custodians/1"
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
"""A custodian label: also a file name (shares/LABEL.age), so no path characters."""


@dataclass(frozen=True)
class Custodian:
    """A custodian as given on the command line: ``LABEL=age1...`` or ``LABEL=paper``."""

    label: str
    recipient: str  # an age recipient, or "paper"

    @classmethod
    def parse(cls, text: str) -> Custodian:
        label, sep, recipient = text.partition("=")
        label, recipient = label.strip(), recipient.strip()
        if not sep or not label or not recipient:
            raise AfterwordError(
                f"custodian {text!r} is not LABEL=RECIPIENT",
                "write e.g. --custodian lawyer=age1... or --custodian aunt=paper",
            )
        if not LABEL.fullmatch(label):
            raise AfterwordError(
                f"custodian label {label!r} is not usable as a file name",
                "use letters, digits, dot, dash and underscore (up to 64)",
            )
        if recipient != PAPER:
            recipient = check_age_recipient(recipient)
        return cls(label, recipient)


@dataclass(frozen=True)
class SealResult:
    bundle: Path
    switch: str
    documents: int
    size: int
    manifest: Document
    notice: Document


def recovery_instructions() -> str:
    """docs/recovery.md, shipped inside the package so every bundle carries a copy."""
    return (importlib.resources.files("afterword") / "data" / "recovery.md").read_text("utf-8")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seal_bundle(
    inputs: Sequence[Path],
    bundle: Path,
    owner: OwnerKey,
    custodians: Sequence[Custodian],
    threshold: int,
    *,
    titles: bool = False,
    conditions: str | None = None,
    policy: dict[str, int] | None = None,
    releases: str | None = None,
    server: str | None = None,
    progress: Progress | None = None,
) -> SealResult:
    """Seal documents into a new bundle folder. Nothing is left behind on failure."""
    _check_custodians(custodians, threshold)
    if bundle.exists():
        raise AfterwordError(f"{bundle} already exists", "choose a new folder for the bundle")
    documents = collect_documents(inputs)
    bundle.parent.mkdir(parents=True, exist_ok=True)
    scratch = bundle.parent / f".{bundle.name}.partial-{secrets.token_hex(4)}"
    scratch.mkdir(mode=0o700)
    try:
        dossier_key = secrets.token_bytes(32)
        # bound to the key that signs the documents below (under a duress passphrase that
        # is the duress key, which the documents name too), so the server arms it
        signer = public_key_text(owner.signing.public_key())
        switch = switch_id_for(signer, age_recipient_of(age_identity_from_secret(dossier_key)))
        with open(scratch / "dossier.age", "wb") as out:
            sealed = write_dossier(
                documents, out, switch=switch, dossier_key=dossier_key, progress=progress
            )
        del dossier_key  # the shares are made from sealed.dossier_key
        del documents  # tens of thousands of paths need not outlive the stream
        created = _now()
        manifest = owner.sign(
            public_manifest_body(
                switch=switch,
                entries=sealed.entries,
                titles=titles,
                dossier_recipient=sealed.recipient,
                dossier_header_sha256=sealed.header_sha256,
                dossier_header_size=sealed.header_size,
                dossier_size=sealed.size,
                created=created,
            )
        )
        notice = owner.sign(
            notice_body(
                manifest=manifest,
                threshold=threshold,
                shares=len(custodians),
                conditions=conditions,
                policy=policy,
                releases=releases,
                created=created,
            )
        )
        mnemonics = split_secret(sealed.dossier_key, threshold, len(custodians))
        listed = _write_shares(scratch / "shares", custodians, mnemonics, switch, threshold, server)
        roster = owner.sign(
            {
                "afterword": CUSTODIANS_KIND,
                "switch": switch,
                "threshold": threshold,
                "shares": len(custodians),
                "custodians": listed,
            }
        )
        _write_owner_copy(scratch / "owner.age", owner, switch, sealed.entries)
        (scratch / "manifest.json").write_bytes(pretty_json(manifest))
        (scratch / "notice.json").write_bytes(pretty_json(notice))
        (scratch / "notice.txt").write_text(render_text(notice), encoding="utf-8")
        (scratch / "custodians.json").write_bytes(pretty_json(roster))
        (scratch / "RECOVERY.md").write_text(recovery_instructions(), encoding="utf-8")
        scratch.rename(bundle)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return SealResult(bundle, switch, len(sealed.entries), sealed.size, manifest, notice)


def _write_owner_copy(
    path: Path, owner: OwnerKey, switch: str, entries: Sequence[DocumentEntry]
) -> None:
    """The private manifest, encrypted to the owner alone."""
    with open(path, "wb") as f, AgeWriter(f, [owner.age_recipient]) as owner_copy:
        for piece in private_manifest_chunks(switch, entries):
            owner_copy.write(piece)


def _check_custodians(custodians: Sequence[Custodian], threshold: int) -> None:
    check_threshold(threshold, len(custodians))
    labels = [c.label.lower() for c in custodians]
    if len(set(labels)) != len(labels):
        raise AfterwordError("two custodians have the same label", "give each a distinct label")


def _write_shares(
    folder: Path,
    custodians: Sequence[Custodian],
    mnemonics: Sequence[str],
    switch: str,
    threshold: int,
    server: str | None,
) -> list[dict[str, Any]]:
    """Write each custodian's share into ``folder`` (a card for paper, an age envelope
    otherwise) and return the roster's entries: who holds what, and its commitment."""
    folder.mkdir()
    listed: list[dict[str, Any]] = []
    for custodian, mnemonic in zip(custodians, mnemonics, strict=True):
        envelope = ShareEnvelope(
            mnemonic, switch, custodian.label, threshold, len(custodians), server
        )
        if custodian.recipient == PAPER:
            (folder / f"{custodian.label}.txt").write_text(envelope.card(), encoding="utf-8")
        else:
            (folder / f"{custodian.label}.age").write_bytes(envelope.encrypt(custodian.recipient))
        listed.append(
            {
                "label": custodian.label,
                "kind": PAPER if custodian.recipient == PAPER else "age",
                "recipient": None if custodian.recipient == PAPER else custodian.recipient,
                "commitment": commitment(mnemonic),
                "credential": credential_digest(envelope.credential),
            }
        )
    return listed


JSON_MAX_DEPTH = 64
"""Deeper than any file afterword writes (manifests, notices, statements, audit logs)."""


def load_json(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise AfterwordError(f"{what} {path} not found", "check the path") from exc
    except OSError as exc:
        raise AfterwordError(f"cannot read {what} {path}: {exc.strerror}") from exc
    return parse_json(raw, str(path), max_depth=JSON_MAX_DEPTH)


def load_manifest(path: Path) -> Document:
    manifest = verify_document(load_json(path, "manifest"), "manifest")
    check_public_manifest(manifest)
    return manifest


def rebuild_dossier_key(shares: Sequence[ShareInput], manifest: Document) -> str:
    """Combine shares into the dossier key's age identity, checked against the manifest."""
    switch = manifest["switch"]
    for share in shares:
        if share.switch is not None and share.switch != switch:
            raise ShareError(
                f"{share.source} is a share of switch {share.switch}, "
                f"not of this dossier ({switch})",
                "use the shares made for this dossier",
            )
    identity = age_identity_from_secret(combine_shares(s.mnemonic for s in shares))
    if age_recipient_of(identity) != manifest["dossier"]["recipient"]:
        raise ShareError(
            "the shares rebuild a key, but not this dossier's key",
            "they belong to another dossier; use the shares made for this one",
        )
    return identity


def read_identities(paths: Sequence[Path]) -> list[str]:
    """age identities from files written by age-keygen (comments and blank lines skipped)."""
    identities: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read identity file {path}") from exc
        keys = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("AGE-SECRET-KEY-1")]
        if not keys:
            raise KeyFileError(f"{path} holds no age identity (AGE-SECRET-KEY-1...)")
        identities.extend(keys)
    return identities


def read_shares(share_files: Sequence[Path], identities: Sequence[str]) -> list[ShareInput]:
    shares = []
    for path in share_files:
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise ShareError(f"cannot read share file {path}: {exc.strerror}") from exc
        shares.append(read_share(blob, identities, str(path)))
    return shares


def open_bundle(
    dossier: Path,
    share_files: Sequence[Path],
    out: Path,
    *,
    identity_files: Sequence[Path] = (),
    manifest_path: Path | None = None,
    progress: Progress | None = None,
) -> OpenedDossier:
    """Rebuild the key from shares, then decrypt, unpack and check every document."""
    manifest = load_manifest(manifest_path or dossier.parent / "manifest.json")
    check_output_folder(out)
    identity = rebuild_dossier_key(
        read_shares(share_files, read_identities(identity_files)), manifest
    )
    check_dossier_file(dossier, manifest)
    return extract_dossier(dossier, identity, manifest, out, progress)


def load_owner_copy(bundle: Path, owner: OwnerKey) -> tuple[str, list[DocumentEntry]]:
    try:
        blob = (bundle / "owner.age").read_bytes()
    except FileNotFoundError as exc:
        raise AfterwordError(f"{bundle / 'owner.age'} not found", "pass the bundle folder") from exc
    try:
        plaintext = owner.decrypt(blob)
    except KeyFileError as exc:
        raise KeyFileError(
            "this owner key cannot open the owner's copy",
            "use the keyfile that sealed this bundle",
        ) from exc
    return read_private_manifest(plaintext, f"the owner's copy {bundle / 'owner.age'}")


def make_teaser(bundle: Path, document: Path, owner: OwnerKey) -> Document:
    """A signed teaser for ``document`` (a file on disk that was sealed into ``bundle``)."""
    switch, entries = load_owner_copy(bundle, owner)
    try:
        size = document.stat().st_size
    except FileNotFoundError as exc:
        raise AfterwordError(
            f"{document} not found",
            "a teaser needs the document itself: pass the file you sealed",
        ) from exc
    if size > MAX_TEASER_BYTES:
        raise AfterwordError(
            f"{document} is {size} bytes; a teaser embeds its document and allows "
            f"{MAX_TEASER_BYTES} at most",
            "choose a smaller document to reveal",
        )
    content = document.read_bytes()
    digest = hashlib.sha256(content).digest()
    matches = [i for i, e in enumerate(entries) if e.sha256 == digest and e.size == size]
    if not matches:
        raise AfterwordError(
            f"{document} is not one of the sealed documents (or changed since sealing)",
            "pass the exact file that was sealed",
        )
    by_name = [i for i in matches if entries[i].path.endswith(document.name)]
    index = (by_name or matches)[0]
    return owner.sign(teaser_body(switch, entries, index, content))
