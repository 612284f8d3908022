"""What the worker asks of the switches table: which switches are due (claimed, locked,
``SKIP LOCKED`` on PostgreSQL), which the breaker holds, which are disarmed, and when
there is work next.

Apart from ``switches.py`` because these read many rows at once, for the scheduler only.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Integer, bindparam, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.models import DISARMED
from afterword.store.repository._tables import _OUTBOX, _SWITCHES, _connection
from afterword.store.repository.switches import _FIELDS, _UPDATE_STATE, Switch, _switch

_CLAIM_DUE = (
    select(*_FIELDS)
    .where(
        _SWITCHES.c.next_event_at <= bindparam("now"),
        _SWITCHES.c.held.is_(False),
        _SWITCHES.c.quarantined_at.is_(None),
    )
    .order_by(_SWITCHES.c.next_event_at)
    .limit(bindparam("limit", type_=Integer()))
    .with_for_update(skip_locked=True)
)


_HELD = select(*_FIELDS).where(_SWITCHES.c.held.is_(True)).with_for_update()


def claim_due(session: Session | Connection, now: int, limit: int) -> list[Switch]:
    """Switches whose next event is due, locked for this transaction.

    On PostgreSQL rows another worker holds are skipped (``SKIP LOCKED``), so any number
    of workers share the work without waiting on each other; on SQLite the transaction
    itself is the only writer.
    """
    rows = sql.run(_connection(session), _CLAIM_DUE, {"now": now, "limit": limit})
    return [_switch(row) for row in rows]


def held_switches(session: Session | Connection) -> list[Switch]:
    """The switches the mass-trigger breaker holds, locked for this transaction."""
    return [_switch(row) for row in sql.run(_connection(session), _HELD)]


def set_held(session: Session | Connection, switches: Sequence[Switch], held: bool) -> None:
    """Hold switches for the operator (the breaker), or let them go, in one statement."""
    params = [{"b_id": switch.id, "held": held} for switch in switches]
    sql.run_many(_connection(session), _UPDATE_STATE, params)
    for switch in switches:
        switch.held = held


_DISARMED_IDS = select(_SWITCHES.c.id).where(text(DISARMED))  # (its own partial index)


def disarmed_ids(session: Session | Connection) -> list[str]:
    """The switches that are disarmed (their dossiers must be gone from disk)."""
    return sql.run(_connection(session), _DISARMED_IDS).scalars()


_NEXT_SWITCH = select(func.min(_SWITCHES.c.next_event_at)).where(
    _SWITCHES.c.held.is_(False), _SWITCHES.c.quarantined_at.is_(None)
)


_NEXT_MESSAGE = select(func.min(_OUTBOX.c.next_attempt_at))


def next_due(
    connection: Session | Connection, switches: bool = True, messages: bool = True
) -> int | None:
    """The earliest instant the worker has work: a switch's next event (held switches
    wait for the operator) or a message's next attempt (either alone if the other is
    False). Both read the start of an index."""
    queries = [q for q, wanted in ((_NEXT_SWITCH, switches), (_NEXT_MESSAGE, messages)) if wanted]
    times = [sql.run(_connection(connection), q).scalar() for q in queries]
    return min((t for t in times if t is not None), default=None)


def count_due(session: Session, now: int) -> int:
    query = select(func.count()).where(_SWITCHES.c.next_event_at <= now)
    return int(session.scalar(query) or 0)
