"""One scenario on one database: re-arm the due crowd, let the workers drain it, and check
that every due switch moved exactly once; what a run measured (``ScenarioResult``).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.scheduler import APP_NAME, BenchError, log
from benchmarks.scheduler.population import Population, rearm
from benchmarks.scheduler.workers import worker_main


@dataclass
class ScenarioResult:
    database: str
    scenario: str
    workers: int
    due: int
    moved: int
    rate: float  # transitions per second, first deadline to last commit
    lags: list[float]
    busy: float  # share of the span the workers spent inside ticks that moved switches
    max_triggered: int
    client_cpu: float  # seconds, all workers
    server_cpu: float | None  # seconds, the workers' PostgreSQL backends
    errors: int
    rearm_seconds: float
    statements: int  # sent by ticks that moved switches, all workers
    messages: int  # outbox messages the transitions queued
    problems: list[str] = field(default_factory=list)

    def lag(self, q: float) -> float:
        if not self.lags:
            return math.nan
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class DatabaseResult:
    name: str
    label: str
    version: str
    population: Population
    scenarios: list[ScenarioResult] = field(default_factory=list)


def backend_cpu(admin_url: str | None) -> dict[int, float]:
    """CPU seconds of the PostgreSQL backends serving the workers (same machine only)."""
    if admin_url is None:
        return {}
    import sqlalchemy as sa

    ticks = os.sysconf("SC_CLK_TCK")
    engine = sa.create_engine(admin_url)
    try:
        with engine.connect() as c:
            pids = c.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": APP_NAME},
            ).scalars()
            result = {}
            for pid in pids:
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    result[pid] = (int(fields[11]) + int(fields[12])) / ticks
                except (OSError, IndexError, ValueError):
                    continue
            return result
    finally:
        engine.dispose()


def run_scenario(
    db: DatabaseResult,
    store: Any,
    url: str,
    data_dir: Path,
    scenario: str,
    args: argparse.Namespace,
    workers: int,
    admin_url: str | None,
    workdir: Path,
) -> ScenarioResult:
    ctx = mp.get_context("spawn")
    counter = ctx.Value("q", 0)
    failures = ctx.Value("q", 0)
    stop = ctx.Event()
    out = ctx.Queue()
    procs = []
    for i in range(workers):
        spec = {
            "index": i,
            "url": url,
            "data_dir": str(data_dir),
            "batch": args.batch,
            "breaker": args.breaker,
            "poll": args.poll,
            "interval": args.interval,
            "loop": "shipped" if scenario == "shipped" else "bench",
            "profile": (
                str(workdir / f"profile-{db.name}-{scenario}-{i}.txt")
                if args.profile and i == 0
                else ""
            ),
        }
        p = ctx.Process(target=worker_main, args=(spec, counter, failures, stop, out), daemon=True)
        p.start()
        procs.append(p)
    try:
        drive = _drive(db, store, scenario, args, admin_url, procs, counter, failures, stop, out)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    return _result(db, store, scenario, workers, admin_url, drive)


@dataclass
class _Drive:
    """What the scenario's run left to check: the workers' reports and the deadlines."""

    results: dict[int, Any]
    t0: int
    deadlines: list[int]
    deadline_of: dict[str, int]
    rearm_seconds: float
    late: bool
    cpu_before: dict[int, float]
    cpu_after: dict[int, float]


def _drive(
    db: DatabaseResult,
    store: Any,
    scenario: str,
    args: argparse.Namespace,
    admin_url: str | None,
    procs: list[Any],
    counter: Any,
    failures: Any,
    stop: Any,
    out: Any,
) -> _Drive:
    """Wait for the workers, re-arm the due crowd, wait until it moved, collect reports."""
    due_ids = db.population.due_ids
    due = len(due_ids)
    workers = len(procs)
    results: dict[int, Any] = {}
    ready = 0
    while ready < workers:
        kind, index, payload = out.get(timeout=120)
        if kind == "failed":
            raise BenchError(f"worker {index} failed to start:\n{payload}")
        ready += kind == "ready"
    t0 = math.ceil(time.time()) + db.population.lead
    if scenario == "burst":
        deadlines = [t0] * due
    else:
        deadlines = [t0 + (j * args.window) // due for j in range(due)]
    deadline_of = dict(zip(due_ids, deadlines, strict=True))
    rearm_seconds = rearm(store, due_ids, deadlines)
    late = time.time() > t0
    cpu_before = backend_cpu(admin_url)
    limit = t0 + args.window + args.timeout
    last_report = time.time()
    while counter.value < due and time.time() < limit:
        if any(not p.is_alive() for p in procs):
            break
        if failures.value >= 20:
            raise BenchError("the workers' ticks keep failing (see the log above)")
        time.sleep(0.1)
        if time.time() - last_report > 15:
            last_report = time.time()
            log(f"  {counter.value:,} / {due:,} moved")
    cpu_after = backend_cpu(admin_url)
    stop.set()
    while len(results) < workers:
        kind, index, payload = out.get(timeout=300)
        if kind == "failed":
            raise BenchError(f"worker {index} failed:\n{payload}")
        if kind == "done":
            results[index] = payload
    return _Drive(results, t0, deadlines, deadline_of, rearm_seconds, late, cpu_before, cpu_after)


def _result(
    db: DatabaseResult,
    store: Any,
    scenario: str,
    workers: int,
    admin_url: str | None,
    drive: _Drive,
) -> ScenarioResult:
    """Check that every due switch moved exactly once, none was held, each has its
    'triggered' entry; and what the run measured."""
    import sqlalchemy as sa

    from afterword.store.models import AuditRow, OutboxRow, SwitchRow

    due_ids = db.population.due_ids
    due = len(due_ids)
    results, t0, deadlines, deadline_of = (
        drive.results,
        drive.t0,
        drive.deadlines,
        drive.deadline_of,
    )
    rearm_seconds, late = drive.rearm_seconds, drive.late
    cpu_before, cpu_after = drive.cpu_before, drive.cpu_after
    moved = [m for r in results.values() for m in r["moved"]]
    stats = [r["stats"] for r in results.values()]
    problems = []
    seen: dict[str, float] = {}
    for sid, wall in moved:
        if sid in seen:
            problems.append(f"switch {sid} moved twice")
        seen[sid] = wall
    missing = [sid for sid in due_ids if sid not in seen]
    if missing:
        problems.append(f"{len(missing)} of {due} due switches were not moved in time")
    stray = [sid for sid in seen if sid not in deadline_of]
    if stray:
        problems.append(f"{len(stray)} switches moved that were not due")
    lags = [seen[sid] - deadline_of[sid] for sid in due_ids if sid in seen]
    with store.engine.connect() as c:
        held = c.scalar(sa.select(sa.func.count()).where(SwitchRow.held.is_(True)))
        triggered = c.scalar(
            sa.select(sa.func.count()).where(AuditRow.kind == "triggered", AuditRow.at >= t0)
        )
        messages = c.scalar(sa.select(sa.func.count()).where(OutboxRow.created_at >= t0))
    if held:
        problems.append(f"{held} switches held by the breaker")
    if late:  # the workers waited for the benchmark: its rate and lags count that wait
        problems.append(f"re-arming took {rearm_seconds:.2f} s, past the first deadline")
    if triggered != len(seen):
        problems.append(f"{triggered} 'triggered' audit entries for {len(seen)} moved switches")
    span = (max(seen.values()) - min(deadlines)) if seen else math.nan
    server = None
    if admin_url is not None:
        server = sum(cpu_after.get(pid, 0.0) - t for pid, t in cpu_before.items())
    result = ScenarioResult(
        database=db.name,
        scenario=scenario,
        workers=workers,
        due=due,
        moved=len(seen),
        rate=len(seen) / span if seen else 0.0,
        lags=lags,
        busy=sum(s["busy"] for s in stats) / (span * workers) if seen else 0.0,
        max_triggered=max((s["max_triggered"] for s in stats), default=0),
        client_cpu=sum(s["cpu"] for s in stats),
        server_cpu=server,
        errors=sum(s["errors"] for s in stats),
        rearm_seconds=rearm_seconds,
        statements=sum(s["statements"] for s in stats),
        messages=int(messages or 0),
        problems=problems,
    )
    for problem in problems:
        log(f"  PROBLEM: {problem}")
    return result
