"""Reading and writing switches, their audit log and their outbox, inside a transaction.

The rule that makes releases exactly-once: a switch's new state, its audit entries and
the messages it causes are written in the *same* transaction (a transactional outbox).
Either all of it happened or none of it did; a crash in between leaves nothing to undo.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from afterword.crypto.audit import GENESIS, entry_hash
from afterword.store.models import AuditRow, OutboxRow, SwitchRow
from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import Audit, Effect, SwitchState


@dataclass(frozen=True)
class Outgoing:
    """A message to put in the outbox. ``id`` must be stable for the event it reports."""

    id: str
    to: str
    subject: str
    body: str
    data: dict[str, Any] = field(default_factory=dict)


def create_switch(
    session: Session,
    *,
    switch_id: str,
    owner_key: str,
    state: SwitchState,
    effects: Sequence[Effect],
    now: int,
    manifest: str,
    notice: str,
    custodians: str,
    contacts: dict[str, Any],
    dossier_sha256: str,
    dossier_size: int,
) -> SwitchRow:
    row = SwitchRow(
        id=switch_id,
        owner_key=owner_key,
        phase=state.phase.value,
        next_event_at=state.next_event_at,
        held=False,
        state=json.dumps(state_to_json(state)),
        manifest=manifest,
        notice=notice,
        custodians=custodians,
        contacts=json.dumps(contacts),
        dossier_sha256=dossier_sha256,
        dossier_size=dossier_size,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _audit(session, switch_id, effects, now)
    return row


def get_switch(session: Session, switch_id: str, *, lock: bool = False) -> SwitchRow | None:
    """The switch row; ``lock`` holds it until the transaction ends (FOR UPDATE)."""
    query = select(SwitchRow).where(SwitchRow.id == switch_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def state_of(row: SwitchRow) -> SwitchState:
    return state_from_json(json.loads(row.state))


def record(
    session: Session,
    row: SwitchRow,
    state: SwitchState,
    effects: Sequence[Effect],
    now: int,
    messages: Sequence[Outgoing] = (),
) -> None:
    """Store a transition: new state, its audit entries and its messages, together."""
    row.state = json.dumps(state_to_json(state))
    row.phase = state.phase.value
    row.next_event_at = state.next_event_at
    row.updated_at = now
    _audit(session, row.id, effects, now)
    for message in messages:
        enqueue(session, row.id, message, now)


def enqueue(session: Session, switch_id: str, message: Outgoing, now: int) -> None:
    """Add a message to the outbox unless one with the same stable id is already there."""
    if session.get(OutboxRow, message.id) is not None:
        return
    session.add(
        OutboxRow(
            id=message.id,
            switch_id=switch_id,
            to=message.to,
            subject=message.subject,
            body=message.body,
            data=json.dumps(message.data),
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )


def _audit(session: Session, switch_id: str, effects: Sequence[Effect], now: int) -> None:
    entries = [e for e in effects if isinstance(e, Audit)]
    if not entries:
        return
    last = session.scalars(
        select(AuditRow).where(AuditRow.switch_id == switch_id).order_by(AuditRow.seq.desc())
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    for effect in entries:
        seq += 1
        entry = {"switch": switch_id, "seq": seq, "at": now, "kind": effect.kind}
        entry["detail"] = effect.detail
        digest = entry_hash(prev, entry)
        session.add(
            AuditRow(
                switch_id=switch_id,
                seq=seq,
                at=now,
                kind=effect.kind,
                detail=effect.detail,
                prev=prev,
                hash=digest,
            )
        )
        prev = digest
    session.flush()


def last_seq(session: Session, switch_id: str) -> int:
    """How many entries the switch's audit log has (its last ``seq``)."""
    query = select(func.max(AuditRow.seq)).where(AuditRow.switch_id == switch_id)
    return int(session.scalar(query) or 0)


def audit_entries(session: Session, switch_id: str) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(AuditRow).where(AuditRow.switch_id == switch_id).order_by(AuditRow.seq)
    )
    return [
        {
            "switch": r.switch_id,
            "seq": r.seq,
            "at": r.at,
            "kind": r.kind,
            "detail": r.detail,
            "prev": r.prev,
            "hash": r.hash,
        }
        for r in rows
    ]


def claim_due(session: Session, now: int, limit: int) -> list[SwitchRow]:
    """Switches whose next event is due, locked for this transaction.

    On PostgreSQL rows another worker holds are skipped (``SKIP LOCKED``), so any number
    of workers share the work without waiting on each other; on SQLite the transaction
    itself is the only writer.
    """
    query = (
        select(SwitchRow)
        .where(SwitchRow.next_event_at <= now, SwitchRow.held.is_(False))
        .order_by(SwitchRow.next_event_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def count_due(session: Session, now: int) -> int:
    query = select(func.count()).where(SwitchRow.next_event_at <= now)
    return int(session.scalar(query) or 0)


def claim_outbox(session: Session, now: int, limit: int) -> list[OutboxRow]:
    query = (
        select(OutboxRow)
        .where(OutboxRow.next_attempt_at <= now)
        .order_by(OutboxRow.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))
