"""Reading and writing switches, their audit log and their outbox, inside a transaction.

The rule that makes releases exactly-once: a switch's new state, its audit entries and
the messages it causes are written in the *same* transaction (a transactional outbox).
Either all of it happened or none of it did; a crash in between leaves nothing to undo.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Insert,
    Integer,
    String,
    Table,
    bindparam,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.crypto.audit import GENESIS, entry_hash
from afterword.store import sql
from afterword.store.models import (
    DISARMED,
    AuditRow,
    CanaryTokenRow,
    ClientRow,
    NetworkRow,
    NonceRow,
    OutboxRow,
    OwnerLogRow,
    ShareRow,
    SwitchRow,
)
from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import Audit, Effect, SwitchState

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
_STATE_COLUMNS = ("state", "phase", "next_event_at", "updated_at", "audit_seq", "audit_head",
                  "decoy_cut")  # fmt: skip
_AUDIT_COLUMNS = ("switch_id", "seq", "at", "kind", "detail", "prev", "hash")
_OUTBOX_COLUMNS = ("id", "switch_id", "to", "subject", "body", "data", "created_at", "attempts",
                   "next_attempt_at")  # fmt: skip


# switch states: by primary key; SET takes the columns each parameter set names
_UPDATE_STATE = update(_SWITCHES).where(_SWITCHES.c.id == bindparam("b_id"))
_INSERT_AUDIT = insert(_AUDIT)
# the outbox: an id already there is skipped (exactly-once, stable ids)
_INSERT_OUTBOX = {
    "postgresql": postgresql.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["id"]),
    "sqlite": sqlite.insert(_OUTBOX).on_conflict_do_nothing(index_elements=["id"]),
}


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
_COPY_UPDATE_STATE = f"""
WITH moved AS (DELETE FROM afterword_switch_in RETURNING *)
UPDATE switches SET {", ".join(f"{n} = moved.{n}" for n in _STATE_COLUMNS)}
FROM moved WHERE switches.id = moved.id
"""
_OUTBOX_LIST = ", ".join(f'"{n}"' for n in _OUTBOX_COLUMNS)
_COPY_INSERT_OUTBOX = f"""
WITH moved AS (DELETE FROM afterword_outbox_in RETURNING *)
INSERT INTO outbox ({_OUTBOX_LIST}) SELECT {_OUTBOX_LIST} FROM moved
ON CONFLICT (id) DO NOTHING
"""


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


def _connection(session: Session | Connection) -> Connection:
    """Where a Core statement runs cheapest: a session's connection (its transaction)."""
    return session.connection() if isinstance(session, Session) else session


_SPEND_NONCE = {
    name: dialect.insert(_NONCES)
    .values(
        nonce=bindparam("b_nonce", type_=String()),
        switch_id=bindparam("b_switch_id", type_=String()),
        expires_at=bindparam("b_expires_at", type_=BigInteger()),
    )
    .on_conflict_do_nothing(index_elements=["nonce"])
    .returning(_NONCES.c.nonce)  # (an INSERT's rowcount is not reliable on every driver)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_CLIENT_KNOWN = select(_CLIENTS.c.digest).where(
    _CLIENTS.c.switch_id == bindparam("b_switch_id"), _CLIENTS.c.digest == bindparam("b_digest")
)
_ADD_CLIENT = insert(_CLIENTS).values(
    switch_id=bindparam("b_switch_id", type_=String()),
    digest=bindparam("b_digest", type_=String()),
    first_seen=bindparam("b_now", type_=BigInteger()),
)
_SEE_NETWORK = {
    name: dialect.insert(_NETWORKS)
    .values(
        switch_id=bindparam("b_switch_id", type_=String()),
        network=bindparam("b_network", type_=String()),
        first_seen=bindparam("b_now", type_=BigInteger()),
    )
    .on_conflict_do_nothing(index_elements=["switch_id", "network"])
    .returning(_NETWORKS.c.network)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_PURGE_NONCES = delete(_NONCES).where(_NONCES.c.expires_at < bindparam("b_now"))


def spend_nonce(session: Session, switch_id: str, nonce: str, expires_at: int) -> bool:
    """Record a check-in challenge as used, in one statement; False if it was used before.

    Challenges are not stored when they are issued (they carry the server's MAC, see
    :mod:`afterword.engine.challenges`), only when spent, until they expire: a replay finds
    its nonce here. A concurrent request quoting the same nonce waits for this transaction
    and then finds it."""
    params = {"b_nonce": nonce, "b_switch_id": switch_id, "b_expires_at": expires_at}
    statement = _SPEND_NONCE[session.get_bind().dialect.name]
    return sql.run(_connection(session), statement, params).first() is not None


def client_known(session: Session, switch_id: str, digest: str) -> bool:
    """Whether the switch has seen this client (its digest) before."""
    params = {"b_switch_id": switch_id, "b_digest": digest}
    return sql.run(_connection(session), _CLIENT_KNOWN, params).first() is not None


def add_client(session: Session, switch_id: str, digest: str, now: int) -> None:
    params = {"b_switch_id": switch_id, "b_digest": digest, "b_now": now}
    sql.run(_connection(session), _ADD_CLIENT, params)


def see_network(session: Session, switch_id: str, network: str, now: int) -> bool:
    """Remember that the owner authenticated from ``network``, in one statement; True if
    the switch had never seen it (two concurrent first sign-ins: one of them is first)."""
    params = {"b_switch_id": switch_id, "b_network": network, "b_now": now}
    statement = _SEE_NETWORK[session.get_bind().dialect.name]
    return sql.run(_connection(session), statement, params).first() is not None


def purge_nonces(session: Session, now: int) -> int:
    """Forget spent challenges that have expired (they can no longer be replayed)."""
    return sql.run(_connection(session), _PURGE_NONCES, {"b_now": now}).rowcount


def state_of(row: Any) -> SwitchState:
    """The machine state a switch row (ORM or plain) holds."""
    return _parse_state(row.state)


@functools.lru_cache(maxsize=4096)
def _parse_state(text: str) -> SwitchState:
    """States are immutable (frozen, of frozensets and tuples), so one parse serves every
    read of the same stored text: most requests read a switch that has not changed since
    the last one did."""
    return state_from_json(json.loads(text))


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


def enqueue(session: Session, switch_id: str, message: Outgoing, now: int) -> None:
    """Add a message to the outbox unless one with the same stable id is already there."""
    _enqueue_many(session, [(switch_id, message)], now)


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


_NO_OUTBOX = _nothing(_OUTBOX, _OUTBOX_COLUMNS)
_NO_AUDIT = _nothing(_AUDIT, _AUDIT_COLUMNS)


def _insert_nothing(session: Session | Connection, statement: Insert, names: Sequence[str]) -> None:
    """Run a ``_nothing`` statement, with values of the row it does not insert."""
    params = {f"b_{n}": 0 if n in _NUMERIC else "" for n in names}
    sql.run(_connection(session), statement, params)


_NUMERIC = frozenset({"seq", "at", "created_at", "attempts", "next_attempt_at"})


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


_OWNER_LOG = (
    select(_OWNER_LOG_TABLE.c.at, _OWNER_LOG_TABLE.c.kind, _OWNER_LOG_TABLE.c.detail)
    .where(_OWNER_LOG_TABLE.c.switch_id == bindparam("switch_id"))
    .order_by(_OWNER_LOG_TABLE.c.id)
)
_CANARY_LINK = select(
    _CANARY_TOKENS.c.switch_id, _CANARY_TOKENS.c.name, _CANARY_TOKENS.c.duress
).where(_CANARY_TOKENS.c.digest == bindparam("digest"))


def owner_log(session: Session | Connection, switch_id: str) -> list[Any]:
    """While a decoy stands: the owner's own log entries (``at``, ``kind``, ``detail``),
    the earlier decoys' each closed by a ``DECOY_ENDED`` row."""
    return sql.run(_connection(session), _OWNER_LOG, {"switch_id": switch_id})


_SHARES = typing_cast(Table, ShareRow.__table__)
_SHARE_COLUMNS = ("switch_id", "custodian", "sealed", "submitted_at")
_INSERT_SHARE = insert(_SHARES)
_NO_SHARE = _nothing(_SHARES, _SHARE_COLUMNS)


def add_share(
    session: Session, switch_id: str, custodian: str, sealed: bytes, now: int, *, keep: bool = True
) -> None:
    """Keep a custodian's share (sealed to the server). ``keep`` False: the same INSERT,
    inserting nothing (a decoy's release counts the server's shares, and keeps none)."""
    params = {"switch_id": switch_id, "custodian": custodian, "sealed": sealed,
              "submitted_at": now}  # fmt: skip
    if keep:
        sql.run(_connection(session), _INSERT_SHARE, params)
    else:
        sql.run(_connection(session), _NO_SHARE, {f"b_{k}": v for k, v in params.items()})


_OWNER_LOG_COLUMNS = ("switch_id", "at", "kind", "detail")
DECOY_ENDED = "decoy-ended"
"""The owner's log row that closes a decoy a real action ended: its detail is the real
log's seq where the decoy began (its cut) and where it ended, the rows before it are what
that decoy showed. Clearing the owner's log keeps those (a later decoy shows them again,
as the real world's log would hold what the owner saw then)."""
_ENDED = (
    select(func.coalesce(func.max(_OWNER_LOG_TABLE.c.id), 0))
    .where(
        _OWNER_LOG_TABLE.c.switch_id == bindparam("b_switch_id"),
        _OWNER_LOG_TABLE.c.kind == DECOY_ENDED,
    )
    .scalar_subquery()
)
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
) -> None:
    """Add ``entries`` (``at``, ``kind``, ``detail``) to the owner's log, after deleting
    what it held since the last decoy a real action ended if ``clear``. ``pad``: an owner
    action's, so the same two statements whatever it has to do (the DELETE is told by a
    parameter whether to delete, and the INSERT may insert nothing): a duress action's
    work on this table and a real one's look alike (issue 15, item 10)."""
    connection = _connection(session)
    if clear or pad:
        sql.run(connection, _CLEAR_OWNER_LOG, {"b_switch_id": switch_id, "b_clear": clear})
    rows = [
        {"switch_id": switch_id, "at": at, "kind": kind, "detail": detail}
        for at, kind, detail in entries
    ]
    if rows:
        sql.run_many(connection, _INSERT_OWNER_LOG, rows)
    elif pad:
        _insert_nothing(connection, _NO_OWNER_LOG, _OWNER_LOG_COLUMNS)


def canary_link(session: Session | Connection, digest: str) -> Any:
    """A protected person's link by its digest: ``switch_id``, ``name``, ``duress``."""
    return sql.run(_connection(session), _CANARY_LINK, {"digest": digest}).one_or_none()


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


# The dispatcher: lease due messages in two statements whatever their number (the rows'
# fields as tuples, no objects), and settle each message's attempt in one UPDATE.
_DUE_MESSAGES = (
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.switch_id,
        _OUTBOX.c.to,
        _OUTBOX.c.subject,
        _OUTBOX.c.body,
        _OUTBOX.c.data,
    )
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
    """Due messages (``id, switch_id, to, subject, body, data``), oldest due first, locked and
    leased until ``until``: their attempt counted, and left alone by other dispatchers
    until then."""
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
