"""The outbox: messages put in it (``Outgoing``, a stable id each: exactly once), leased
by the dispatcher, and settled (delivered, given up, or retried later).

Apart from the transitions that write into it because the dispatcher reads and settles it
on its own, after those transactions have committed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.repository._tables import (
    _OUTBOX,
    _bulk,
    _connection,
    _insert_nothing,
    _nothing,
    _staged_write,
)

_OUTBOX_COLUMNS = ("id", "switch_id", "to", "subject", "body", "data", "created_at", "attempts",
                   "next_attempt_at")  # fmt: skip


# the outbox: an id already there is skipped (exactly-once, stable ids)
_INSERT_OUTBOX = {
    "postgresql": postgresql.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["id"]),
    "sqlite": sqlite.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["id"]),
}


_OUTBOX_LIST = ", ".join(f'"{n}"' for n in _OUTBOX_COLUMNS)


_COPY_INSERT_OUTBOX = f"""
WITH moved AS (DELETE FROM afterword_outbox_in RETURNING *)
INSERT INTO outbox ({_OUTBOX_LIST}) SELECT {_OUTBOX_LIST} FROM moved
ON CONFLICT (id) DO NOTHING
"""


@dataclass(frozen=True)
class Outgoing:
    """A message to put in the outbox. ``id`` must be stable for the event it reports.

    What the engine writes (in the transition's transaction); the dispatcher later reads
    the row back as a :class:`afterword.delivery.Message`, the senders' type, whose
    ``text`` is this ``body``. Two types because they sit on either side of the outbox:
    the store may not import delivery, nor delivery the store."""

    id: str
    to: str
    subject: str
    body: str = field(repr=False)  # as Message's text: never in a log line or a traceback
    data: dict[str, Any] = field(default_factory=dict, repr=False)


def enqueue(session: Session, switch_id: str, message: Outgoing, now: int) -> None:
    """Add a message to the outbox unless one with the same stable id is already there."""
    _enqueue_many(session, [(switch_id, message)], now)


def enqueue_all(session: Session, switch_id: str, messages: Sequence[Outgoing], now: int) -> None:
    """:func:`enqueue` each of ``messages`` (a relay to every peer, ...), in one statement."""
    _enqueue_many(session, [(switch_id, m) for m in messages], now)


def _enqueue_many(
    session: Session, messages: Sequence[tuple[str, Outgoing]], now: int, *, pad: bool = False
) -> None:
    """Insert messages in one statement; an id already in the outbox (or earlier in
    ``messages``) is skipped, so the first message written for an event is the one sent.
    ``pad``: one statement even without a message (see ``record_many``)."""
    rows: dict[str, dict[str, Any]] = {}
    for switch_id, message in messages:
        if message.id in rows:
            continue
        rows[message.id] = {
            "id": message.id,
            "switch_id": switch_id,
            "to": message.to,
            "subject": message.subject,
            "body": message.body,
            "data": json.dumps(message.data),
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
        }
    if not rows:
        if pad:
            _insert_nothing(session, _NO_OUTBOX, _OUTBOX_COLUMNS)
        return
    values = list(rows.values())
    if _bulk(session, values):
        names = _OUTBOX_COLUMNS
        _staged_write(session, names, values, "afterword_outbox_in", _COPY_INSERT_OUTBOX)
    else:
        connection = session.connection()
        sql.run_many(connection, _INSERT_OUTBOX[connection.dialect.name], values)


_NO_OUTBOX = _nothing(_OUTBOX, _OUTBOX_COLUMNS)


PER_SWITCH = 4
"""The most messages of one switch a dispatcher leases in one pass. A switch that wrote
thousands (a hostile owner checking in as fast as the server answers, each check-in
relayed to 15 peers that never answer) fills its own turns, never a whole pass: every
other switch's due messages are leased in the same pass as they would be without it."""


# The dispatcher: lease due messages in two statements whatever their number (the rows'
# fields as tuples, no objects), and settle each message's attempt in one UPDATE.
_TURNS = (
    select(
        _OUTBOX.c.id,
        func.row_number()
        .over(
            partition_by=_OUTBOX.c.switch_id,
            order_by=(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id),
        )
        .label("turn"),
    )
    .where(_OUTBOX.c.next_attempt_at <= bindparam("now"))
    .subquery()
)
_DUE_MESSAGES = (
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.switch_id,
        _OUTBOX.c.to,
        _OUTBOX.c.subject,
        _OUTBOX.c.body,
        _OUTBOX.c.data,
    )
    # each switch's first PER_SWITCH due messages only (the window is in a subquery:
    # PostgreSQL locks no row of a query with a window function)
    .where(_OUTBOX.c.id.in_(select(_TURNS.c.id).where(_TURNS.c.turn <= PER_SWITCH)))
    .where(_OUTBOX.c.next_attempt_at <= bindparam("now"))
    .order_by(_OUTBOX.c.next_attempt_at)
    .limit(bindparam("limit", type_=Integer()))
    .with_for_update(skip_locked=True)
)


_LEASE_MESSAGES = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(attempts=_OUTBOX.c.attempts + 1, next_attempt_at=bindparam("until"))
)


_SETTLE = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id"))


_DELIVERED = _SETTLE.values(delivered_at=bindparam("b_at"), next_attempt_at=None, last_error=None)


_GIVEN_UP = _SETTLE.values(next_attempt_at=None, last_error=bindparam("b_error"))


_RETRIES: dict[tuple[int, ...], Any] = {}


def lease_outbox(session: Session | Connection, now: int, limit: int, until: int) -> list[Any]:
    """Due messages (``id, switch_id, to, subject, body, data``), oldest due first, at most
    :data:`PER_SWITCH` of any one switch, locked and leased until ``until``: their attempt
    counted, and left alone by other dispatchers until then."""
    connection = _connection(session)
    rows = sql.run(connection, _DUE_MESSAGES, {"now": now, "limit": limit})
    if rows:
        params = {"ids": [r.id for r in rows], "until": until}
        sql.run(connection, _LEASE_MESSAGES, params)
    return rows


def _settled(rows: sql.Rows) -> None:
    if rows.rowcount != 1:
        raise AssertionError("a leased message is no longer in the outbox")


def outbox_delivered(session: Session | Connection, message_id: str, at: int) -> None:
    _settled(sql.run(_connection(session), _DELIVERED, {"b_id": message_id, "b_at": at}))


def outbox_given_up(session: Session | Connection, message_id: str, error: str) -> None:
    _settled(sql.run(_connection(session), _GIVEN_UP, {"b_id": message_id, "b_error": error}))


def outbox_retry(
    session: Session | Connection, message_id: str, now: int, error: str, delays: Sequence[int]
) -> None:
    """Try again at ``now`` plus ``delays[attempts]`` (the last delay for any attempt
    past the end), by the attempts the row holds as it is updated."""
    statement = _RETRIES.get(tuple(delays))
    if statement is None:
        whens = {attempts: delay for attempts, delay in enumerate(delays[:-1])}
        delay = case(whens, value=_OUTBOX.c.attempts, else_=delays[-1])
        statement = _SETTLE.values(
            next_attempt_at=bindparam("b_now") + delay, last_error=bindparam("b_error")
        )
        _RETRIES[tuple(delays)] = statement
    params = {"b_id": message_id, "b_now": now, "b_error": error}
    _settled(sql.run(_connection(session), statement, params))


_SOONER = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("b_id"),
        _OUTBOX.c.next_attempt_at > bindparam("b_now"),  # waiting out a backoff
        _OUTBOX.c.delivered_at.is_(None),
    )
    .values(next_attempt_at=bindparam("b_now"))
)


def outbox_retry_now(session: Session | Connection, message_id: str, now: int) -> None:
    """A message waiting out its backoff is due now (its receiver showed it is ready); a
    delivered, given-up, due or absent one is left as it is."""
    sql.run(_connection(session), _SOONER, {"b_id": message_id, "b_now": now})


def withdraw_handoffs(session: Session, switch_id: str) -> None:
    """This server's handoffs of ``switch_id`` not delivered yet are withdrawn: a release
    it began was stopped, and a peer must not take its share later, for another release
    (a new release writes them again, under the same ids)."""
    session.execute(
        delete(_OUTBOX).where(
            _OUTBOX.c.switch_id == switch_id,
            _OUTBOX.c.id.like(f"handoff-{switch_id}-%"),
            _OUTBOX.c.delivered_at.is_(None),
        )
    )
