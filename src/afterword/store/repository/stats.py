"""What ``/metrics`` reads of the database: a few aggregate queries, made at scrape time.

Counts and ages only, never a switch id, an address or anything else of one person: the
operator's monitoring sees how the server does, not whom it serves. Each query is one
statement, most on an index (the due switches on ``next_event_at``, the outbox's depth on
``next_attempt_at``); the count by state reads the switches table once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Integer, Table, bindparam, case, distinct, func, select
from sqlalchemy.engine import Connection

from afterword.store import sql
from afterword.store.models import PeerRow
from afterword.store.repository._tables import _OUTBOX, _SWITCHES

_PEERS = typing_cast(Table, PeerRow.__table__)

_BY_PHASE = select(
    _SWITCHES.c.phase,
    func.count(),
    func.sum(case((_SWITCHES.c.held.is_(True), 1), else_=0)),
    func.count(_SWITCHES.c.quarantined_at),
).group_by(_SWITCHES.c.phase)

_DUE: Any = select(func.count(), func.min(_SWITCHES.c.next_event_at)).where(
    _SWITCHES.c.next_event_at <= bindparam("now", type_=Integer()),
    _SWITCHES.c.held.is_(False),
    _SWITCHES.c.quarantined_at.is_(None),
)

_OUTBOX_DEPTH: Any = select(func.count(), func.min(_OUTBOX.c.created_at)).where(
    _OUTBOX.c.next_attempt_at.is_not(None)
)

# a peer of a switch still running that has not been heard from since ``before``
_UNREACHABLE = (
    select(func.count(distinct(_PEERS.c.url)))
    .select_from(_PEERS.join(_SWITCHES, _SWITCHES.c.id == _PEERS.c.switch_id))
    .where(
        func.coalesce(_PEERS.c.last_seen, _PEERS.c.since) < bindparam("before", type_=Integer()),
        _SWITCHES.c.phase.not_in(("released", "disarmed")),
    )
)


@dataclass
class Stats:
    """The server's numbers at one instant (see the module docstring)."""

    phases: dict[str, int] = field(default_factory=dict)  # switches by state
    held: int = 0  # held by the mass-trigger breaker for the operator
    quarantined: int = 0
    due: int = 0  # due now and not yet handled (neither held nor quarantined)
    oldest_due: int | None = None  # when the longest-waiting of them fell due
    outbox: int = 0  # messages not yet delivered nor given up
    oldest_message: int | None = None  # when the oldest of them was written
    peers_unreachable: int = 0  # other servers not heard from since ``silent_since``


def stats(c: Connection, now: int, silent_since: int) -> Stats:
    """The numbers ``/metrics`` shows, in four statements on ``c``."""
    out = Stats()
    for phase, count, held, quarantined in sql.run(c, _BY_PHASE):
        out.phases[str(phase)] = int(count)
        out.held += int(held or 0)
        out.quarantined += int(quarantined or 0)
    out.due, out.oldest_due = sql.run(c, _DUE, {"now": now}).one()
    out.outbox, out.oldest_message = sql.run(c, _OUTBOX_DEPTH).one()
    out.peers_unreachable = int(sql.run(c, _UNREACHABLE, {"before": silent_since}).scalar() or 0)
    return out
