"""Arming: a sealed bundle becomes a switch.

The upload is streamed to disk and hashed, every document is checked (see
:mod:`bundle_checks`), and the switch, its server envelopes and its dossier appear in one
transaction. Separate because it is the one way in that makes switches, with its own
quota and its own file handling.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyotp
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from afterword.crypto.bundle import CUSTODIANS_KIND
from afterword.crypto.manifest import check_public_manifest
from afterword.crypto.notice import check_against_notice
from afterword.crypto.servers import SEVERAL_SERVERS_NO_PASSWORD, Server, load_roster
from afterword.crypto.signing import Document, verify_document
from afterword.crypto.switch_id import check_switch_id
from afterword.engine.bundle_checks import (
    check_bound_switch,
    check_dossier_info,
    check_roster,
    check_server_envelope,
    check_server_shares,
)
from afterword.engine.callers import client_digest, network_of
from afterword.engine.contacts import Contacts, contacts_to_json
from afterword.engine.context import Context
from afterword.engine.duress import check_duress_key
from afterword.engine.errors import Conflict, TooLarge
from afterword.engine.lockout import check_arm_quota
from afterword.engine.passwords import hash_password
from afterword.engine.views import status_view
from afterword.errors import FormatError
from afterword.store import repository as repo
from afterword.store.models import ArmRow, ServerEnvelopeRow
from afterword.switch import machine
from afterword.switch.policy import Policy

ARM_HINT = "upload a bundle made by `afterword seal`"


def arm(
    ctx: Context,
    *,
    manifest: Document,
    notice: Document,
    custodians: Document,
    dossier: BinaryIO,
    policy: Policy,
    contacts: Contacts,
    server_envelopes: dict[str, bytes],
    password: str | None = None,
    totp: bool = False,
    duress_key: str | None = None,
    duress_password: str | None = None,
    client: str = "",
    drill_of: str | None = None,
    servers: Document | None = None,
) -> dict[str, Any]:
    """Register a sealed bundle as a switch. Everything is checked before anything
    is kept: signatures, that the files belong together, the dossier's size and header.

    ``duress_key`` / ``duress_password``: the owner's duress credentials (the keyfile
    names a duress key whether or not it has a duress slot). ``servers``: the roster of
    the switch's servers the owner signed (``servers/1``), for a switch watched by several;
    this server must be on it, with its own key and recipient. ``client`` is remembered
    as a known client: check-ins from elsewhere are announced. An arm from a known
    network (the web's) counts against that network's quota (``Config.arm_quota``).
    """
    network = network_of(client)  # arms from a known network count against its quota
    quota = ctx.config.arm_quota if network != "unknown" else 0
    if quota:
        with ctx.store.connection() as c:  # before any work: a refused arm costs little
            check_arm_quota(c, network, quota, ctx.clock())
    _check_passwords(password, totp, duress_password, several=servers is not None)
    bundle = _checked_bundle(
        ctx, manifest, notice, custodians, policy, contacts, server_envelopes, duress_key
    )
    peers = _checked_servers(ctx, servers, bundle.switch_id, bundle.owner)
    switch_id, dossier_info = bundle.switch_id, bundle.dossier_info
    path = ctx.dossier_path(switch_id)
    # a name of its own per upload: two arms of one bundle never touch each other's file
    partial = path.with_name(f".{switch_id}.{secrets.token_hex(8)}.partial")
    try:
        sha, size = _received(ctx, dossier, partial, dossier_info)
        password_hash = hash_password(password) if password is not None else None
        duress_hash = hash_password(duress_password) if duress_password else None
        totp_secret = pyotp.random_base32() if totp else None
        now = ctx.clock()
        peer_wait = ctx.config.peer_wait if peers else 0
        state, effects = machine.arm(policy, bundle.threshold, now, peer_wait)
        columns: dict[str, Any] = {
            "switch_id": switch_id,
            "owner_key": bundle.owner,
            "state": state,
            "effects": effects,
            "now": now,
            "manifest": json.dumps(bundle.manifest),
            "notice": json.dumps(bundle.notice),
            "custodians": json.dumps(bundle.roster),
            "contacts": contacts_to_json(contacts),
            "dossier_sha256": sha,
            "dossier_size": size,
            "password_hash": password_hash,
            "totp_secret": totp_secret,
            "duress_key": bundle.duress_key,
            "duress_password_hash": duress_hash,
            "drill_of": drill_of,
            "servers": None if servers is None else json.dumps(servers),
        }
        columns["peers"] = [peer.url for peer in peers]
        _keep(ctx, columns, quota, network, client, server_envelopes, (partial, path))
    finally:
        partial.unlink(missing_ok=True)
    status = status_view(ctx, switch_id)
    if totp_secret is not None:  # shown once, for the owner's authenticator app
        status["totp_uri"] = pyotp.TOTP(totp_secret).provisioning_uri(
            name=switch_id, issuer_name="afterword"
        )
    return status


def _check_passwords(
    password: str | None, totp: bool, duress_password: str | None, *, several: bool = False
) -> None:
    """The password credentials an arm asks for go together, and only on one server."""
    if several and (password is not None or totp or duress_password is not None):
        raise FormatError(*SEVERAL_SERVERS_NO_PASSWORD)
    if totp and password is None:
        raise FormatError("TOTP needs a check-in password", "set a password too")
    if duress_password is not None and (password is None or duress_password == password):
        raise FormatError(
            "a duress password needs a check-in password, and must differ from it",
            "set both, different",
        )


def _checked_servers(
    ctx: Context, servers: Document | None, switch_id: str, owner: str
) -> tuple[Server, ...]:
    """The switch's other servers, from the roster the owner signed (none without one).
    This server must be on it as it publishes itself: its key, and its recipient (what
    peers will encrypt its shares to)."""
    if servers is None:
        return ()
    roster = load_roster(servers, switch_id, owner)
    peers = roster.peers_of(ctx.keys.public_key)  # refused if this server is not on it
    me = next(s for s in roster.servers if s.key == ctx.keys.public_key)
    if me.recipient != ctx.keys.age_recipient:
        raise FormatError(
            "the roster names this server's key with another age recipient",
            "make the roster from this server's /.well-known/afterword",
        )
    return peers


@dataclass(frozen=True)
class _Bundle:
    """What arming keeps of a bundle once every check of it passed."""

    manifest: Document
    notice: Document
    roster: Document
    owner: str
    switch_id: str
    dossier_info: dict[str, Any]
    threshold: int
    duress_key: str | None


def _received(
    ctx: Context, dossier: BinaryIO, partial: Path, dossier_info: dict[str, Any]
) -> tuple[str, int]:
    """The uploaded dossier, streamed to ``partial``: its digest and size, once it is
    known to be the one the manifest describes and no larger than the server takes."""
    if dossier_info["size"] > ctx.config.max_upload:
        raise TooLarge(
            f"the dossier is {dossier_info['size']} bytes; this server takes at most "
            f"{ctx.config.max_upload}",
            "ask the operator, or use a server with room for it",
        )
    sha, size, header_ok = _receive(dossier, partial, dossier_info)
    if size != dossier_info["size"] or not header_ok:
        raise FormatError(
            "the uploaded dossier is not the one the manifest describes",
            "upload dossier.age from the same bundle",
        )
    return sha, size


def _checked_bundle(
    ctx: Context,
    manifest: Document,
    notice: Document,
    custodians: Document,
    policy: Policy,
    contacts: Contacts,
    server_envelopes: dict[str, bytes],
    duress_key: str | None,
) -> _Bundle:
    """Every check of the bundle's documents, in the order ``arm`` makes them: the
    signatures, that the files belong together, the roster, the policy, the contacts
    and the server's shares."""
    manifest = verify_document(manifest, "manifest")
    check_public_manifest(manifest)
    owner = manifest["owner_key"]
    switch_id = check_switch_id(
        manifest.get("switch"),
        "the manifest's switch id",
        "upload a bundle made by `afterword seal`",
    )
    dossier_info = check_dossier_info(manifest.get("dossier"))
    notice = verify_document(notice, "notice", expected_key=owner)
    check_against_notice(manifest, notice, "count", subject="the manifest")
    roster = verify_document(custodians, CUSTODIANS_KIND.split("/")[0], expected_key=owner)
    if roster.get("switch") != switch_id:
        raise FormatError("custodians.json belongs to another switch")
    threshold, labels = check_roster(roster)
    policy.check_minimum(ctx.config.min_duration)
    if duress_key is not None:
        duress_key = check_duress_key(duress_key, owner)
    for label in contacts.custodians:
        if label not in labels:
            raise FormatError(f"no custodian is labelled {label!r} in custodians.json")
    held_words = [
        check_server_envelope(ctx, switch_id, label, blob, labels)
        for label, blob in server_envelopes.items()
    ]
    check_server_shares(held_words, threshold, dossier_info["recipient"])
    check_bound_switch(switch_id, owner, dossier_info["recipient"], notice)
    return _Bundle(manifest, notice, roster, owner, switch_id, dossier_info, threshold, duress_key)


def _keep(
    ctx: Context,
    columns: dict[str, Any],
    quota: int,
    network: str,
    client: str,
    server_envelopes: dict[str, bytes],
    files: tuple[Path, Path],
) -> None:
    """Make the switch (``columns``: its row) in one transaction, and move its uploaded
    dossier (``files``: where it was received, where it belongs) in place."""
    peers = columns.pop("peers")
    switch_id, now = columns["switch_id"], columns["now"]
    partial, path = files
    try:
        with ctx.store.transaction() as s:
            if repo.get_switch(s, switch_id) is not None:
                raise Conflict(f"switch {switch_id} is already armed on this server")
            if quota:  # counted where the switch is made: no concurrent arm slips by
                check_arm_quota(s.connection(), network, quota, now)
                s.add(ArmRow(network=network, at=now))
            repo.create_switch(
                s, **columns
            )  # flushed: a concurrent arm of the same switch fails here, before the rename
            repo.add_peers(s, switch_id, peers, now)
            remember_client(ctx, s, switch_id, client, now)
            repo.see_network(s, switch_id, network_of(client), now)
            for label, blob in server_envelopes.items():
                s.add(ServerEnvelopeRow(switch_id=switch_id, custodian=label, envelope=blob))
            s.flush()
            partial.rename(path)  # in place before the switch exists for anyone else
    except IntegrityError as exc:  # armed meanwhile, by another request
        raise Conflict(f"switch {switch_id} is already armed on this server") from exc


def remember_client(ctx: Context, s: Session, switch_id: str, client: str, now: int) -> bool:
    """Remember a client (hashed); True if this switch has never seen it before."""
    if repo.client_known(s, switch_id, client_digest(client)):
        return False
    repo.add_client(s, switch_id, client_digest(client), now)
    return True


def _receive(source: BinaryIO, target: Path, dossier: dict[str, Any]) -> tuple[str, int, bool]:
    """Stream an upload to disk, hashing it; check its header against the manifest's."""
    digest = hashlib.sha256()
    size = 0
    header_size = int(dossier["header_size"])
    head = b""
    target.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    limit = int(dossier["size"])
    # 0600 from the start: the dossier is sealed, but who may read it is still the server's
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        for chunk in _chunks(source):
            if size + len(chunk) > limit:  # more than the manifest says: stop writing now
                return digest.hexdigest(), size + len(chunk), False
            if len(head) < header_size:
                head += chunk[: header_size - len(head)]
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    header_ok = hashlib.sha256(head).hexdigest() == dossier["header_sha256"]
    return digest.hexdigest(), size, header_ok


def _chunks(source: BinaryIO) -> Iterator[bytes]:
    while chunk := source.read(1 << 20):
        yield chunk
