"""A decided change, stored: the new state, its audit entries and its messages together.

The transactional outbox itself (see the package): ``record_many`` writes every part of
many switches' transitions in a few statements, in the caller's transaction, so either
all of a transition happened or none of it did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from afterword.store import sql
from afterword.store.repository._tables import _bulk, _staged_write
from afterword.store.repository.audit import _audit_rows, _insert_audit
from afterword.store.repository.outbox import Outgoing, _enqueue_many
from afterword.store.repository.switches import _UPDATE_STATE, Switch
from afterword.switch.codec import state_to_json
from afterword.switch.machine import Effect, SwitchState

_STATE_COLUMNS = ("state", "phase", "next_event_at", "updated_at", "audit_seq", "audit_head",
                  "decoy_cut")  # fmt: skip


_COPY_UPDATE_STATE = f"""
WITH moved AS (DELETE FROM afterword_switch_in RETURNING *)
UPDATE switches SET {", ".join(f"{n} = moved.{n}" for n in _STATE_COLUMNS)}
FROM moved WHERE switches.id = moved.id
"""


@dataclass(frozen=True)
class Transition:
    """One switch's decided change: its new state, the effects (audit entries among
    them) and the messages they cause."""

    row: Switch
    state: SwitchState
    effects: Sequence[Effect]
    messages: Sequence[Outgoing] = ()


def record(
    session: Session,
    row: Switch,
    state: SwitchState,
    effects: Sequence[Effect],
    now: int,
    messages: Sequence[Outgoing] = (),
) -> None:
    """Store a transition: new state, its audit entries and its messages, together."""
    record_many(session, [Transition(row, state, effects, messages)], now)


def record_many(
    session: Session, transitions: Sequence[Transition], now: int, *, pad: bool = False
) -> None:
    """Store many switches' transitions in the caller's transaction, in a few statements
    whatever their number: one UPDATE of the switches (executemany by primary key, with
    their audit chains' new tails), the audit entries chained on the tails the locked rows
    hold, inserted together, and one insert of the messages that skips ids already in
    the outbox.

    Each switch may appear once, and its row must be locked (it holds the chain's tail).
    Everything is computed before the first write, so the only errors after it are the
    database's own (a stale tail would break the log's unique (switch, seq)). The
    records are set as the database now has them, so a second transition of the same
    switch in this transaction chains on the first. ``decoy_cut`` is written with the
    state, as the record holds it.

    ``pad``: an owner action's, whose statements must not depend on what it writes (a
    duress action writes other rows than the real one): the audit log and the outbox get
    one INSERT each even with nothing to add (one that inserts nothing).
    """
    if not transitions:
        return
    entries, tails = _audit_rows(
        [(t.row.id, t.row.audit_seq, t.row.audit_head, t.effects) for t in transitions], now
    )
    updates, texts = [], []
    for t in transitions:
        seq, head = tails[t.row.id]
        texts.append(json.dumps(state_to_json(t.state)))
        values = {
            "state": texts[-1],
            "phase": t.state.phase.value,
            "next_event_at": t.state.next_event_at,
            "updated_at": now,
            "audit_seq": seq,
            "audit_head": head,
            "decoy_cut": t.row.decoy_cut,
        }
        updates.append({"id": t.row.id, **values})
    session.flush()  # the session's own pending rows (shares, a release...) go first
    if _bulk(session, updates):
        names = ("id", *_STATE_COLUMNS)
        _staged_write(session, names, updates, "afterword_switch_in", _COPY_UPDATE_STATE)
    else:
        keyed = [{"b_id": u["id"], **{k: u[k] for k in _STATE_COLUMNS}} for u in updates]
        sql.run_many(session.connection(), _UPDATE_STATE, keyed)
    for t, encoded in zip(transitions, texts, strict=True):
        row, new = t.row, t.state
        row.state, row.phase, row.next_event_at = encoded, new.phase.value, new.next_event_at
        row.updated_at, (row.audit_seq, row.audit_head) = now, tails[row.id]
    _insert_audit(session, entries, pad=pad)
    messages = [(t.row.id, m) for t in transitions for m in t.messages]
    _enqueue_many(session, messages, now, pad=pad)
