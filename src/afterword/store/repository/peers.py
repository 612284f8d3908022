"""The other servers of switches watched by several (issue 17): when each was last heard
from, in which state it said the switch was, and when it was last asked how it is.

Apart from the switch's row because a switch has one row per peer, written by relays
and handoffs as they are taken, and read by the heartbeat and the owner's status.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store.models import PeerRow, SwitchRow


def add_peers(session: Session, switch_id: str, urls: Sequence[str], now: int) -> None:
    """A new switch's peers, none heard from yet, to be asked at the scheduler's next
    pass (so the owner's status soon says how each is)."""
    for url in urls:
        session.add(PeerRow(switch_id=switch_id, url=url, since=now, last_asked=0))


_PEERS = select(
    PeerRow.url,
    PeerRow.since,
    PeerRow.last_seen,
    PeerRow.state,
    PeerRow.alerted,
    PeerRow.checkpoint,
    PeerRow.checkpoint_at,
    PeerRow.forked,
    PeerRow.proved,
    PeerRow.holds,
    PeerRow.unproven_since,
    PeerRow.unproven_alerted,
    PeerRow.heard_at,
    PeerRow.shown_seen,
    PeerRow.head_counter,
    PeerRow.head_seen,
).order_by(PeerRow.url)


def peers(session: Session | Connection, switch_id: str) -> list[Any]:
    """The switch's peers, by URL: rows of ``url``, ``since``, ``last_seen``, ``state``,
    ``alerted``, ``checkpoint``, ``checkpoint_at``, ``forked``, ``proved``, ``holds``,
    ``unproven_since``, ``unproven_alerted``, ``heard_at``, ``head_seen``, ``shown_seen``
    and ``head_counter`` (a read any transaction or connection can make)."""
    return list(session.execute(_PEERS.where(PeerRow.switch_id == switch_id)).all())


def peer(session: Session | Connection, switch_id: str, url: str) -> Any | None:
    """The switch's peer at ``url``, as :func:`peers` reads each (None: not a peer)."""
    where = (PeerRow.switch_id == switch_id) & (PeerRow.url == url)
    return session.execute(_PEERS.where(where)).first()


def see_peer(
    session: Session,
    switch_id: str,
    url: str,
    now: int,
    at: int,
    state: str | None,
    holds: int | None = None,
) -> None:
    """A signed message from a peer, signed at ``at`` by its clock, was taken: it says the
    switch is ``state`` there (None: it did not say), and that it holds this server's log
    of size ``holds`` (None: it did not say). It is a sign of the peer's life only if no
    message signed later, or at the same instant, was taken before: one played again
    moves neither ``last_seen`` nor anything it says."""
    fresh = PeerRow.heard_at < at
    values: dict[str, object] = {
        "last_seen": case((fresh, now), else_=PeerRow.last_seen),
        "alerted": case((fresh, False), else_=PeerRow.alerted),
        "heard_at": case((fresh, at), else_=PeerRow.heard_at),
    }
    if state is not None:
        values["state"] = case((fresh, state), else_=PeerRow.state)
    if holds is not None:
        values["holds"] = case((fresh, holds), else_=PeerRow.holds)
    session.execute(
        update(PeerRow).where(PeerRow.switch_id == switch_id, PeerRow.url == url).values(**values)
    )


def due_to_ask(session: Session, before: int, phases: Sequence[str], limit: int) -> list[str]:
    """Switches (in one of ``phases``) with a peer last asked before ``before``."""
    query = (
        select(PeerRow.switch_id)
        .join(SwitchRow, SwitchRow.id == PeerRow.switch_id)
        .where(PeerRow.last_asked < before, SwitchRow.phase.in_(phases))
        .distinct()
        .limit(limit)
    )
    return list(session.scalars(query))


def asked(session: Session, switch_id: str, now: int) -> None:
    session.execute(update(PeerRow).where(PeerRow.switch_id == switch_id).values(last_asked=now))


def show_seen(session: Session, switch_id: str, now: int, heard_since: int) -> None:
    """The owner's view of the switch's peers, at this server's hourly ask: each heard
    from since ``heard_since`` is shown as seen ``now``."""
    session.execute(
        update(PeerRow)
        .where(PeerRow.switch_id == switch_id, PeerRow.last_seen > heard_since)
        .values(shown_seen=now)
    )


def mark_alerted(session: Session, switch_id: str, url: str) -> None:
    session.execute(
        update(PeerRow)
        .where(PeerRow.switch_id == switch_id, PeerRow.url == url)
        .values(alerted=True)
    )


def keep_checkpoint(
    session: Session,
    switch_id: str,
    url: str,
    note: str,
    at: int,
    *,
    seen: int | None,
    counter: int = 0,
    forked: bool = False,
    proved: bool = True,
) -> None:
    """The peer's newest signed checkpoint (``note``, signed at ``at`` by its clock, taken
    at ``seen`` by this server's, when the peer's relays said it held check-in
    ``counter``), or that it contradicted the one held (``forked``: the
    one held is kept, as evidence). ``proved``: it is also the new base of proofs (a proof
    showed it extends the base, or it is the first), and nothing unproven is pending;
    otherwise the base stays."""
    values: dict[str, object] = (
        {"forked": True}
        if forked
        else {"checkpoint": note, "checkpoint_at": at, "head_seen": seen, "head_counter": counter}
    )
    if proved and not forked:
        values |= {"proved": note, "unproven_since": None, "unproven_alerted": False}
    session.execute(
        update(PeerRow).where(PeerRow.switch_id == switch_id, PeerRow.url == url).values(**values)
    )


def mark_unproven(
    session: Session, switch_id: str, url: str, since: int, *, alerted: bool = False
) -> None:
    """The peer's heads have grown past the base held here, with no proof that matched it,
    since ``since``; ``alerted``: that has been reported."""
    values = {"unproven_since": since, "unproven_alerted": alerted}
    session.execute(
        update(PeerRow).where(PeerRow.switch_id == switch_id, PeerRow.url == url).values(**values)
    )
