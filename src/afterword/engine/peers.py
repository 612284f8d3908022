"""A switch's other servers, as its roster names them, and what this server tells them.

Three messages. A relay (``relay/1``) of the highest signed check-in this server holds:
sent when a fresh check-in arrives here, when the machine asks the peers before counting a
silence (``AskPeers``), and back to a peer whose relay was older than what this server
holds. A handoff (``handoff/1``) of this server's own shares, each encrypted to the peer,
once the release is due here (``SubmitServerShares``). A custodian's vote that moved this
server's copy, passed on as the custodian made it (:func:`vote_messages`). All go through
the outbox like mail, so a peer that is down gets them once it is back, and nothing is
sent inside a transaction.

Relays also say how this server is: the switch's state here. Every ``Config.peer_every``
each switch's peers are sent one (:func:`ask_peers`), whatever else happened, and a peer
not heard from for ``Config.peer_silence`` (2 days) is reported, once, to the owner and
the custodians: a server of their switch may be gone.

Separate from :mod:`federation` (the requests peers and owners send here) because the
transitions need it too: ``apply.build_transition`` turns two effects into messages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.checkpoint import (
    Checkpoint,
    Consistency,
    compare_checkpoints,
    open_checkpoint,
    parse_checkpoint,
    parse_note,
    sign_checkpoint,
    switch_checkpoint,
    switch_consistency_proof,
    verifier_key,
)
from afterword.crypto.relay import LogProof, Relay, sign_handoff, sign_relay
from afterword.crypto.servers import Server, ServerRoster, load_roster
from afterword.crypto.shares import ShareEnvelope
from afterword.crypto.signing import Document, parse_public_key
from afterword.delivery.peer import PEER_SCHEME
from afterword.engine.contacts import contacts_of
from afterword.engine.context import Context, load_switch
from afterword.engine.duress import record_aside
from afterword.engine.mail_text import render, tag
from afterword.errors import FormatError, IntegrityError, SignatureError
from afterword.store import repository as repo
from afterword.store.models import ServerEnvelopeRow
from afterword.switch.machine import Alert, Audit, Phase, owner_view

log = logging.getLogger("afterword.engine")


def roster_of(row: repo.Switch) -> ServerRoster | None:
    """The switch's servers, as the owner signed them; None for a switch on this server
    alone. Checked again on every read: the row holds what arming verified."""
    if row.servers is None:
        return None
    return load_roster(json.loads(row.servers), row.id, row.owner_key)


def peers_of(ctx: Context, row: repo.Switch) -> tuple[Server, ...]:
    """The switch's other servers (none for a switch on this server alone)."""
    roster = roster_of(row)
    return () if roster is None else roster.peers_of(ctx.keys.public_key)


def highest_checkin(row: repo.Switch) -> Document | None:
    return None if row.checkin_doc is None else dict(json.loads(row.checkin_doc))


def relay_messages(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    now: int,
    to: tuple[Server, ...] | None = None,
    checkin: Document | None = None,
    request: Document | None = None,
    head: bool = False,
) -> list[repo.Outgoing]:
    """A relay of the highest check-in this server holds, for each peer in ``to`` (every
    peer by default), with the switch's state here and, with ``head`` (the hourly ask:
    the head reads the whole log, too much for every check-in), the head of its audit log
    (a signed checkpoint), the size of the peer's log whose head this server holds, and
    the consistency proof from the size the peer said it holds of this one's (each peer
    its own relay then). ``checkin``: another one to relay (a duress check-in outranked
    by the highest); ``request``: an owner's signed request to pass on. The id names the
    switch, the peer, the check-in's counter, the request's nonce and the instant, so a
    retry is the same message and a later ask is a new one."""
    peers = peers_of(ctx, row) if to is None else to
    if not peers:
        return []
    state = repo.state_of(row).phase.value  # the truth's: peers see the truth
    carried = highest_checkin(row) if checkin is None else checkin
    heads = _heads(ctx, s, row, peers) if head else {}
    counter = carried.get("counter") if carried is not None else 0
    asked = "" if request is None else f"-{tag(str(request.get('nonce')))}"
    return [
        repo.Outgoing(
            id=f"relay-{row.id}-{tag(peer.url)}-{counter}{asked}-{now}",
            to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/relays",
            subject=f"afterword relay: {row.id}",
            body=_relay(ctx, row, now, carried, state, request, heads.get(peer.url, {}), peer),
        )
        for peer in peers
    ]


def _relay(
    ctx: Context,
    row: repo.Switch,
    now: int,
    carried: Document | None,
    state: str,
    request: Document | None,
    head: dict[str, Any],
    peer: Server,
) -> str:
    doc = sign_relay(
        ctx.keys, row.id, row.checkin_counter, carried, state, head.get("checkpoint"), now,
        request, held=head.get("held"), proof=head.get("proof"), to=peer.key,
    )  # fmt: skip
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def _heads(
    ctx: Context, s: Session, row: repo.Switch, peers: tuple[Server, ...]
) -> dict[str, dict[str, Any]]:
    """What each peer's hourly relay says of the logs: this server's signed head, the size
    of the peer's log whose head it holds as the base (``held``: 0 for none), and the
    proof that the head extends this server's log of the size the peer said it holds
    (none while the peer said nothing, or said a size this log never reached)."""
    entries = repo.audit_entries(s, row.id)
    note = own_checkpoint(ctx, s, row, entries)
    known = {p.url: p for p in repo.peers(s, row.id)}
    proofs: dict[int, LogProof | None] = {}
    heads = {}
    for peer in peers:
        held = known.get(peer.url)
        holds = 0 if held is None else int(held.holds)
        if note is not None and holds not in proofs:
            proofs[holds] = (
                LogProof(holds, tuple(switch_consistency_proof(row.id, entries, holds)))
                if 0 < holds <= len(entries)
                else None
            )
        base = None if held is None or held.proved is None else _size(held.proved)
        heads[peer.url] = {"checkpoint": note, "held": base or 0, "proof": proofs.get(holds)}
    return heads


def _size(note: str) -> int:
    """The size of a checkpoint held (it was opened and checked when it was kept)."""
    return parse_checkpoint(parse_note(note)[0]).size


def vote_messages(
    ctx: Context, row: repo.Switch, code: str, action: str, label: str, now: int
) -> list[repo.Outgoing]:
    """A custodian's vote (or its withdrawal) that moved this server's copy of the switch,
    passed on to every peer as the custodian made it: their code and the action, to the
    peer's own custodian door, which checks the code as it checks anyone's. A server
    relays a vote only when it changed its own copy, so each server passes each vote on
    once (none to a switch on this server alone)."""
    return [
        repo.Outgoing(
            id=f"vote-{row.id}-{tag(peer.url)}-{tag(label)}-{action}-{now}",
            to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/custodian",
            subject=f"afterword custodian {action}: {row.id}",
            body=json.dumps({"code": code, "action": action}, sort_keys=True),
        )
        for peer in peers_of(ctx, row)
    ]


def own_checkpoint(
    ctx: Context, s: Session, row: repo.Switch, entries: list[dict[str, Any]] | None = None
) -> str | None:
    """The head of this server's audit log for the switch (``entries``, read if not
    given), as a C2SP checkpoint signed by its server key (the truth's log: peers compare
    truths). None for a server whose public URL could name no log (plain http off
    loopback): its peers then keep no head of it."""
    if entries is None:
        entries = repo.audit_entries(s, row.id)
    try:
        head = switch_checkpoint(ctx.config.public_url, row.id, entries)
    except FormatError:
        return None
    return sign_checkpoint(head, ctx.keys.signing)


def handoff_messages(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    now: int,
    to: tuple[Server, ...] | None = None,
    released: bool = False,
) -> list[repo.Outgoing]:
    """This server's own shares of the switch, for each peer, each share encrypted to that
    peer's recipient (from the roster): what a peer that is releasing too needs to reach
    K. One message per peer (``to``: these only), whose id names the switch, the peer and
    the highest check-in held: one handoff per release (a release stopped by a newer
    check-in and begun again later hands over again), and one more, ``released``, from a
    server that published to a peer still releasing."""
    peers = peers_of(ctx, row) if to is None else to
    rows = s.query(ServerEnvelopeRow).filter_by(switch_id=row.id).all() if peers else []
    if not rows:
        return []
    held = [ShareEnvelope.from_json(json.loads(ctx.keys.decrypt(r.envelope))) for r in rows]
    messages = []
    for peer in peers:
        sealed = [e.encrypt(peer.recipient) for e in held]
        doc = sign_handoff(
            ctx.keys, row.id, sealed, row.checkin_counter, released, to=peer.key, at=now
        )
        messages.append(
            repo.Outgoing(
                id=handoff_id(row, peer, released),
                to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/handoffs",
                subject=f"afterword handoff: {row.id}",
                body=json.dumps(doc, sort_keys=True, separators=(",", ":")),
            )
        )
    return messages


ASKED = ("armed", "overdue", "triggered", "releasing", "released", "paused", "disarming")
"""The states in which a switch's peers are asked how they are: all but disarmed. A
released switch goes on asking too: after a duress release the owner is shown a decoy
that is still armed, whose peers (as its status shows them) are still heard from, and
whose silent servers are still reported, as in the real world."""


def ask_peers(ctx: Context, now: int) -> int:
    """Relay to the peers of every switch that has not asked them for ``peer_every``,
    and report a peer silent for ``peer_silence``. Each switch in its own transaction:
    one switch's failure never delays another. Returns how many switches asked."""
    with ctx.store.transaction() as s:
        due = repo.due_to_ask(s, now - ctx.config.peer_every, ASKED, ctx.config.batch)
    for switch_id in due:
        try:
            with ctx.store.transaction() as s:
                _ask(ctx, s, load_switch(ctx, s, switch_id, lock=True), now)
        except Exception:  # logged; the others go on, this one is asked again later
            log.exception("asking the peers of switch %s failed", switch_id)
    return len(due)


def _ask(ctx: Context, s: Session, row: repo.Switch, now: int) -> None:
    repo.enqueue_all(s, row.id, relay_messages(ctx, s, row, now, head=True), now)
    repo.asked(s, row.id, now)
    # what the owner is shown: a peer heard from within two asks is seen now, so the
    # owner's status moves at this server's asks alone, which come alike whatever the
    # switch is doing (under duress, a release's handoffs would move a peer's last_seen
    # at moments no real check-in does; tests/attack/test_duress_last_seen_timeline.py)
    # ... and not once the owner is shown a disarmed switch (the decoy's, under duress):
    # a really disarmed switch asks no more, so its owner's view stands still
    if owner_view(repo.state_of(row)).phase is not Phase.DISARMED:
        repo.show_seen(s, row.id, now, now - 2 * ctx.config.peer_every)
    silence = ctx.config.peer_silence
    for peer in repo.peers(s, row.id):
        heard = peer.last_seen if peer.last_seen is not None else peer.since
        if heard <= now - silence:
            if not peer.alerted:
                why = f"silent since {heard}"
                _report(ctx, s, row, Alert("peer-silent", peer.url), why, now)
                repo.mark_alerted(s, row.id, peer.url)
            continue
        head = peer.head_seen if peer.head_seen is not None else peer.since
        if head <= now - silence and not (peer.forked or peer.unproven_alerted):
            # alive, yet it sends no head of its log: its log cannot be checked, which
            # is as bad as heads that grow unproven (a peer must send one every ask)
            repo.mark_unproven(s, row.id, peer.url, head, alerted=True)
            why = f"no head of its log taken since {head}"
            _report(ctx, s, row, Alert("peer-unproven", peer.url), why, now)


def handoff_id(row: repo.Switch, peer: Server, released: bool = False) -> str:
    """The outbox id of this server's handoff to ``peer`` for the release in ``row``."""
    suffix = "-released" if released else ""
    return f"handoff-{row.id}-{tag(peer.url)}-{row.checkin_counter}{suffix}"


def compare_heads(ctx: Context, s: Session, row: repo.Switch, relay: Relay, now: int) -> None:
    """Keep a peer's signed checkpoint of its log for the switch, and compare it with the
    ones held: the newest head taken (the same size with another root is a fork; a shorter
    log signed later, a rollback: restored from an old backup, or rewritten) and the base
    (the newest one proved): a larger head needs the relay's consistency proof from the
    base's size, and one that fails is a fork too. Each is reported once to the owner and
    the custodians, and logged; the heads held are kept as the evidence.

    A proof from another size (stale: the peer had not yet heard which size is held here),
    or none (a server from before proofs), is no alarm: the head is taken as the newest,
    the base stays, and the peer's next relays prove from it. A peer whose heads go on
    growing unproven for ``peer_silence`` is reported, once (``peer-unproven``). A
    checkpoint that does not open with the peer's own key is ignored (and said in the
    server log)."""
    held = repo.peer(s, row.id, relay.sender.url)
    if held is None or held.forked or relay.checkpoint is None:
        return
    try:
        newer = _opened_head(relay.checkpoint, relay.sender, row.id)
        latest, base = (
            None if note is None else _opened_head(note, relay.sender, row.id)
            for note in (held.checkpoint, held.proved or held.checkpoint)
        )
    except (FormatError, SignatureError) as exc:
        log.warning(
            "switch %s: a checkpoint from %s was refused: %s", row.id, relay.sender.url, exc
        )
        return
    at = max(relay.at, held.checkpoint_at)
    # a head signed no later than the one held (delivered late, or played again) is
    # compared, but is no sign that the peer still sends its heads; nor is one that did
    # not grow while the peer's relays say it took newer check-ins (each one an entry of
    # its log): a frozen head would leave every later entry unfixed
    frozen = latest is not None and newer.size <= latest.size and relay.counter > held.head_counter
    fresh = relay.at > held.checkpoint_at and not frozen
    seen = now if fresh else held.head_seen
    counter = relay.counter if fresh else held.head_counter
    if latest is None or base is None:  # the first head of this peer: the base
        repo.keep_checkpoint(
            s, row.id, relay.sender.url, relay.checkpoint, at, seen=seen, counter=counter
        )
        return
    if newer.size < latest.size and relay.at <= held.checkpoint_at:
        return  # an older relay, delivered late: nothing to compare
    try:
        compare_checkpoints(latest, newer)
        proved = _proved(base, newer, relay)
    except IntegrityError as exc:
        repo.keep_checkpoint(s, row.id, relay.sender.url, "", 0, seen=seen, forked=True)
        _report(ctx, s, row, Alert("peer-forked", relay.sender.url), exc.message, now)
        return
    repo.keep_checkpoint(
        s, row.id, relay.sender.url, relay.checkpoint, at, seen=seen, proved=proved, counter=counter
    )
    if not proved:
        _unproven(ctx, s, row, held, base.size, now)


def _proved(base: Checkpoint, newer: Checkpoint, relay: Relay) -> bool:
    """Whether ``newer`` was shown to extend ``base`` (the same head, or a proof from its
    size that verifies); raises :class:`IntegrityError` for a fork or a proof that fails."""
    proof = relay.proof
    if newer.size == base.size or base.size == 0:
        compare_checkpoints(base, newer)
        return True
    if proof is None or proof.old != base.size:
        return False
    return compare_checkpoints(base, newer, proof.hashes) is Consistency.EXTENDED


def _unproven(ctx: Context, s: Session, row: repo.Switch, held: Any, base: int, now: int) -> None:
    """The peer's log grew past the base held here with no proof from it: no alarm while
    it is new (the proof from the base is on its way), reported once after
    ``peer_silence``, the time after which a silent peer is reported too: an honest peer
    that hears this server at all proves from the base at its next ask or two."""
    since = now if held.unproven_since is None else int(held.unproven_since)
    due = not held.unproven_alerted and now - since >= ctx.config.peer_silence
    repo.mark_unproven(s, row.id, held.url, since, alerted=due or held.unproven_alerted)
    if due:
        why = f"no proof that its log extends the head of {base} entries held, since {since}"
        _report(ctx, s, row, Alert("peer-unproven", held.url), why, now)


def _report(ctx: Context, s: Session, row: repo.Switch, alert: Alert, why: str, now: int) -> None:
    """Tell the owner and the custodians ``alert`` about the peer it names, and log it,
    with ``why``."""
    state = repo.state_of(row)
    messages = render(row.id, state, [alert], contacts_of(row), ctx.config.public_url, now)
    sep = ", " if alert.what == "peer-silent" else ": "
    record_aside(ctx, s, row, Audit(alert.what, f"{alert.detail}{sep}{why}"), now, messages)


def _opened_head(note: str, sender: Server, switch: str) -> Checkpoint:
    """A peer's checkpoint of its log for ``switch``, signed by its own server key."""
    origin = parse_checkpoint(parse_note(note)[0]).origin
    if not origin.endswith(f"/afterword/{switch}"):
        raise FormatError(f"the checkpoint is of another log ({origin[:100]})")
    verifier = verifier_key(origin, parse_public_key(sender.key))
    return open_checkpoint(note, [verifier], origin=origin)[0]
