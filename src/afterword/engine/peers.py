"""A switch's other servers, as its roster names them, and what this server tells them.

Two messages. A relay (``relay/1``) of the highest signed check-in this server holds: sent
when a fresh check-in arrives here, when the machine asks the peers before counting a
silence (``AskPeers``), and back to a peer whose relay was older than what this server
holds. A handoff (``handoff/1``) of this server's own shares, each encrypted to the peer,
once the release is due here (``SubmitServerShares``). Both go through the outbox like
mail, so a peer that is down gets them once it is back, and nothing is sent inside a
transaction.

Separate from :mod:`federation` (the requests peers and owners send here) because the
transitions need it too: ``apply.build_transition`` turns those two effects into messages.
"""

from __future__ import annotations

import json

from sqlalchemy.orm import Session

from afterword.crypto.relay import sign_handoff, sign_relay
from afterword.crypto.servers import Server, ServerRoster, load_roster
from afterword.crypto.shares import ShareEnvelope
from afterword.crypto.signing import Document
from afterword.delivery.peer import PEER_SCHEME
from afterword.engine.context import Context
from afterword.engine.mail_text import tag
from afterword.store import repository as repo
from afterword.store.models import ServerEnvelopeRow


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
    doc = sign_relay(ctx.keys, row.id, row.checkin_counter, highest_checkin(row))
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
