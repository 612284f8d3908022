"""The repository on SQLite and PostgreSQL: transitions, audit chain, scheduler, outbox."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa

from afterword.crypto.audit import GENESIS, entry_hash
from afterword.store import Store
from afterword.store import repository as repo
from afterword.store.models import OutboxRow, SwitchRow
from afterword.store.repository import _tables, schedule
from afterword.switch.machine import Audit, CheckIn, Phase, Tick, arm, decide
from afterword.switch.policy import Policy

POLICY = Policy(interval=100, grace=10, waiting=10, reminders=(50,))
T0 = 1_700_000_000


def new_switch(db: Store, switch_id: str, now: int = T0) -> None:
    state, effects = arm(POLICY, 2, now)
    with db.transaction() as s:
        repo.create_switch(
            s,
            switch_id=switch_id,
            owner_key="ed25519:x",
            state=state,
            effects=effects,
            now=now,
            manifest="{}",
            notice="{}",
            custodians="{}",
            contacts={"recipients": ["mailto:press@example.org"]},
            dossier_sha256="0" * 64,
            dossier_size=1,
        )


def step(db: Store, switch_id: str, event: object, now: int) -> Phase:
    with db.transaction() as s:
        row = repo.get_switch(s, switch_id, lock=True)
        assert row is not None
        state, effects = decide(repo.state_of(row), event, now)  # type: ignore[arg-type]
        repo.record(s, row, state, effects, now)
        return state.phase


def test_migrations_are_idempotent(store: Store) -> None:
    store.migrate()
    with store.engine.connect() as c:
        tables = set(sa.inspect(c).get_table_names())
    assert {"switches", "audit", "outbox", "nonces", "shares", "releases"} <= tables


def test_transitions_persist_with_a_verifiable_audit_chain(store: Store) -> None:
    new_switch(store, "sw1")
    assert step(store, "sw1", CheckIn("signature", "k"), T0 + 30) is Phase.ARMED
    assert step(store, "sw1", Tick(), T0 + 130) is Phase.OVERDUE
    assert step(store, "sw1", Tick(), T0 + 140) is Phase.TRIGGERED
    with store.transaction() as s:
        row = repo.get_switch(s, "sw1")
        assert row is not None and row.phase == "triggered" and row.next_event_at == T0 + 150
        entries = repo.audit_entries(s, "sw1")
    assert [e["kind"] for e in entries] == [
        "armed",
        "checked-in",
        "overdue",
        "reminded",
        "triggered",
    ]
    prev = GENESIS
    for i, entry in enumerate(entries, start=1):
        assert entry["seq"] == i and entry["prev"] == prev
        body = {k: entry[k] for k in ("switch", "seq", "at", "kind", "detail")}
        assert entry_hash(prev, body) == entry["hash"]
        prev = entry["hash"]


def test_a_recorded_row_holds_what_was_stored_and_records_again(store: Store) -> None:
    """After record() the record holds the stored values, so a second transition in the
    same transaction chains on the first, as release_held's does."""
    new_switch(store, "sw2")
    with store.transaction() as s:
        row = repo.get_switch(s, "sw2", lock=True)
        assert row is not None
        state, effects = decide(repo.state_of(row), Tick(), T0 + 100)
        repo.record(s, row, state, effects, T0 + 100)
        assert row.phase == "overdue" and row.next_event_at == state.next_event_at
        assert row.audit_seq == 3 and repo.state_of(row) == state
        again, more = decide(repo.state_of(row), Tick(), T0 + 110)
        repo.record(s, row, again, more, T0 + 110)
    with store.transaction() as s:
        stored = repo.get_switch(s, "sw2")
        entries = repo.audit_entries(s, "sw2")
        assert stored is not None and stored.phase == again.phase == "triggered"
        assert (stored.audit_seq, stored.audit_head) == (len(entries), entries[-1]["hash"])
    assert [e["kind"] for e in entries] == ["armed", "overdue", "reminded", "triggered"]
    assert all(e["prev"] == p["hash"] for p, e in itertools.pairwise(entries))


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    new_switch(store, "sw1")
    with pytest.raises(RuntimeError), store.transaction() as s:
        row = repo.get_switch(s, "sw1", lock=True)
        assert row is not None
        state, effects = decide(repo.state_of(row), Tick(), T0 + 500)
        repo.record(s, row, state, effects, T0 + 500, [repo.Outgoing("m1", "mailto:a@b", "s", "b")])
        raise RuntimeError("crash before commit")
    with store.transaction() as s:
        row = repo.get_switch(s, "sw1")
        assert row is not None and row.phase == "armed"
        assert len(repo.audit_entries(s, "sw1")) == 1
        assert s.get(OutboxRow, "m1") is None


def test_claim_due_in_deadline_order_and_skips_held(store: Store) -> None:
    for i, offset in enumerate([30, 10, 20, 500]):
        new_switch(store, f"sw{i}", T0 + offset)
    with store.transaction() as s:
        held = repo.get_switch(s, "sw2")
        assert held is not None
        repo.set_held(s, [held], True)
        assert held.held is True
    with store.transaction() as s:
        due = repo.claim_due(s, T0 + 200, limit=10)  # first events: reminders at +50
        assert [r.id for r in due] == ["sw1", "sw0"]
        assert repo.count_due(s, T0 + 200) == 3


def test_outbox_ids_are_stable(store: Store) -> None:
    new_switch(store, "sw1")
    message = repo.Outgoing("release-sw1-press", "mailto:press@example.org", "Released", "...")
    for _ in range(2):
        with store.transaction() as s:
            repo.enqueue(s, "sw1", message, T0)
    with store.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(OutboxRow)) == 1
        assert [r.id for r in repo.lease_outbox(s, T0, 10, T0 + 60)] == ["release-sw1-press"]


def test_outbox_leases_and_settles_each_attempt(store: Store) -> None:
    """Due messages are leased oldest first (their attempt counted), then settled: a
    retry waits by its attempts so far, the last delay for every attempt past the end."""
    new_switch(store, "sw1")
    for i, due in enumerate([T0 + 5, T0, T0 + 50]):
        message = repo.Outgoing(f"m{i}", "mailto:press@example.org", "s", "b", {"n": i})
        with store.transaction() as s:
            repo.enqueue(s, "sw1", message, due)
    with store.transaction() as s:
        leased = repo.lease_outbox(s, T0 + 10, 10, until=T0 + 310)
    assert [(r.id, r.data) for r in leased] == [("m1", '{"n": 1}'), ("m0", '{"n": 0}')]
    delays = (60, 120, 180)
    with store.transaction() as s:
        repo.outbox_delivered(s, "m1", T0 + 11)
        repo.outbox_retry(s, "m0", T0 + 12, "421 busy", delays)
    rows = {}
    with store.transaction() as s:
        rows = {r.id: (r.attempts, r.next_attempt_at, r.delivered_at, r.last_error)
                for r in s.scalars(sa.select(OutboxRow))}  # fmt: skip
    assert rows == {
        "m0": (1, T0 + 12 + 120, None, "421 busy"),
        "m1": (1, None, T0 + 11, None),
        "m2": (0, T0 + 50, None, None),
    }
    with store.transaction() as s:
        repo.outbox_given_up(s, "m2", "permanent: 550")
    for attempts in range(2, 6):  # leased again and again: the delay stops growing
        now = T0 + 1000 * attempts
        with store.transaction() as s:
            assert [r.id for r in repo.lease_outbox(s, now, 1, until=now + 300)] == ["m0"]
            repo.outbox_retry(s, "m0", now, "421 busy", delays)
            row = s.get(OutboxRow, "m0")
            assert row is not None
            assert (row.attempts, row.next_attempt_at) == (attempts, now + delays[min(attempts, 2)])
    with store.transaction() as s, pytest.raises(AssertionError):
        repo.outbox_delivered(s, "no-such-message", T0)
    with store.transaction() as s:  # delivered and given up: never due again
        assert [r.id for r in repo.lease_outbox(s, T0 + 10**6, 10, until=T0 + 10**6)] == ["m0"]


def test_concurrent_workers_claim_disjoint_switches(store: Store) -> None:
    """Two workers at once: on PostgreSQL both proceed and never share a switch (SKIP
    LOCKED); on SQLite the second waits for the first (one writer) and finds nothing due."""
    for i in range(20):
        new_switch(store, f"sw{i:02}", T0)
    claimed: list[list[str]] = []
    barrier = threading.Barrier(2, timeout=30)

    def worker() -> None:
        with store.transaction() as s:
            rows = repo.claim_due(s, T0 + 1000, limit=12)
            ids = [r.id for r in rows]
            for row in rows:
                state, effects = decide(repo.state_of(row), Tick(), T0 + 1000)
                repo.record(s, row, state, effects, T0 + 1000)
            claimed.append(ids)
            if store.is_postgres:
                barrier.wait()  # both transactions hold their locks at the same time

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first, second = claimed
    assert not set(first) & set(second)
    assert sorted([len(first), len(second)]) == [8, 12]
    with store.transaction() as s:
        ticked = s.scalar(
            sa.select(sa.func.count()).select_from(SwitchRow).where(SwitchRow.phase == "overdue")
        )
        assert ticked == len(first) + len(second)


def test_record_many_stores_a_batch_as_record_would_one_by_one(store: Store) -> None:
    """The scheduler's batch write: each switch's state, its own audit chain continued from
    its tail, and its messages; a message id already queued (or twice in the batch) is
    written once, the first time."""
    ids = [f"sw{i}" for i in range(5)]
    for sid in ids:
        new_switch(store, sid)
    step(store, "sw1", CheckIn("signature", "k"), T0 + 30)  # a longer chain for one of them
    old = repo.Outgoing("m-sw0", "mailto:a@example.org", "s", "queued before")
    with store.transaction() as s:
        repo.enqueue(s, "sw0", old, T0)
    now = T0 + 500
    with store.transaction() as s:
        rows = repo.claim_due(s, now, limit=10)
        assert sorted(r.id for r in rows) == ids
        batch = []
        for row in rows:
            state, effects = decide(repo.state_of(row), Tick(), now)
            messages = [
                repo.Outgoing(f"m-{row.id}", "mailto:a@example.org", "s", f"new {row.id}"),
                repo.Outgoing("m-shared", "mailto:b@example.org", "s", f"from {row.id}"),
            ]
            batch.append(repo.Transition(row, state, effects, messages))
        repo.record_many(s, batch, now)
        for t in batch:  # the session's rows show what was written
            assert t.row.phase == t.state.phase.value
            assert t.row.next_event_at == t.state.next_event_at and t.row.updated_at == now
        first = batch[0].row.id
    with store.transaction() as s:
        for t in batch:
            row = repo.get_switch(s, t.row.id)
            assert row is not None
            assert repo.state_of(row) == t.state
            assert (row.phase, row.next_event_at, row.updated_at) == (
                t.state.phase.value,
                t.state.next_event_at,
                now,
            )
            entries = repo.audit_entries(s, t.row.id)
            kinds = ["armed"] + (["checked-in"] if t.row.id == "sw1" else [])
            kinds += [e.kind for e in t.effects if isinstance(e, Audit)]
            assert [e["kind"] for e in entries] == kinds
            prev = GENESIS
            for i, entry in enumerate(entries, start=1):
                assert entry["seq"] == i and entry["prev"] == prev
                body = {k: entry[k] for k in ("switch", "seq", "at", "kind", "detail")}
                assert entry_hash(prev, body) == entry["hash"]
                prev = entry["hash"]
        bodies = {i: b for i, b in s.execute(sa.select(OutboxRow.id, OutboxRow.body))}
    assert bodies["m-sw0"] == "queued before"
    assert bodies["m-shared"] == f"from {first}"
    assert {k: v for k, v in bodies.items() if k not in ("m-sw0", "m-shared")} == {
        f"m-{sid}": f"new {sid}" for sid in ids[1:]
    }


def test_record_many_twice_in_one_transaction_writes_each_batch_once(store: Store) -> None:
    """PostgreSQL stages a batch's rows (COPY into a temporary table) and empties the
    stage as it writes them: a second batch in the same transaction, here one that moves a
    switch of the first again, writes only itself. Text the COPY format escapes (tabs,
    newlines, backslashes) arrives as it was sent."""
    for sid in ("a1", "a2", "b1"):
        new_switch(store, sid)
    now = T0 + 500
    awkward = 'tab\there\nnew line, back\\slash \\N "quoted" \u00e9\u4e2d \r end'
    with store.transaction() as s:
        rows = {r.id: r for r in repo.claim_due(s, now, limit=10)}
        states = {sid: repo.state_of(row) for sid, row in rows.items()}
        for n, group in enumerate((("a1", "a2"), ("a1", "b1"))):
            batch = []
            for sid in group:
                event = Tick() if n == 0 else CheckIn("signature", "k")
                states[sid], effects = decide(states[sid], event, now + n)
                message = repo.Outgoing(f"m{n}-{sid}", "mailto:a@example.org", awkward, awkward)
                batch.append(repo.Transition(rows[sid], states[sid], effects, [message]))
            repo.record_many(s, batch, now + n)
    with store.transaction() as s:
        got = {i: body for i, body in s.execute(sa.select(OutboxRow.id, OutboxRow.body))}
        subjects = set(s.scalars(sa.select(OutboxRow.subject)))
        logs = {sid: repo.audit_entries(s, sid) for sid in rows}
        stored = {sid: repo.state_of(repo.get_switch(s, sid)) for sid in rows}
    assert got == {f"m{key}": awkward for key in ("0-a1", "0-a2", "1-a1", "1-b1")}
    assert subjects == {awkward}
    assert stored == states and stored["a1"].checkins == 1 and stored["a2"].checkins == 0
    for log in logs.values():
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["kind"] for e in logs["a1"]][-1] == "checked-in"


def test_a_batch_that_breaks_a_log_fails_as_a_database_error_and_leaves_nothing(
    store: Store,
) -> None:
    """A stale audit tail (another writer extended the log) breaks the unique (switch,
    seq): the batch fails whole, with SQLAlchemy's error (PostgreSQL's COPY included)."""
    for sid in ("c1", "c2"):
        new_switch(store, sid)
    now = T0 + 500
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as s:
        rows = repo.claim_due(s, now, limit=10)
        batch = []
        for row in rows:
            state, effects = decide(repo.state_of(row), Tick(), now)
            batch.append(repo.Transition(row, state, effects, []))
        rows[0].audit_seq = 0  # as if read before the "armed" entry was written
        repo.record_many(s, batch, now)
    with store.transaction() as s:
        assert [len(repo.audit_entries(s, sid)) for sid in ("c1", "c2")] == [1, 1]
        assert all(repo.state_of(r).phase is Phase.ARMED for r in repo.claim_due(s, now, 10))


def test_the_engines_statement_listeners_hear_every_batch_write(store: Store) -> None:
    """Statements sent on the driver's own connection (PostgreSQL's COPY and staging) are
    announced like the rest: the simulation's kill points and the benchmark's counter
    listen there. (A batch of ``_COPY_FROM`` switches: fewer go as INSERTs and UPDATEs.)"""
    for i in range(_tables._COPY_FROM):
        new_switch(store, f"d{i}")
    heard: list[str] = []
    listen = lambda *args: heard.append(args[2])  # noqa: E731
    sa.event.listen(store.engine, "before_cursor_execute", listen)
    try:
        with store.transaction() as s:
            batch = []
            for row in repo.claim_due(s, T0 + 500, limit=10):
                state, effects = decide(repo.state_of(row), Tick(), T0 + 500)
                messages = [repo.Outgoing(f"m-{row.id}", "mailto:a@example.org", "s", "b")]
                batch.append(repo.Transition(row, state, effects, messages))
            heard.clear()
            repo.record_many(s, batch, T0 + 500)
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", listen)
    text = " ".join(heard).lower()
    assert "update switches" in text and "insert into outbox" in text
    audit = "copy audit" if store.is_postgres else "insert into audit"
    assert audit in text
    if store.is_postgres:
        assert "copy afterword_switch_in" in text and "copy afterword_outbox_in" in text


def migrate_to(store: Store, revision: str) -> None:
    """Downgrade (or upgrade) the schema to ``revision``, as Alembic's command line would."""
    import importlib.resources

    from alembic import command
    from alembic.config import Config

    config = Config()
    location = importlib.resources.files("afterword.store") / "migrations"
    config.set_main_option("script_location", str(location))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    store.engine.dispose()


def foreign_keys(store: Store, table: str) -> list[str]:
    return [fk["referred_table"] for fk in sa.inspect(store.engine).get_foreign_keys(table)]


def test_the_logs_lose_their_foreign_keys_and_keep_their_rows(store: Store) -> None:
    """0005 dropped the audit log's and the outbox's foreign keys to the switch (a
    query per written row on PostgreSQL); its downgrade puts them back; rows survive
    both ways, and the chain extends after."""
    new_switch(store, "fk1")
    with store.transaction() as s:
        repo.enqueue(s, "fk1", repo.Outgoing("m-fk1", "mailto:a@example.org", "s", "b"), T0)
    assert foreign_keys(store, "audit") == foreign_keys(store, "outbox") == []
    assert foreign_keys(store, "shares") == ["switches"]  # (the others stay)
    migrate_to(store, "0004")
    assert foreign_keys(store, "audit") == foreign_keys(store, "outbox") == ["switches"]
    store.migrate()
    assert foreign_keys(store, "audit") == foreign_keys(store, "outbox") == []
    step(store, "fk1", CheckIn("signature", "k"), T0 + 30)
    with store.transaction() as s:
        assert [e["seq"] for e in repo.audit_entries(s, "fk1")] == [1, 2]
        assert s.scalar(sa.select(OutboxRow.body).where(OutboxRow.id == "m-fk1")) == "b"


def test_the_audit_tail_migration_fills_in_every_switch_as_its_log_has_it(store: Store) -> None:
    """0004 moved the audit chain's tail onto the switch row: a database from before it
    gets each switch's tail from its log, and the chain then extends without a break."""
    new_switch(store, "old1")
    step(store, "old1", CheckIn("signature", "k"), T0 + 30)
    new_switch(store, "old2")
    with store.transaction() as s:
        before = {sid: (r.audit_seq, r.audit_head) for sid in ("old1", "old2")
                  if (r := repo.get_switch(s, sid)) is not None}  # fmt: skip
    assert before["old1"][0] == 2 and before["old2"][0] == 1
    migrate_to(store, "0003")
    store.migrate()
    with store.transaction() as s:
        after = {sid: (r.audit_seq, r.audit_head) for sid in ("old1", "old2")
                 if (r := repo.get_switch(s, sid)) is not None}  # fmt: skip
        assert after == before
        assert before["old1"][1] == repo.audit_entries(s, "old1")[-1]["hash"]
    step(store, "old1", Tick(), T0 + 130)
    with store.transaction() as s:
        entries = repo.audit_entries(s, "old1")
    assert [e["seq"] for e in entries] == [1, 2, 3, 4]  # overdue + reminded, chained on
    assert entries[2]["prev"] == before["old1"][1]


def test_the_workers_sweep_reads_the_disarmed_switches_by_their_index(store: Store) -> None:
    """Every worker's first pass lists the disarmed switches: through an index, the
    partial one 0005 made or the one on (phase, ...) 0016 made for /metrics, never a full
    read of the table (seconds on a large one), with the right rows."""
    for sid in ("live", "gone"):
        new_switch(store, sid)
    with store.transaction() as s:
        s.execute(sa.update(SwitchRow).where(SwitchRow.id == "gone").values(phase="disarmed"))
        assert repo.disarmed_ids(s) == ["gone"]
        statement = schedule._DISARMED_IDS.compile(s.get_bind(), compile_kwargs={})
        if store.is_postgres:
            s.execute(sa.text("SET LOCAL enable_seqscan = off"))  # (a tiny table otherwise)
            plan = s.execute(sa.text(f"EXPLAIN {statement}")).scalars().all()
        else:
            plan = [r[-1] for r in s.execute(sa.text(f"EXPLAIN QUERY PLAN {statement}"))]
    indexes = ("ix_switches_disarmed", "ix_switches_phase")
    assert any(name in line for line in plan for name in indexes), plan
    assert not any("SCAN switches" in line or "Seq Scan" in line for line in plan), plan


def test_one_switch_with_thousands_of_messages_never_fills_a_pass(store: Store) -> None:
    """A switch that wrote 2,000 due messages (a hostile owner's relays to peers that
    hang) takes at most PER_SWITCH of a pass: the victim's one message, due later than
    all of them, is leased in the same pass."""
    from afterword.store.repository.outbox import PER_SWITCH

    for sw in ("hostile", "victim"):
        new_switch(store, sw)
    with store.transaction() as s:
        s.add_all(
            OutboxRow(id=f"h{i:04}", switch_id="hostile", to="peer:https://slow.example",
                      subject="relay", body="{}", created_at=T0, next_attempt_at=T0 + i % 7)
            for i in range(2000)
        )  # fmt: skip
        release = {"id": "release", "switch_id": "victim", "to": "mailto:press@example.org"}
        s.add(
            OutboxRow(**release, subject="release", body="x", created_at=T0, next_attempt_at=T0 + 9)
        )
    with store.transaction() as s:
        leased = [(r.switch_id, r.id) for r in repo.lease_outbox(s, T0 + 10, 50, until=T0 + 310)]
    assert ("victim", "release") in leased
    assert sum(1 for sw, _ in leased if sw == "hostile") == PER_SWITCH
    with store.transaction() as s:  # the next pass: the flood's next turns, oldest first
        again = [r.id for r in repo.lease_outbox(s, T0 + 10, 50, until=T0 + 310)]
    assert len(again) == PER_SWITCH and not set(again) & {mid for _, mid in leased}
