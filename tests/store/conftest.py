"""Real databases: a SQLite file and a fresh PostgreSQL database per test session.

PostgreSQL is required (CI starts it): the suite fails rather than skips without it.
``AFTERWORD_TEST_PG`` overrides the admin URL (default: user postgres on 127.0.0.1:5432,
database test).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from afterword.store import Store

PG_ADMIN = os.environ.get("AFTERWORD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_database(prefix: str = "afterword_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (its SQLAlchemy URL), dropped afterwards even if
    a server still holds connections to it. A test that needs PostgreSQL fails without
    it: CI starts it (.ci/run)."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        except sa.exc.OperationalError as exc:
            pytest.fail(f"PostgreSQL is needed at {PG_ADMIN} (.ci/run starts it): {exc.orig}")
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same tests on both databases, each starting from an empty schema."""
    if request.param == "sqlite":
        db = Store(f"sqlite:///{tmp_path / 'afterword.db'}")
    else:
        url = request.getfixturevalue("pg_url")
        db = Store(url)
        with db.engine.begin() as c:
            c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    db.migrate()
    yield db
    db.close()
