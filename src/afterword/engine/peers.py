"""A switch's other servers, as its roster names them, and what this server tells them.

Two messages. A relay (``relay/1``) of the highest signed check-in this server holds: sent
when a fresh check-in arrives here, when the machine asks the peers before counting a
silence (``AskPeers``), and back to a peer whose relay was older than what this server
holds. A handoff (``handoff/1``) of this server's own shares, each encrypted to the peer,
once the release is due here (``SubmitServerShares``). Both go through the outbox like
mail, so a peer that is down gets them once it is back, and nothing is sent inside a
transaction.

Relays also say how this server is: the switch's state here. Every ``Config.peer_every``
each switch's peers are sent one (:func:`ask_peers`), whatever else happened, and a peer
not heard from for ``Config.peer_silence`` (2 days) is reported, once, to the owner and
the custodians: a server of their switch may be gone.

Separate from :mod:`federation` (the requests peers and owners send here) because the
transitions need it too: ``apply.build_transition`` turns those two effects into messages.
"""

from __future__ import annotations

import json
import logging

from sqlalchemy.orm import Session

from afterword.crypto.relay import sign_handoff, sign_relay
from afterword.crypto.servers import Server, ServerRoster, load_roster
from afterword.crypto.shares import ShareEnvelope
from afterword.crypto.signing import Document
from afterword.delivery.peer import PEER_SCHEME
from afterword.engine.contacts import contacts_of
from afterword.engine.context import Context, load_switch
from afterword.engine.duress import record_aside
from afterword.engine.mail_text import render, tag
from afterword.store import repository as repo
from afterword.store.models import ServerEnvelopeRow
from afterword.switch.machine import Alert, Audit

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
    ctx: Context, row: repo.Switch, now: int, to: tuple[Server, ...] | None = None
) -> list[repo.Outgoing]:
    """A relay of the highest check-in this server holds, for each peer in ``to`` (every
    peer by default). The id names the switch, the peer, the counter and the instant, so
    a retry is the same message and a later ask is a new one."""
    peers = peers_of(ctx, row) if to is None else to
    if not peers:
        return []
    state = repo.state_of(row).phase.value  # the truth's: peers see the truth
    doc = sign_relay(ctx.keys, row.id, row.checkin_counter, highest_checkin(row), state)
    body = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return [
        repo.Outgoing(
            id=f"relay-{row.id}-{tag(peer.url)}-{row.checkin_counter}-{now}",
            to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/relays",
            subject=f"afterword relay: {row.id}",
            body=body,
        )
        for peer in peers
    ]


def handoff_messages(ctx: Context, s: Session, row: repo.Switch, now: int) -> list[repo.Outgoing]:
    """This server's own shares of the switch, for each peer, each share encrypted to that
    peer's recipient (from the roster): what a peer that is releasing too needs to reach
    K. One message per peer, whose id names the switch and the peer alone: there is one
    handoff per release."""
    peers = peers_of(ctx, row)
    rows = s.query(ServerEnvelopeRow).filter_by(switch_id=row.id).all() if peers else []
    if not rows:
        return []
    held = [ShareEnvelope.from_json(json.loads(ctx.keys.decrypt(r.envelope))) for r in rows]
    messages = []
    for peer in peers:
        doc = sign_handoff(ctx.keys, row.id, [e.encrypt(peer.recipient) for e in held])
        messages.append(
            repo.Outgoing(
                id=f"handoff-{row.id}-{tag(peer.url)}",
                to=f"{PEER_SCHEME}{peer.url}/switches/{row.id}/handoffs",
                subject=f"afterword handoff: {row.id}",
                body=json.dumps(doc, sort_keys=True, separators=(",", ":")),
            )
        )
    return messages


ASKED = ("armed", "overdue", "triggered", "releasing", "paused", "disarming")
"""The states in which a switch's peers are asked how they are (not once it is over)."""


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
    for message in relay_messages(ctx, row, now):
        repo.enqueue(s, row.id, message, now)
    repo.asked(s, row.id, now)
    for peer in repo.peers(s, row.id):
        heard = peer.last_seen if peer.last_seen is not None else peer.since
        if peer.alerted or heard > now - ctx.config.peer_silence:
            continue
        alert = Alert("peer-silent", peer.url)
        state = repo.state_of(row)
        messages = render(row.id, state, [alert], contacts_of(row), ctx.config.public_url, now)
        record_aside(
            ctx, s, row, Audit("peer-silent", f"{peer.url}, silent since {heard}"), now, messages
        )
        repo.mark_alerted(s, row.id, peer.url)
