"""A switch's row: created, read as a plain ``Switch`` record, updated, its state parsed.

Apart from the transitions (``transitions.py``) because most reads of a switch change
nothing, and a ``Switch`` is what every other module of the package and the engine hold.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.crypto.audit import GENESIS
from afterword.store import sql
from afterword.store.models import SwitchRow
from afterword.store.repository._tables import _CLIENTS, _SWITCHES, _connection
from afterword.store.repository.audit import _audit_rows, _insert_audit
from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import Effect, SwitchState

# switch states: by primary key; SET takes the columns each parameter set names
_UPDATE_STATE = update(_SWITCHES).where(_SWITCHES.c.id == bindparam("b_id"))


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
    **credentials: str | None,
) -> None:
    """Insert a new switch with its first audit entries. ``credentials``: the password
    hashes, TOTP secret, duress key and drill's switch, when it has them. Flushed: a
    second switch of the same id fails here (``IntegrityError``)."""
    entries, tails = _audit_rows([(switch_id, 0, GENESIS, effects)], now)
    seq, head = tails[switch_id]
    row = SwitchRow(
        id=switch_id,
        owner_key=owner_key,
        phase=state.phase.value,
        next_event_at=state.next_event_at,
        held=False,
        quarantined_at=None,
        state=json.dumps(state_to_json(state)),
        manifest=manifest,
        notice=notice,
        custodians=custodians,
        contacts=json.dumps(contacts),
        dossier_sha256=dossier_sha256,
        dossier_size=dossier_size,
        created_at=now,
        updated_at=now,
        audit_seq=seq,
        audit_head=head,
        **credentials,
    )
    session.add(row)
    session.flush()
    _insert_audit(session, entries)


# A switch's columns but its two signed documents (the manifest and the notice, a few KB
# that only arming and a release read), read as a plain record: an ORM object cost four
# times the read itself to build, and a session's bookkeeping besides.
_FIELDS = [c for c in _SWITCHES.c if c.name not in ("manifest", "notice")]


_KNOWN = (
    exists()
    .where(_CLIENTS.c.switch_id == _SWITCHES.c.id, _CLIENTS.c.digest == bindparam("b_digest"))
    .label("client_known")
)


_GET_SWITCH = {
    (lock, client): (query.with_for_update(of=_SWITCHES) if lock else query)
    for lock in (False, True)
    for client in (False, True)
    for query in [
        select(*_FIELDS, *([_KNOWN] if client else [])).where(
            _SWITCHES.c.id == bindparam("switch_id")
        )
    ]
}


_DOCUMENTS = select(_SWITCHES.c.manifest, _SWITCHES.c.notice).where(
    _SWITCHES.c.id == bindparam("switch_id")
)


@dataclass(slots=True)
class Switch:
    """A switch as read in a transaction: its columns but the manifest and notice.

    Not :class:`afterword.store.models.SwitchRow`, the table's ORM mapping: this is a plain
    record built from one Core SELECT (four times cheaper to read than an ORM object, and
    no session bookkeeping), without the two signed documents (``documents`` reads them).
    Plain data. A change is written by the repository (``record_many`` for a transition,
    ``update_switch`` for anything else), which also sets it here, so the record keeps
    saying what the database holds for the rest of the transaction. Setting an attribute
    alone writes nothing."""

    id: str
    owner_key: str
    phase: str
    next_event_at: int | None
    held: bool
    quarantined_at: int | None
    state: str
    custodians: str
    contacts: str
    dossier_sha256: str
    dossier_size: int
    created_at: int
    updated_at: int
    password_hash: str | None
    totp_secret: str | None
    duress_key: str | None
    duress_password_hash: str | None
    decoy_duress_key: str | None
    decoy_duress_password_hash: str | None
    decoy_cut: int | None
    drill_of: str | None
    audit_seq: int
    audit_head: str
    servers: str | None = None  # the signed roster of the switch's servers (issue 17)
    checkin_counter: int = 0  # the highest signed check-in's counter
    checkin_doc: str | None = None  # ... and the check-in itself
    duress_counter: int = 0  # the highest duress check-in taken
    request_counter: int = 0  # the highest owner request acted on (relayed ones in order)
    request_doc: str | None = None  # ... and the request itself
    client_known: bool | None = None  # asked with ``client=``: has the switch seen it?


def _switch(row: Any) -> Switch:
    return Switch(**row._asdict())


def get_switch(
    session: Session | Connection,
    switch_id: str,
    *,
    lock: bool = False,
    client: str | None = None,
) -> Switch | None:
    """The switch; ``lock`` holds its row until the transaction ends (FOR UPDATE).

    ``client`` (a client's digest): ``client_known`` says, from the same statement,
    whether the switch has seen that client before."""
    params = {"switch_id": switch_id}
    if client is not None:
        params["b_digest"] = client
    row = sql.run(_connection(session), _GET_SWITCH[lock, client is not None], params)
    return _switch(row[0]) if row else None


def documents(session: Session | Connection, switch_id: str) -> tuple[str, str]:
    """The switch's signed manifest and notice (JSON text), read when needed."""
    manifest, notice = sql.run(_connection(session), _DOCUMENTS, {"switch_id": switch_id}).one()
    return manifest, notice


def update_switch(session: Session | Connection, switch: Switch, **values: Any) -> None:
    """Write ``values`` (columns) to the switch's row, and to ``switch``."""
    sql.run(_connection(session), _UPDATE_STATE, {"b_id": switch.id, **values})
    for name, value in values.items():
        setattr(switch, name, value)


def state_of(row: Any) -> SwitchState:
    """The machine state a switch row (ORM or plain) holds."""
    return _parse_state(row.state)


@functools.lru_cache(maxsize=4096)
def _parse_state(text: str) -> SwitchState:
    """States are immutable (frozen, of frozensets and tuples), so one parse serves every
    read of the same stored text: most requests read a switch that has not changed since
    the last one did."""
    return state_from_json(json.loads(text))
