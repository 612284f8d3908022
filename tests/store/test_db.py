"""The store's transactions: sessions and (on SQLite) connections reused between them,
and a plain-row read that becomes an ORM row without reading again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from afterword.store import Store
from afterword.store import repository as repo
from afterword.store.db import SPARE
from afterword.switch.machine import Audit
from tests.store.test_repository import T0, new_switch


def test_a_rolled_back_transaction_leaves_nothing_for_the_next_one(store: Store) -> None:
    """Sessions and connections are used again: neither the after-commit work nor an open
    transaction of a failed one may reach the next."""
    new_switch(store, "sw1")
    ran: list[str] = []
    with pytest.raises(RuntimeError), store.transaction() as s:
        assert repo.get_switch(s, "sw1", lock=True) is not None
        Store.after_commit(s, lambda: ran.append("rolled back"))
        raise RuntimeError("refused")
    with store.transaction() as s:
        Store.after_commit(s, lambda: ran.append("committed"))
        row = repo.get_switch(s, "sw1", lock=True)
        assert row is not None
        repo.record(s, row, repo.state_of(row), [Audit("note", "x")], T0 + 1)
    assert ran == ["committed"]
    with store.connection() as c:
        assert [e["kind"] for e in repo.audit_entries(c, "sw1")] == ["armed", "note"]


def test_sqlite_keeps_a_few_idle_connections_and_close_closes_them(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'afterword.db'}")
    store.migrate()
    try:
        new_switch(store, "sw1")
        barrier = threading.Barrier(SPARE + 2)

        def hold() -> None:  # SPARE + 2 connections taken at once
            with store.connect():
                barrier.wait(timeout=10)

        threads = [threading.Thread(target=hold) for _ in range(SPARE + 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kept = list(store._spare or [])
        assert len(kept) == SPARE  # the others went back to the pool
        assert not any(c.in_transaction() or c.closed for c in kept)
        with store.transaction() as s:  # a kept one serves the next transaction
            assert repo.get_switch(s, "sw1") is not None
        store.close()
        assert all(c.closed for c in kept) and not store._spare
    finally:
        store.close()


def test_a_switch_read_once_is_written_and_read_as_the_database_has_it(store: Store) -> None:
    """One SELECT for a read-and-write request; the record follows its writes, so a
    second transition in the same transaction chains on the first."""
    new_switch(store, "sw1")
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with store.transaction() as s:
        row = repo.get_switch(s, "sw1", lock=True)
        assert row is not None and (row.id, row.phase, row.audit_seq) == ("sw1", "armed", 1)
        repo.record(s, row, repo.state_of(row), [Audit("note", "x")], T0 + 1)
        assert row.audit_seq == 2 and row.updated_at == T0 + 1
        repo.record(s, row, repo.state_of(row), [Audit("note", "y")], T0 + 2)
        repo.update_switch(s, row, decoy_cut=7)
        assert row.decoy_cut == 7
    assert sum(sql.lstrip().upper().startswith("SELECT") for sql in statements) == 1
    with store.transaction() as s:
        again = repo.get_switch(s, "sw1")
        assert again is not None and (again.audit_seq, again.decoy_cut) == (3, 7)
        assert repo.documents(s, "sw1") == ("{}", "{}")
    with store.connection() as c:
        assert [e["seq"] for e in repo.audit_entries(c, "sw1")] == [1, 2, 3]


def test_postgresql_refuses_to_start_for_a_role_that_cannot_make_temporary_tables(
    pg_url: str,
) -> None:
    """The scheduler's batch writes need temporary tables: a role without the right is
    told at start, with the GRANT that fixes it (superusers always have it, so the test
    makes a role and a database of its own)."""
    from afterword.errors import AfterwordError
    from tests.store.conftest import PG_ADMIN

    suffix = pg_url.rsplit("_", 1)[-1]
    role, database = f"afterword_notemp_{suffix}", f"afterword_notemp_{suffix}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        c.exec_driver_sql(f'CREATE DATABASE "{database}" OWNER postgres')
        c.exec_driver_sql(f'REVOKE TEMPORARY ON DATABASE "{database}" FROM PUBLIC')
    base = PG_ADMIN.rsplit("/", 1)[0]
    owner = sa.create_engine(f"{base}/{database}", isolation_level="AUTOCOMMIT")
    url = base.replace("//postgres@", f"//{role}@") + f"/{database}"
    try:
        store = Store(url)
        with pytest.raises(AfterwordError, match="permission denied for schema public"):
            store.migrate()  # PostgreSQL 15 no longer lets PUBLIC create in public
        store.close()
        with owner.connect() as c:
            c.exec_driver_sql(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        store = Store(url)
        with pytest.raises(AfterwordError, match="temporary tables") as refused:
            store.migrate()
        assert f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"' in refused.value.hint
        store.close()
        with admin.connect() as c:
            c.exec_driver_sql(f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"')
        store = Store(url)
        store.migrate()  # and now it starts
        store.close()
    finally:
        owner.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()


def test_the_migrations_build_the_schema_the_models_describe(store: Store) -> None:
    """The service writes through the models and the databases are built by the
    migrations: a column, index or key in one and not the other is a bug waiting for
    its first write (Alembic's autogenerate comparison finds none)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from afterword.store.models import Base

    with store.engine.connect() as c:
        differences = compare_metadata(MigrationContext.configure(c), Base.metadata)
    assert differences == []


@contextmanager
def _sqlite_at(tmp_path: Path, revision: str, *rows: str) -> Iterator[tuple[Store, Any]]:
    """A SQLite database migrated up to ``revision`` only, with its Alembic config, and
    switch ``sw1`` in it, then ``rows`` (statements) written as that revision had them."""
    from alembic import command

    store = Store(f"sqlite:///{tmp_path / 'afterword.db'}")
    try:
        config = store.alembic_config()
        with store.engine.begin() as c:
            config.attributes["connection"] = c
            command.upgrade(config, revision)
        with store.engine.begin() as c:
            _old_switch(c)
            for row in rows:
                c.execute(sa.text(row))
        yield store, config
    finally:
        store.close()


def _up_and_down(
    tmp_path: Path, revision: str, rows: str, up: str, after: list[tuple], down: str, back: list
) -> None:
    """Rows written at ``revision``, migrated to the head: query ``up`` reads ``after``;
    then downgraded to ``revision`` again: query ``down`` reads ``back``."""
    from alembic import command

    with _sqlite_at(tmp_path, revision, rows) as (store, config):
        store.migrate()
        with store.engine.begin() as c:
            assert [tuple(r) for r in c.execute(sa.text(up)).all()] == after
            config.attributes["connection"] = c
            command.downgrade(config, revision)
            assert [tuple(r) for r in c.execute(sa.text(down)).all()] == back


def _old_switch(c: sa.Connection, held: str = "0") -> None:
    """Switch ``sw1``, with the columns of migration 0005 only (the models may have more,
    from later migrations); ``held``: SQLite's 0 or PostgreSQL's false."""
    c.execute(
        sa.text(
            "INSERT INTO switches (id, owner_key, phase, held, state, manifest, notice,"
            " custodians, contacts, dossier_sha256, dossier_size, created_at, updated_at)"
            f" VALUES ('sw1', 'ed25519:x', 'armed', {held}, '{{}}', '{{}}', '{{}}', '{{}}',"
            " '{}', '', 1, 0, 0)"
        )
    )


def test_the_newest_migration_drops_the_unused_challenges_and_their_column(
    tmp_path: Path,
) -> None:
    """Migration 0006: rows written before challenges carried a MAC (issued, never spent)
    go, spent ones stay; downgrading gives the column back, true for every row kept."""
    nonces = (
        "INSERT INTO nonces (nonce, switch_id, expires_at, used) VALUES"
        " ('spent', 'sw1', 9, 1), ('issued', 'sw1', 9, 0)"
    )
    after = [("spent", "sw1", 9)]
    down = "SELECT nonce, used FROM nonces"
    _up_and_down(tmp_path, "0005", nonces, "SELECT * FROM nonces", after, down, [("spent", 1)])


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_migration_0012_types_the_decoy_ended_rows(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A ``decoy-ended`` row written as the text "BEGAN ENDED" becomes typed columns
    (nothing reads its text any more); other rows keep their detail, with no seqs."""
    from alembic import command

    url = (
        f"sqlite:///{tmp_path / 'afterword.db'}"
        if database == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    store = Store(url)
    try:
        config = store.alembic_config()
        with store.engine.begin() as c:
            if database == "postgresql":  # the database is shared: start from no schema
                c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            config.attributes["connection"] = c
            command.upgrade(config, "0011")
            _old_switch(c, "false")
            c.execute(
                sa.text(
                    "INSERT INTO owner_log (switch_id, at, kind, detail) VALUES"
                    " ('sw1', 5, 'checked-in', 'by the owner'), ('sw1', 6, 'decoy-ended', '3 17')"
                )
            )
        store.migrate()
        with store.engine.begin() as c:
            rows = c.execute(
                sa.text("SELECT kind, detail, began, ended FROM owner_log ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [
            ("checked-in", "by the owner", None, None),
            ("decoy-ended", "", 3, 17),
        ]
        with store.transaction() as s:
            ended = [r for r in repo.owner_log(s, "sw1") if r.kind == repo.DECOY_ENDED]
            assert [(r.began, r.ended) for r in ended] == [(3, 17)]
        with store.engine.begin() as c:  # and back: the older code's text again
            config.attributes["connection"] = c
            command.downgrade(config, "0011")
            rows = c.execute(sa.text("SELECT kind, detail FROM owner_log ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [
            ("checked-in", "by the owner"),
            ("decoy-ended", "3 17"),
        ]
    finally:
        store.close()


def test_migration_0014_starts_each_peer_with_its_head_as_the_base(tmp_path: Path) -> None:
    """A peer row of 0013 holds the peer's last checkpoint: it becomes the base the next
    consistency proof must start from (not none, which would take any next head on
    trust); nothing is pending, and nothing said yet of this server's log. Downgrading
    drops the columns and keeps the rows."""
    from alembic import command

    peers = (
        "INSERT INTO peers (switch_id, url, since, last_asked, checkpoint) VALUES"
        " ('sw1', 'https://a.example', 0, 0, 'NOTE'), ('sw1', 'https://b.example', 0, 0, NULL)"
    )
    with _sqlite_at(tmp_path, "0013", peers) as (store, config):
        store.migrate()
        with store.engine.begin() as c:
            rows = c.execute(
                sa.text(
                    "SELECT url, proved, holds, unproven_since, unproven_alerted FROM peers"
                    " ORDER BY url"
                )
            ).all()
            assert [tuple(r) for r in rows] == [
                ("https://a.example", "NOTE", 0, None, False),
                ("https://b.example", None, 0, None, False),
            ]
            config.attributes["connection"] = c
            command.downgrade(config, "0013")
            assert c.execute(sa.text("SELECT url, checkpoint FROM peers ORDER BY url")).all() == [
                ("https://a.example", "NOTE"),
                ("https://b.example", None),
            ]


def test_migration_0015_dates_each_held_head_from_when_the_peer_joined(tmp_path: Path) -> None:
    """A peer row of 0014 that holds a head is dated from ``since`` (its next hourly heads
    refresh it; a peer that sends none is reported unproven ``peer_silence`` after); one
    with none keeps NULL (dated from ``since`` too, when read). No relay was taken yet by
    the new rule: ``heard_at`` 0, so the next one, from any clock, is a sign of life."""
    peers = (
        "INSERT INTO peers (switch_id, url, since, last_asked, checkpoint) VALUES"
        " ('sw1', 'https://a.example', 7, 0, 'NOTE'), ('sw1', 'https://b.example', 8, 0, NULL)"
    )
    up = "SELECT url, heard_at, head_seen FROM peers ORDER BY url"
    after = [("https://a.example", 0, 7), ("https://b.example", 0, None)]
    down, back = "SELECT url, since FROM peers ORDER BY url", [("https://a.example", 7)]
    _up_and_down(tmp_path, "0014", peers, up, after, down, [*back, ("https://b.example", 8)])
