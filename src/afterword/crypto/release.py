"""Release bundles: what a released switch publishes, and the offline check of it.

When a switch releases, the server publishes at ``/r/{id}`` five files, which a reader
downloads into one folder (the *release bundle*)::

    key              the dossier key, one AGE-SECRET-KEY-1... line
    dossier.age      the sealed dossier, byte for byte as the owner sealed it
    manifest.json    the owner-signed public manifest, as sealed
    notice.json      the owner-signed notice (optional for the check)
    statement.json   the release statement, signed by the *server* (``server_key``)

The statement says why and when the switch released and which custodians gave their
shares. It does not hold the key (the key is published beside it, so the statement can be
quoted without opening the dossier), but it records the dossier's age recipient, header
hash and size, and the manifest's root and owner key: so the statement, the owner's
manifest, the key and the dossier can each be checked against the others, and none of
them can be swapped for another dossier's without ``afterword verify FOLDER`` noticing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterword.crypto.audit import is_unix_time, utc_text
from afterword.crypto.bundle import load_json, load_manifest
from afterword.crypto.dossier import (
    check_dossier_file,
    check_output_folder,
    extract_dossier,
)
from afterword.crypto.encoding import age_recipient_of, check_age_recipient
from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.notice import check_against_notice, load_notice
from afterword.crypto.signing import (
    SERVER_KEY,
    Document,
    describe_server_signer,
    fingerprint,
    parse_public_key,
    verify_document,
)
from afterword.crypto.switch_id import check_switch_binding
from afterword.errors import AfterwordError, FormatError, IntegrityError

RELEASE_KIND = "release/1"
KEY_FILE = "key"
DOSSIER_FILE = "dossier.age"
MANIFEST_FILE = "manifest.json"
NOTICE_FILE = "notice.json"
STATEMENT_FILE = "statement.json"
REQUIRED_FILES = (STATEMENT_FILE, MANIFEST_FILE, KEY_FILE, DOSSIER_FILE)

# plain words for the causes the switch knows; an unknown cause is shown as written
CAUSES = {
    "missed": "the owner stopped checking in and the grace period ran out",
    "deliberate": "the owner chose to release it",
    "owner": "the owner asked for the release, through the waiting period",
    "duress": "the owner signalled duress",
    "votes": "custodians voted to release it",
    "canary": "a protected person stopped checking in",
    "drill": "the owner ran a DRILL: a rehearsal with a made-up dossier, nothing real",
}
_DOSSIER_FIELDS = ("recipient", "size", "header_size", "header_sha256")
_FROM_SERVER = "download the files again, all from the same release page"


def _check_statement_fields(doc: Document) -> None:
    """Shape and sense of a statement, so a verifier never crashes on a hostile one.

    The builder runs the same checks, so a server cannot sign what ``verify`` refuses.
    """

    def bad(what: str) -> FormatError:
        return FormatError(f"the release statement's {what}", "it was not made by afterword")

    if not isinstance(doc.get("switch"), str) or not doc["switch"]:
        raise bad("switch id is missing")
    if not isinstance(doc.get("cause"), str) or not doc["cause"]:
        raise bad("cause is missing")
    triggered, released = doc.get("triggered_at"), doc.get("released_at")
    if not is_unix_time(triggered) or not is_unix_time(released):
        raise bad("times are not unix seconds")
    assert isinstance(triggered, int) and isinstance(released, int)
    if released < triggered:
        raise bad(f"release time {utc_text(released)} is before its trigger time")
    custodians = doc.get("custodians")
    if not isinstance(custodians, list) or not all(isinstance(c, str) and c for c in custodians):
        raise bad("custodian list is not a list of labels")
    if len(set(custodians)) != len(custodians):
        raise bad("custodian list names a custodian twice")
    count = doc.get("count")
    if (
        not isinstance(doc.get("root"), str)
        or not isinstance(count, int)
        or isinstance(count, bool)
        or count < 0
    ):
        raise bad("Merkle root or document count is missing")
    parse_public_key(doc.get("owner_key"), "the release statement's owner key")
    dossier = doc.get("dossier")
    if not isinstance(dossier, dict) or any(f not in dossier for f in _DOSSIER_FIELDS):
        raise bad("dossier description is incomplete")
    if doc.get("server_url") is not None and not isinstance(doc["server_url"], str):
        raise bad("server URL is not text")


def release_statement_body(
    *,
    switch: str,
    cause: str,
    triggered_at: int,
    released_at: int,
    custodians: list[str],
    manifest: dict[str, Any],
    dossier_recipient: str,
    server_url: str | None,
) -> dict[str, Any]:
    """The unsigned release statement; the server signs it with ``key_field="server_key"``.

    ``manifest`` is the owner-signed public manifest as sealed; its signature is checked
    here, and ``dossier_recipient`` (the recipient of the key the shares rebuilt) must be
    the manifest's, so a server never vouches for a key that does not open the dossier.
    Times are unix seconds.
    """
    manifest = verify_document(manifest, "manifest")
    check_public_manifest(manifest)
    if switch != manifest["switch"]:
        raise IntegrityError(
            f"switch {switch} cannot release the manifest of switch {manifest['switch']}",
            "pass this switch's own manifest",
        )
    dossier = manifest.get("dossier")
    if not isinstance(dossier, dict):
        raise FormatError("the manifest does not describe its dossier")
    if check_age_recipient(dossier_recipient) != dossier.get("recipient"):
        raise IntegrityError(
            "the rebuilt key is not this dossier's key (its recipient differs)",
            "the shares belong to another dossier; do not publish this key",
        )
    body: dict[str, Any] = {
        "afterword": RELEASE_KIND,
        "switch": switch,
        "cause": cause,
        "triggered_at": triggered_at,
        "released_at": released_at,
        "custodians": list(custodians),
        "tree": manifest["tree"],
        "root": manifest["root"],
        "count": manifest["count"],
        "owner_key": manifest["owner_key"],
        "dossier": {field: dossier.get(field) for field in _DOSSIER_FIELDS},
        "server_url": server_url,
    }
    _check_statement_fields(body)
    return body


def _check_pin(server_key: str | None) -> str | None:
    if server_key is None:
        return None
    pin = server_key.strip()
    try:
        parse_public_key(pin, "the server key you gave")
    except FormatError as exc:
        raise FormatError(
            exc.message, "write it as ed25519:<base64>, as the server's operator publishes it"
        ) from exc
    return pin


def load_statement(doc: Any, server_key: str | None = None) -> Document:
    """Check a release statement's signature (pinned to ``server_key`` if given) and shape."""
    statement = verify_document(
        doc, "release", expected_key=_check_pin(server_key), key_field=SERVER_KEY
    )
    _check_statement_fields(statement)
    return statement


def _check_statement_switch(statement: Document) -> None:
    """The released switch must be the one its owner key and dossier derive: a server that
    let someone else arm the id it names (or an older one, whose ids were random) cannot
    pass their release off as the owner's."""
    check_switch_binding(
        statement["switch"],
        statement["owner_key"],
        statement["dossier"]["recipient"],
        what="the release statement",
        hint="it is not the release of that owner's switch; " + _FROM_SERVER,
    )


def _describe_statement(statement: Document, pinned: bool) -> list[str]:
    cause = str(statement["cause"])
    said = [
        describe_server_signer("release statement", statement[SERVER_KEY], pinned),
        f"It says switch {statement['switch']} triggered at "
        f"{utc_text(statement['triggered_at'])} because "
        f"{CAUSES.get(cause, f'of {cause!r}')} (cause: {cause}), "
        f"and was released at {utc_text(statement['released_at'])}.",
    ]
    if statement["custodians"]:
        said.append(
            "Custodians who released their shares: " + ", ".join(statement["custodians"]) + "."
        )
    else:
        said.append("It names no custodian: the server held enough shares itself.")
    if statement.get("server_url"):
        said.append(f"It was published by {statement['server_url']}.")
    return said


def verify_statement(
    doc: Any, server_key: str | None = None, notice: Document | None = None
) -> list[str]:
    """A release statement on its own: its signature and, if given, that it fits the notice.

    Alone it proves only what the server *says*; the folder check proves the key opens
    the dossier the owner sealed.
    """
    statement = load_statement(doc, server_key)
    _check_statement_switch(statement)
    said = _describe_statement(statement, server_key is not None)
    if notice is not None:
        check_against_notice(statement, notice, "count", subject="this release statement")
        said.append("It names the notice's dossier, root, count and owner.")
    said.append(
        "This checks only the statement: pass the release folder (key, dossier.age, "
        "manifest.json, statement.json) to check the key and the dossier too."
    )
    return said


def _statement_matches_manifest(statement: Document, manifest: Document) -> None:
    # the manifest's fields with .get: its signature says who wrote it, not that it is whole
    pairs = [
        ("switch id", statement["switch"], manifest.get("switch")),
        ("Merkle root", statement["root"], manifest.get("root")),
        ("document count", statement["count"], manifest.get("count")),
        ("owner key", statement["owner_key"], manifest.get("owner_key")),
    ]
    dossier = manifest.get("dossier")
    if not isinstance(dossier, dict):
        dossier = {}
    pairs += [
        (f"dossier {field}", statement["dossier"][field], dossier.get(field))
        for field in _DOSSIER_FIELDS
    ]
    for what, said, signed in pairs:
        if said != signed:
            raise IntegrityError(
                f"the release statement's {what} differs from the manifest's: {said} vs {signed}",
                "they are not of the same dossier; " + _FROM_SERVER,
            )


def read_key_file(path: Path) -> str:
    """The one age identity in a published ``key`` file (comments and blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise AfterwordError(f"{path} not found", _FROM_SERVER) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path} is not a text file holding an age key", _FROM_SERVER) from exc
    lines = [ln for ln in (raw.strip() for raw in text.splitlines()) if ln and ln[0] != "#"]
    if len(lines) != 1:
        raise FormatError(
            f"{path} should hold one AGE-SECRET-KEY-1... line, found {len(lines)} lines",
            _FROM_SERVER,
        )
    try:
        age_recipient_of(lines[0])
    except FormatError as exc:
        raise FormatError(
            f"{path} does not hold a valid age identity (AGE-SECRET-KEY-1...)",
            "it was damaged in transit; " + _FROM_SERVER,
        ) from exc
    return lines[0]


def _check_published_key(identity: str, manifest: Document, statement: Document) -> str:
    """The published key is the dossier's: the manifest and the statement both name its
    recipient."""
    recipient = age_recipient_of(identity)
    for whose, expected in (
        ("the signed manifest", manifest["dossier"]["recipient"]),
        ("the release statement", statement["dossier"]["recipient"]),
    ):
        if recipient != expected:
            raise IntegrityError(
                f"the published key is not this dossier's key: it opens {recipient}, but "
                f"{whose} says the dossier is encrypted to {expected}",
                "it is the key of another dossier, or was altered; " + _FROM_SERVER,
            )
    return f"The published key is the dossier key: its age recipient is {recipient}."


def _check_notices(folder: Path, notice_path: Path | None, manifest: Document) -> list[str]:
    """The published notice, and the one the reader was shown (if given): both must match."""
    said: list[str] = []
    notices = [folder / NOTICE_FILE] if (folder / NOTICE_FILE).is_file() else []
    if notice_path is not None and all(notice_path.resolve() != p.resolve() for p in notices):
        notices.append(notice_path)
    for path in notices:
        notice = load_notice(load_json(path, "notice"))
        check_against_notice(manifest, notice, "count", subject="this release")
        said.append(
            f"It matches the notice {path}: same dossier, root, count and owner key. The "
            f"notice said any {notice.get('threshold')} of {notice.get('shares')} custodians "
            "could open it."
        )
    if not notices:
        said.append(
            "There is no notice.json: pass --notice NOTICE to check the release against the "
            "notice you were shown."
        )
    return said


def verify_release_folder(
    folder: Path,
    *,
    server_key: str | None = None,
    notice_path: Path | None = None,
    open_to: Path | None = None,
) -> list[str]:
    """Check a downloaded release bundle offline; return what it establishes.

    In order, raising on the first failure: the server's signature on the statement (and
    that it is the pinned key), the owner's on the manifest, that both name the same
    dossier, that ``key`` opens exactly that dossier, that ``dossier.age`` is the sealed
    file, that it matches the notice (the folder's ``notice.json`` and/or
    ``notice_path``), and with ``open_to`` that every document decrypts and matches.
    """
    if not folder.is_dir():
        raise AfterwordError(f"{folder} is not a folder", "pass the release folder")
    absent = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if absent:
        raise AfterwordError(
            f"the release folder {folder} lacks {', '.join(absent)}",
            "download key, dossier.age, manifest.json, notice.json and statement.json "
            "from the release page into one folder",
        )
    if open_to is not None:
        check_output_folder(open_to)  # before the long checks, not after them
    statement = load_statement(load_json(folder / STATEMENT_FILE, "statement"), server_key)
    said = _describe_statement(statement, server_key is not None)

    manifest = load_manifest(folder / MANIFEST_FILE)
    _statement_matches_manifest(statement, manifest)
    _check_statement_switch(statement)  # the manifest's too, now that the two agree
    said.append(
        f"The manifest is signed by owner key {fingerprint(manifest['owner_key'])}; its "
        f"{manifest['count']} leaf hashes add up to Merkle root {manifest['root']}, the "
        "dossier the statement names."
    )

    identity = read_key_file(folder / KEY_FILE)
    said.append(_check_published_key(identity, manifest, statement))

    dossier = folder / DOSSIER_FILE
    check_dossier_file(dossier, manifest)
    said.append(
        f"{DOSSIER_FILE} is the sealed dossier: {manifest['dossier']['size']} bytes, age "
        f"header SHA-256 {manifest['dossier']['header_sha256']}, as the owner signed."
    )

    said += _check_notices(folder, notice_path, manifest)

    if open_to is None:
        said.append(
            "Pass --open FOLDER to decrypt the dossier and check every document "
            "(stock tools: age -d -i key dossier.age | tar x)."
        )
    else:
        opened = extract_dossier(dossier, identity, manifest, open_to)
        said.append(
            f"Opened {len(opened.entries)} document(s), {opened.size} bytes, into "
            f"{opened.out}/: every document matches the signed manifest."
        )
    return said
