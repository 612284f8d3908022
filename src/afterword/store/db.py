"""Engines, migrations and transactions for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import importlib.resources
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import platformdirs
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from afterword.errors import AfterwordError

_AFTER_COMMIT = "afterword.after_commit"

POOL: dict[str, Any] = {"pool_size": 20, "max_overflow": 10}
"""Connections kept open, and how many more a burst may open. The web layer runs up to 40
engine calls at once (its thread pool); with SQLAlchemy's default of 5 kept, every
request beyond the fifth opened a connection and closed it again (on PostgreSQL a new
server process each time, and no prepared statements), which under load cost more than
the requests themselves. Connections are opened only when needed."""


SPARE = 4
"""SQLite: connections kept open between transactions (see ``Store.connect``)."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("afterword", appauthor=False))


def default_database_url(data_dir: Path | None = None) -> str:
    """The embedded default: SQLite in the user's data directory."""
    folder = data_dir or default_data_dir()
    return f"sqlite:///{folder / 'afterword.db'}"


def _sqlite_engine(url: str) -> Engine:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:" and not path.startswith("file:"):
        _private_file(Path(path.split("?", 1)[0]))
    engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **POOL)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # autocommit mode at the driver, so that BEGIN below is ours alone
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed release survives power loss
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # one writer at a time, decided when the transaction starts, so two writers never
        # deadlock upgrading read locks: SQLite's stand-in for SELECT ... FOR UPDATE.
        # Sent on the driver's connection: through SQLAlchemy's statement machinery it cost
        # a sixth of a short transaction. Its errors are wrapped as SQLAlchemy's would be.
        try:
            connection.connection.driver_connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                "BEGIN IMMEDIATE", (), exc, sqlite3.Error, hide_parameters=True
            ) from exc

    return engine


def _private_file(path: Path) -> None:
    """The database holds TOTP secrets, password hashes and duress flags: only its owner
    may read it. A folder made for it is 0700 (one that was there is left as it is: it may
    be anyone's, /tmp say); the file is made 0600 before SQLite opens it, and an older one
    is tightened. SQLite gives its -wal, -shm and -journal files the database's own mode."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        folder.chmod(0o700)  # mkdir's mode passes through the umask
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm", "-journal"))):
        with contextlib.suppress(FileNotFoundError):
            name.chmod(0o600)


def _check_temporary_tables(connection: Connection) -> None:
    """PostgreSQL: the scheduler stages its batch writes in temporary tables
    (``repository.record_many``), so the role must be allowed to make them. Refused at
    start, with what to do, rather than at the first tick that has work."""
    query = "SELECT current_user, current_database(), "
    query += "has_database_privilege(current_database(), 'TEMPORARY')"
    user, database, allowed = connection.exec_driver_sql(query).one()
    if not allowed:
        raise AfterwordError(
            f"the database role {user!r} may not create temporary tables in {database!r}, "
            "which afterword's scheduler writes its batches through",
            f'as the database\'s owner: GRANT TEMPORARY ON DATABASE "{database}" TO "{user}"',
        )


class Store:
    """A database with afterword's schema. ``transaction()`` is the unit of change.

    Statement parameters are hidden from SQLAlchemy's errors and logs: a failed insert of a
    release must not print the dossier key into a log.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.engine = _sqlite_engine(url)
        elif url.startswith("postgresql"):
            self.engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **POOL)
        else:
            raise AfterwordError(
                f"unsupported database URL {url.split(':', 1)[0]}:...",
                "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # sessions closed and ready for the next transaction: a session costs a sixth of
        # a short transaction to make; a closed one holds nothing (no objects, no
        # connection) and is documented as usable again
        self._idle: list[Session] = []
        # SQLite: a few connections kept between transactions, idle (no transaction open,
        # so no lock held), rather than given back to the pool and taken out again: that
        # round trip cost a third of a short transaction. A SQLite file never goes stale;
        # PostgreSQL's connections always go back, to be pinged when next taken out.
        self._spare: list[Connection] | None = [] if url.startswith("sqlite") else None

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic), as every start does."""
        config = self.alembic_config()
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if self.is_postgres:
                    _check_temporary_tables(connection)
        except OperationalError as exc:
            raise AfterwordError(
                f"cannot open the database: {exc.orig}", "check --db / AFTERWORD_DATABASE_URL"
            ) from exc
        except ProgrammingError as exc:  # e.g. permission denied for schema public
            raise AfterwordError(
                f"cannot prepare the database: {exc.orig}",
                "the role in --db / AFTERWORD_DATABASE_URL needs to create tables in its schema",
            ) from exc

    @staticmethod
    def alembic_config() -> Config:
        """Alembic's configuration for afterword's migrations (the connection to run them
        on goes in ``config.attributes["connection"]``)."""
        config = Config()
        location = importlib.resources.files("afterword.store") / "migrations"
        config.set_main_option("script_location", str(location))
        return config

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose changes commit together, or not at all."""
        try:
            session = self._idle.pop()  # (atomic: each thread takes a session of its own)
        except IndexError:
            session = self._sessions()
        with self.connect() as connection:
            session.bind = connection  # the session begins, commits and ends its transaction
            try:
                with session.begin():
                    yield session
                hooks = session.info.pop(_AFTER_COMMIT, [])
            finally:
                session.close()
                session.info.clear()
                self._idle.append(session)
        for hook in hooks:
            hook()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A transaction on a plain connection, for work done in SQLAlchemy Core statements
        alone (no ORM objects): it commits like ``transaction()``, with half its overhead."""
        with self.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A plain connection with no transaction open, for work that runs several
        transactions in a row (``with connection.begin():`` each)."""
        spare = self._spare
        try:
            connection = spare.pop() if spare else self.engine.connect()
        except IndexError:  # (another thread took the last one meanwhile)
            connection = self.engine.connect()
        try:
            yield connection
        finally:
            if (
                spare is not None
                and len(spare) < SPARE
                and not connection.closed
                and not connection.invalidated
                and not connection.in_transaction()
            ):
                spare.append(connection)
            else:
                connection.close()

    @staticmethod
    def after_commit(session: Session, hook: Callable[[], None]) -> None:
        """Run ``hook`` once ``session``'s transaction has committed (never if it rolls
        back): for what cannot be undone, like deleting a file."""
        session.info.setdefault(_AFTER_COMMIT, []).append(hook)

    def close(self) -> None:
        """Close every connection (the spare ones too) and forget every session."""
        self._idle.clear()
        while self._spare:
            self._spare.pop().close()
        self.engine.dispose()
