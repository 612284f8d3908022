"""The audit log: entries chained on each switch's tail (``crypto/audit.py``'s hash),
inserted, and read back in order.

Its own module because the chain is a rule of its own: the rows are computed from the
tail the locked switch row holds before the first write (see ``transitions.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.crypto.audit import entry_hash
from afterword.store import sql
from afterword.store.repository._tables import (
    _AUDIT,
    _bulk,
    _connection,
    _copy,
    _insert_nothing,
    _nothing,
)
from afterword.switch.machine import Audit, Effect

_AUDIT_COLUMNS = ("switch_id", "seq", "at", "kind", "detail", "prev", "hash")


_INSERT_AUDIT = insert(_AUDIT)


def _audit_rows(
    changes: Sequence[tuple[str, int, str, Sequence[Effect]]], now: int
) -> tuple[list[dict[str, Any]], dict[str, tuple[int, str]]]:
    """Each switch's audit entries chained on its log's tail (``seq``, ``hash``, as its
    row holds them): the rows to insert, and each switch's tail after them."""
    rows = []
    tails: dict[str, tuple[int, str]] = {}
    for switch_id, seq, prev, effects in changes:
        for effect in (e for e in effects if isinstance(e, Audit)):
            seq += 1
            entry = {"switch": switch_id, "seq": seq, "at": now, "kind": effect.kind}
            entry["detail"] = effect.detail
            digest = entry_hash(prev, entry)
            rows.append(
                {
                    "switch_id": switch_id,
                    "seq": seq,
                    "at": now,
                    "kind": effect.kind,
                    "detail": effect.detail,
                    "prev": prev,
                    "hash": digest,
                }
            )
            prev = digest
        tails[switch_id] = (seq, prev)
    return rows, tails


_NO_AUDIT = _nothing(_AUDIT, _AUDIT_COLUMNS)


def _insert_audit(session: Session, rows: Sequence[dict[str, Any]], *, pad: bool = False) -> None:
    """All the audit rows in one statement (``pad``: even with none, see ``record_many``)."""
    if not rows:
        if pad:
            _insert_nothing(session, _NO_AUDIT, _AUDIT_COLUMNS)
        return
    if _bulk(session, rows):
        _copy(session, "audit", _AUDIT_COLUMNS, rows)
    else:
        sql.run_many(session.connection(), _INSERT_AUDIT, rows)


_LAST_SEQ = select(func.max(_AUDIT.c.seq)).where(_AUDIT.c.switch_id == bindparam("switch_id"))


_AUDIT_ENTRIES = (
    select(*[_AUDIT.c[name] for name in _AUDIT_COLUMNS])
    .where(_AUDIT.c.switch_id == bindparam("switch_id"), _AUDIT.c.seq <= bindparam("upto"))
    .order_by(_AUDIT.c.seq)
)


_ALL = 2**31 - 1  # a seq past any log's end (the column is a 32-bit integer)


def last_seq(session: Session, switch_id: str) -> int:
    """How many entries the switch's audit log has (its last ``seq``)."""
    return int(sql.run(_connection(session), _LAST_SEQ, {"switch_id": switch_id}).scalar() or 0)


def audit_entries(
    session: Session | Connection, switch_id: str, upto: int | None = None
) -> list[dict[str, Any]]:
    """The switch's audit log, in order, as plain entries (read as rows, not objects:
    a status or an export reads the whole log); ``upto``: its first entries only, to that
    seq (in the same statement as the whole log's)."""
    params = {"switch_id": switch_id, "upto": _ALL if upto is None else upto}
    return [
        {"switch": sid, "seq": seq, "at": at, "kind": kind, "detail": detail, "prev": prev,
         "hash": digest}
        for sid, seq, at, kind, detail, prev, digest in sql.run(
            _connection(session), _AUDIT_ENTRIES, params
        )
    ]  # fmt: skip
