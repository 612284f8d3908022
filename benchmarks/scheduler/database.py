"""One database from start to end: create it (PostgreSQL) or its file (SQLite), migrate,
insert the population, run every scenario ``--repeat`` times, and drop it again.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scheduler import APP_NAME, BenchError, log
from benchmarks.scheduler.population import Population, Template, insert_population, rehearse
from benchmarks.scheduler.scenario import DatabaseResult, run_scenario


@dataclass
class _Handles:
    """What the clean-up after a database's run must close or drop, as it is made."""

    admin: Any = None
    db_name: str = ""
    store: Any = None


def bench_database(
    name: str, args: argparse.Namespace, workdir: Path, template: Template
) -> DatabaseResult:
    from afterword.engine import ServerKeys
    from afterword.store import Store

    run_dir = workdir / f"scheduler-{name}-{secrets.token_hex(3)}"
    data_dir = run_dir / "server"
    data_dir.mkdir(parents=True)
    ServerKeys.load_or_create(data_dir)
    handles = _Handles()
    try:
        url, worker_url, admin_url, label, workers, version = _create(name, args, run_dir, handles)
        log(f"{label}: {url}")
        store = handles.store = Store(url)
        store.migrate()
        log(f"{label}: inserting {args.switches:,} armed switches")
        population = insert_population(
            store, args.switches, args.due, template, args.outbox_history
        )
        _settle(name, store, run_dir, handles.db_name, population)
        population.lead = rehearse(store, population)
        result = DatabaseResult(name, label, version, population)
        log(
            f"{label}: {args.switches:,} switches in {population.insert_seconds:.1f} s "
            f"({args.switches / population.insert_seconds:,.0f}/s), "
            f"{population.size_bytes / 2**20:,.0f} MiB"
        )
        _run_scenarios(result, store, worker_url, data_dir, args, workers, admin_url, run_dir)
        if args.profile:
            for path in sorted(run_dir.glob("profile-*.txt")):
                target = workdir / path.name
                shutil.copy(path, target)
                log(f"profile: {target}")
        return result
    finally:
        _clean_up(handles, args, run_dir)


def _create(
    name: str, args: argparse.Namespace, run_dir: Path, handles: _Handles
) -> tuple[str, str, str | None, str, int, str]:
    """A fresh database: (url, the workers' url, admin url, label, workers, version)."""
    import sqlalchemy as sa

    admin_url = None
    if name == "postgresql":
        db_name = handles.db_name = f"afterword_bench_{secrets.token_hex(4)}"
        admin = handles.admin = sa.create_engine(args.pg_admin, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
                version = str(c.scalar(sa.text("SHOW server_version")))
        except sa.exc.OperationalError as exc:
            raise BenchError(f"PostgreSQL is needed at {args.pg_admin}: {exc.orig}") from exc
        url = args.pg_admin.rsplit("/", 1)[0] + "/" + db_name
        admin_url = url
        worker_url = f"{url}?application_name={APP_NAME}"
        label, workers = f"PostgreSQL {version.split()[0]}", args.pg_workers
    else:
        url = worker_url = f"sqlite:///{run_dir / 'afterword.db'}"
        version = sqlite3.sqlite_version
        label, workers = f"SQLite {version}", 1
    return url, worker_url, admin_url, label, workers, version


def _settle(name: str, store: Any, run_dir: Path, db_name: str, population: Population) -> None:
    """Vacuum (PostgreSQL) or checkpoint (SQLite) after the insert, and measure the size."""
    import sqlalchemy as sa

    if name == "postgresql":
        # as autovacuum would long since have done on a server that has been running
        # (left to itself, it works through the fresh gigabytes during the scenarios)
        with store.engine.connect() as c:
            c = c.execution_options(isolation_level="AUTOCOMMIT")
            c.execute(sa.text("VACUUM (ANALYZE)"))
            size = c.scalar(sa.text("SELECT pg_database_size(:d)"), {"d": db_name})
        population.size_bytes = int(size)
    else:
        store.engine.dispose()
        with contextlib.closing(sqlite3.connect(run_dir / "afterword.db")) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        population.size_bytes = (run_dir / "afterword.db").stat().st_size


def _run_scenarios(
    result: DatabaseResult,
    store: Any,
    worker_url: str,
    data_dir: Path,
    args: argparse.Namespace,
    workers: int,
    admin_url: str | None,
    run_dir: Path,
) -> None:
    label = result.label
    for rep in range(args.repeat):
        for scenario in args.scenarios:
            log(
                f"{label}: {scenario}, {args.due:,} due, {workers} worker(s), "
                f"run {rep + 1}/{args.repeat}"
            )
            r = run_scenario(
                result,
                store,
                worker_url,
                data_dir,
                scenario,
                args,
                workers,
                admin_url,
                run_dir,
            )
            log(
                f"  {r.moved:,} moved, {r.rate:,.0f}/s, lag p50 {r.lag(0.5):.3f} s "
                f"p99 {r.lag(0.99):.3f} s max {r.lag(1.0):.3f} s, busy {r.busy:.0%}, "
                f"{r.statements / max(r.moved, 1):.1f} statements and "
                f"{r.messages / max(r.moved, 1):.1f} messages per transition, "
                f"client CPU {r.client_cpu:.1f} s"
                + (f", server CPU {r.server_cpu:.1f} s" if r.server_cpu is not None else "")
            )
            result.scenarios.append(r)


def _clean_up(handles: _Handles, args: argparse.Namespace, run_dir: Path) -> None:
    import sqlalchemy as sa

    if handles.store is not None:
        handles.store.close()
    if handles.admin is not None:
        with handles.admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{handles.db_name}" WITH (FORCE)'))
        handles.admin.dispose()
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
