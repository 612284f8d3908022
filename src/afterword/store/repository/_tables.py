"""The repository's tables as Core handles, and the ways its rows reach them.

Shared by every module of the package, and apart from them because how rows are sent is
one rule for all: PostgreSQL gets many rows by COPY (through a staging table where an
UPDATE or an ON CONFLICT must follow), fewer by executemany, and an owner action that
has nothing to write still sends an INSERT that inserts nothing, so a duress action's
statements are those of the real one (issue 15, item 10).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import Insert, Table, bindparam, false, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.models import (
    AuditRow,
    CanaryTokenRow,
    ClientRow,
    NetworkRow,
    NonceRow,
    OutboxRow,
    OwnerLogRow,
    SwitchRow,
)

# The hot path writes through the tables (Core), not the ORM's unit of work: the scheduler
# stores hundreds of transitions per transaction, and per-object bookkeeping was most of
# its cost.
_SWITCHES = typing_cast(Table, SwitchRow.__table__)


_AUDIT = typing_cast(Table, AuditRow.__table__)


_OUTBOX = typing_cast(Table, OutboxRow.__table__)


_NONCES = typing_cast(Table, NonceRow.__table__)


_CLIENTS = typing_cast(Table, ClientRow.__table__)


_NETWORKS = typing_cast(Table, NetworkRow.__table__)


_OWNER_LOG_TABLE = typing_cast(Table, OwnerLogRow.__table__)


_CANARY_TOKENS = typing_cast(Table, CanaryTokenRow.__table__)


# PostgreSQL, many rows: COPY, into the table itself (the audit log) or into a temporary
# staging table (one per connection, emptied by the statement that reads it and at every
# commit) from which one statement updates the switches or adds the messages an id not
# yet in the outbox. One round trip a table whatever the number of rows, and the cheapest
# form on both sides: the driver formats the rows in C, the server parses COPY's text
# format with no JSON to decode (sending the rows as one JSON parameter cost the workers
# a fifth of their time in json.dumps and PostgreSQL a quarter of its own parsing it).
_STAGES = {
    name: f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DELETE ROWS"
    for name, columns in (
        (
            "afterword_switch_in",
            "id varchar(64), state text, phase varchar(16), next_event_at bigint, "
            "updated_at bigint, audit_seq bigint, audit_head varchar(64), decoy_cut bigint",
        ),
        (
            "afterword_outbox_in",
            'id varchar(200), switch_id varchar(64), "to" text, subject text, body text, '
            "data text, created_at bigint, attempts integer, next_attempt_at bigint",
        ),
    )
}


def _copy(
    session: Session, table: str, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> None:
    """COPY ``rows`` (their ``names`` columns) into ``table``, in the session's transaction."""
    listed = ", ".join(f'"{n}"' for n in names)
    statement = f"COPY {table} ({listed}) FROM STDIN"
    with sql.driver(session.connection(), statement) as driver:
        cursor = driver.cursor()
        with cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])


def _staged_write(session: Session, names: Sequence[str], rows: Sequence[dict[str, Any]],
                  stage: str, statement: str) -> None:  # fmt: skip
    """COPY ``rows`` into the staging table ``stage`` (made if this connection has none),
    then run the ``statement`` that empties it."""
    connection = session.connection()
    with sql.driver(connection, _STAGES[stage]) as driver:
        driver.execute(_STAGES[stage])
    _copy(session, stage, names, rows)
    with sql.driver(connection, statement) as driver:
        driver.execute(statement)


_COPY_FROM = 8
"""Rows from which PostgreSQL gets them by COPY. An owner action writes fewer to each
table, so a duress action (a few rows more than the real one: its ``duress`` entry, the
custodians' notices) is sent the way the real one is, not as a COPY where the real one
sends an INSERT (issue 15, item 10)."""


def _bulk(session: Session, rows: Sequence[dict[str, Any]]) -> bool:
    """Whether to write ``rows`` by COPY (PostgreSQL, many rows: the scheduler's batches)
    rather than as an executemany (SQLite runs in this process: a statement there costs
    no round trip)."""
    return len(rows) >= _COPY_FROM and session.get_bind().dialect.name == "postgresql"


def _nothing(table: Table, names: Sequence[str]) -> Insert:
    """An INSERT into ``table`` of one row's parameters (``names``) that inserts nothing
    (``SELECT ... WHERE false``): what an owner action sends where it has no row to write,
    so that its statements are those of one that has (see ``record_many``'s ``pad``)."""
    values = select(*[bindparam(f"b_{n}", type_=table.c[n].type) for n in names])
    return insert(table).from_select(list(names), values.where(false()))


def _connection(session: Session | Connection) -> Connection:
    """Where a Core statement runs cheapest: a session's connection (its transaction)."""
    return session.connection() if isinstance(session, Session) else session


def _insert_nothing(session: Session | Connection, statement: Insert, names: Sequence[str]) -> None:
    """Run a ``_nothing`` statement, with values of the row it does not insert."""
    params = {f"b_{n}": 0 if n in _NUMERIC else "" for n in names}
    sql.run(_connection(session), statement, params)


_NUMERIC = frozenset({"seq", "at", "created_at", "attempts", "next_attempt_at", "began", "ended"})
