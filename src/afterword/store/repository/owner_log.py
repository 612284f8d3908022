"""The owner's own log, shown while a decoy stands in for the truth, and ``DECOY_ENDED``.

Its own module because it is the decoy's memory: what it holds, and when it is cleared,
decides what an owner under duress is shown, and its statements must not tell a duress
action from a real one (``pad``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Boolean, bindparam, delete, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.repository._tables import (
    _OWNER_LOG_TABLE,
    _connection,
    _insert_nothing,
    _nothing,
)

_OWNER_LOG = (
    select(
        _OWNER_LOG_TABLE.c.at,
        _OWNER_LOG_TABLE.c.kind,
        _OWNER_LOG_TABLE.c.detail,
        _OWNER_LOG_TABLE.c.began,
        _OWNER_LOG_TABLE.c.ended,
    )
    .where(_OWNER_LOG_TABLE.c.switch_id == bindparam("switch_id"))
    .order_by(_OWNER_LOG_TABLE.c.id)
)


def owner_log(session: Session | Connection, switch_id: str) -> list[Any]:
    """While a decoy stands: the owner's own log entries (``at``, ``kind``, ``detail``),
    the earlier decoys' each closed by a ``DECOY_ENDED`` row (its ``began``, ``ended``)."""
    return sql.run(_connection(session), _OWNER_LOG, {"switch_id": switch_id})


_OWNER_LOG_COLUMNS = ("switch_id", "at", "kind", "detail", "began", "ended")


DECOY_ENDED = "decoy-ended"
"""The owner's log row that closes a decoy a real action ended: its typed ``began`` and
``ended`` are the real log's seqs where the decoy began (its cut) and where it ended; the
rows before it are what that decoy showed. Clearing the owner's log keeps those (a later
decoy shows them again, as the real world's log would hold what the owner saw then)."""


_ENDED = (
    select(func.coalesce(func.max(_OWNER_LOG_TABLE.c.id), 0))
    .where(
        _OWNER_LOG_TABLE.c.switch_id == bindparam("b_switch_id"),
        _OWNER_LOG_TABLE.c.kind == DECOY_ENDED,
    )
    .scalar_subquery()
)


class DecoyEnded(NamedTuple):
    """A ``DECOY_ENDED`` row: when, and the real log's seqs where the decoy began and ended."""

    at: int
    began: int
    ended: int


_CLEAR_OWNER_LOG = delete(_OWNER_LOG_TABLE).where(
    _OWNER_LOG_TABLE.c.switch_id == bindparam("b_switch_id"),
    bindparam("b_clear", type_=Boolean()),
    _OWNER_LOG_TABLE.c.id > _ENDED,
)


_INSERT_OWNER_LOG = insert(_OWNER_LOG_TABLE)


_NO_OWNER_LOG = _nothing(_OWNER_LOG_TABLE, _OWNER_LOG_COLUMNS)


def write_owner_log(
    session: Session | Connection,
    switch_id: str,
    entries: Sequence[tuple[int, str, str]],
    *,
    clear: bool,
    pad: bool = False,
    ended: DecoyEnded | None = None,
) -> None:
    """Add ``entries`` (``at``, ``kind``, ``detail``) to the owner's log, after deleting
    what it held since the last decoy a real action ended if ``clear``. ``pad``: an owner
    action's, so the same two statements whatever it has to do (the DELETE is told by a
    parameter whether to delete, and the INSERT may insert nothing): a duress action's
    work on this table and a real one's look alike (issue 15, item 10). ``ended``: a real
    action ended a decoy; a ``DECOY_ENDED`` row closing what it showed comes first."""
    connection = _connection(session)
    if clear or pad:
        sql.run(connection, _CLEAR_OWNER_LOG, {"b_switch_id": switch_id, "b_clear": clear})
    closing = [] if ended is None else [(ended.at, DECOY_ENDED, "", ended.began, ended.ended)]
    rows = [
        dict(zip(_OWNER_LOG_COLUMNS, (switch_id, *entry), strict=True))
        for entry in [*closing, *((*e, None, None) for e in entries)]
    ]
    if rows:
        sql.run_many(connection, _INSERT_OWNER_LOG, rows)
    elif pad:
        _insert_nothing(connection, _NO_OWNER_LOG, _OWNER_LOG_COLUMNS)
