"""Protected people (canaries): their links, their page and their check-ins.

Each protected person has two links, the normal one and the duress one; both answer
alike, and the duress one raises the alarm the owner chose. Separate from the owner's
actions: these callers hold a link, not an owner credential.

On a switch with several servers (docs/federation.md, item 7) the owner's CLI makes the
two tokens and sends only their SHA-256 digests, the same to every server (``links`` in
the signed ``canary-add``): no server knows the duress token before it is used, so none
can forge the alarm on its peers. A check-in at one server is relayed to every peer,
its token sealed to the peer (:func:`canary_relays`), and each peer checks the token
against its own digests before it moves (:func:`take_relayed_canary`).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.bundle import LABEL
from afterword.crypto.canary_relay import open_canary_checkin, seal_canary_checkin, sealed_file
from afterword.crypto.encoding import is_count
from afterword.crypto.relay import sign_relay
from afterword.crypto.signing import Document
from afterword.delivery.peer import PEER_SCHEME
from afterword.engine.apply import apply_event
from afterword.engine.context import Context, load_switch
from afterword.engine.duress import refused_other
from afterword.engine.errors import Conflict, Forbidden, NotFound
from afterword.engine.mail_text import tag
from afterword.engine.peers import highest_checkin, peers_of
from afterword.errors import AfterwordError, FormatError
from afterword.store import repository as repo
from afterword.store.models import CanaryTokenRow
from afterword.switch.machine import (
    AddCanary,
    Canary,
    CanaryCheckIn,
    Phase,
    SwitchState,
    canary_in_time,
)
from afterword.switch.policy import MAX_DURATION

LINK_KEYS = (("token", False), ("duress_token", True))
_DIGEST = re.compile(r"[0-9a-f]{64}")
_LINKS_HINT = (
    'send "links": {"token": SHA256, "duress_token": SHA256}, the hex SHA-256 digests of '
    "two different random 32-hex-digit tokens (afterword canary add makes them)"
)


def canary_links(
    ctx: Context, s: Session, switch_id: str, name: str, digests: dict[str, str] | None = None
) -> dict[str, Any]:
    """Two links for a new protected person: the normal one and the duress one. Made here
    (and answered) unless the owner made them and sent their ``digests`` (a switch on
    several servers): then only the digests are kept, and the owner holds the links."""
    links: dict[str, Any] = {"canary": name}
    for key, duress in LINK_KEYS:
        if digests is not None:
            digest = digests[key]
            if repo.canary_link(s, digest) is not None:
                raise Conflict("one of these links is in use already", _LINKS_HINT)
        else:
            token = secrets.token_hex(16)
            digest = hashlib.sha256(token.encode()).hexdigest()
            links[key] = token
            links[key.replace("token", "url")] = f"{ctx.config.public_url}/canary/{token}"
        s.add(CanaryTokenRow(digest=digest, switch_id=switch_id, name=name, duress=duress))
    return links


def link_digests(request: Document) -> dict[str, str] | None:
    """The digests of the links the owner made (``links`` in a ``canary-add``), checked;
    None if the request carries none (the server makes the links)."""
    links = request.get("links")
    if links is None:
        return None
    if not isinstance(links, dict) or set(links) != {key for key, _ in LINK_KEYS}:
        raise FormatError("a protected person's links must be two digests", _LINKS_HINT)
    digests = {key: links[key] for key, _ in LINK_KEYS}
    if not all(isinstance(d, str) and _DIGEST.fullmatch(d) for d in digests.values()):
        raise FormatError("a link's digest must be 64 lowercase hexadecimal digits", _LINKS_HINT)
    if digests["token"] == digests["duress_token"]:
        raise FormatError("the check-in link and the duress link must differ", _LINKS_HINT)
    return digests


def known_links(s: Session, switch_id: str, request: Document) -> bool:
    """Whether this ``canary-add`` (with owner-made links) was taken here already, from
    another server's relay or the owner: the same person with the same digests."""
    digests = link_digests(request)
    if digests is None:
        return False
    rows = [repo.canary_link(s, digests[key]) for key, _ in LINK_KEYS]
    return all(
        r is not None and r.switch_id == switch_id and r.name == request.get("name") for r in rows
    )


def canary_token(ctx: Context, s: Session, token: str) -> Any:
    """The link's row (``switch_id``, ``name``, ``duress``), read as a plain row."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = repo.canary_link(s, digest) if _TOKEN.fullmatch(token) else None
    if row is None:
        raise NotFound(
            "this check-in link is not valid",
            "ask the person who gave it to you for their current link",
        )
    return row


def canary_page(ctx: Context, token: str) -> dict[str, Any]:
    """What a protected person's page shows: their name and when they are next due.
    The duress link shows exactly the same."""
    with ctx.store.transaction() as s:
        link = canary_token(ctx, s, token)
        canary = find_canary(repo.state_of(load_switch(ctx, s, link.switch_id)), link.name)
        return {"name": link.name, "next_due": canary.deadline}


def canary_checkin(ctx: Context, token: str, client: str = "") -> dict[str, Any]:
    """A protected person checks in. The duress link answers exactly alike, and raises
    the alarm (alert or trigger, as the owner chose for this person). On a switch with
    several servers, relayed to every peer, alike for both links."""
    now = ctx.clock()
    with ctx.store.transaction() as s:
        link = canary_token(ctx, s, token)
        row = load_switch(ctx, s, link.switch_id, lock=True)
        in_time = canary_in_time(repo.state_of(row), link.name, now)
        state, effects = apply_event(ctx, s, row, CanaryCheckIn(link.name, link.duress), now)
        refused = refused_other(effects)
        if refused is None:
            repo.enqueue_all(s, row.id, canary_relays(ctx, row, token, in_time, now), now)
    if refused is not None:  # the truth refused it, the owner's decoy took it
        raise refused
    canary = find_canary(state, link.name)
    return {"name": link.name, "checked_in_at": now, "next_due": canary.deadline}


_TOKEN = re.compile(r"[0-9a-f]{32}")  # a canary's link token


def canary_event(request: Document, federated: bool = False) -> AddCanary:
    """The protected person a ``canary-add`` asks for, checked (its ``links`` too). On a
    switch with several servers (``federated``) the owner must make the links."""
    if link_digests(request) is None and federated:
        raise FormatError(
            "on a switch on several servers, the owner makes a protected person's links",
            "afterword canary add --server URL --server URL ... sends their digests to each",
        )
    name, on_miss = request.get("name"), request.get("on_miss", "alert")
    interval, grace = request.get("interval"), request.get("grace", 0)
    hint = (
        'send {"name": NAME, "interval": SECONDS, "grace": SECONDS, "on_miss": '
        '"trigger" or "alert"}'
    )
    if not isinstance(name, str) or not LABEL.fullmatch(name):
        raise FormatError("a protected person needs a name (letters, digits, . - _)", hint)
    if not is_count(interval) or not is_count(grace) or not interval:
        raise FormatError("a protected person needs a positive interval and a grace", hint)
    if interval > MAX_DURATION or grace > MAX_DURATION:  # type: ignore[operator]
        raise FormatError("that interval or grace is longer than 10 years", hint)
    if on_miss not in ("trigger", "alert"):
        raise FormatError("on_miss must be 'trigger' or 'alert'", hint)
    assert isinstance(interval, int) and isinstance(grace, int)
    return AddCanary(name, interval, grace, trigger=on_miss == "trigger")


def find_canary(state: SwitchState, name: str) -> Canary:
    for canary in state.canaries:
        if canary.name == name:
            return canary
    raise NotFound("this check-in link no longer belongs to anyone on the switch")


def canary_relays(
    ctx: Context, row: repo.Switch, token: str, in_time: bool, now: int
) -> list[repo.Outgoing]:
    """A protected person's check-in with ``token``, for each peer of the switch (none on
    a switch on one server): a ``relay/1`` whose ``canary`` is the token sealed to the
    peer's recipient, with ``in_time`` (this server counted it before the person's
    alarm). No ``state`` in it, so the relays of the two links are the same size (a
    duress check-in may trigger here); the hourly relay says the state."""
    messages = []
    for peer in peers_of(ctx, row):
        sealed = seal_canary_checkin(peer.recipient, row.id, token, now, in_time)
        held, checkin = row.checkin_counter, highest_checkin(row)
        doc = sign_relay(ctx.keys, row.id, held, checkin, at=now, canary=sealed, to=peer.key)
        messages.append(
            repo.Outgoing(
                id=f"relay-{row.id}-{tag(peer.url)}-c{tag(sealed.hex())}-{now}",
                to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/relays",
                subject=f"afterword relay: {row.id}",
                body=json.dumps(doc, sort_keys=True, separators=(",", ":")),
            )
        )
    return messages


RELAY_GRACE = 7 * 86400
"""How long after the sender took it a relayed check-in is still taken here (a peer down
for days still hears of it; an old one cannot be kept to play later)."""


def take_relayed_canary(
    ctx: Context, s: Session, row: repo.Switch, sealed: bytes, now: int
) -> bool:
    """A protected person's check-in another server took, relayed here: opened with this
    server's key, its token checked against this switch's own digests (a relay carries
    nothing the person did not do), taken once (its nonce is spent here), and applied as
    a check-in here; by the duress link, it raises the alarm here too. Refused (a
    ``Forbidden``, logged by the caller): one that does not open, a token that is none of
    this switch's links, one taken before. Ignored: one older than ``RELAY_GRACE``."""
    try:
        relayed = open_canary_checkin(ctx.keys.decrypt(sealed_file(sealed)), row.id)
    except (AfterwordError, ValueError) as exc:
        raise Forbidden(
            "a relayed protected person's check-in does not open with this server's key",
            "a peer seals it to the recipient the roster lists for this server",
        ) from exc
    digest = hashlib.sha256(relayed.token.encode()).hexdigest()
    link = repo.canary_link(s, digest)
    if link is None or link.switch_id != row.id:
        raise Forbidden("a relayed check-in carries a token that is none of this switch's links")
    if now > relayed.at + RELAY_GRACE:
        return False
    spent = hashlib.sha256(f"{row.id} {relayed.nonce}".encode()).hexdigest()
    if not repo.spend_nonce(s, row.id, f"c:{spent[:60]}", max(now, relayed.at) + RELAY_GRACE):
        raise Forbidden("this protected person's check-in was relayed here before")
    event = CanaryCheckIn(link.name, link.duress, in_time=relayed.in_time)
    was = repo.state_of(row).phase
    try:
        state, _ = apply_event(ctx, s, row, event, now)
    except Conflict as exc:  # the truth refuses it (a switch released, disarmed)
        raise Forbidden(f"a relayed check-in was refused: {exc.message}") from exc
    if was is Phase.RELEASING and state.phase is Phase.ARMED:  # stopped: see the machine
        repo.withdraw_handoffs(s, row.id)
    return True
