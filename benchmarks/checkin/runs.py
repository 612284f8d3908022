"""One measured run (a load against a server, or the engine without HTTP) and one database
from start to end: its servers, its runs in alternating order, its clean-up.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import secrets
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.checkin import KINDS, BenchError, log
from benchmarks.checkin.servers import Owner, Server, arm_all, proc_cpu, start_afterword, start_bare


@dataclass
class Run:
    kind: str
    ops: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    server_cpu: float
    load_cpu: float
    response_bytes: float
    error_samples: list[str] = field(default_factory=list)

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    def latency(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load(
    server: Server,
    kind: str,
    owners: list[Owner],
    args: argparse.Namespace,
    run_dir: Path,
    counters: dict[str, int],
) -> Run:
    """One measured load of ``kind`` (:data:`KINDS`) against ``server``. ``counters`` holds
    the highest one-request check-in counter signed per switch; the load carries on from
    it and leaves it where the load generator left it."""
    procs = max(1, min(args.procs, args.clients))
    start_at = time.time() + 1.5
    children = []
    for p in range(procs):
        threads = len(range(p, args.clients, procs))
        spec = {
            "port": server.port,
            "kind": kind,
            "threads": threads,
            "owners": [
                {**o.__dict__, "counter": counters.get(o.switch, 0)} for o in owners[p::procs]
            ],
            "start_at": start_at,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        spec_path = run_dir / f"load-{p}.json"
        spec_path.write_text(json.dumps(spec))
        argv = [sys.executable, "-m", "benchmarks.checkin", "--child-load", str(spec_path)]
        children.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    window_start = start_at + args.warmup
    time.sleep(max(0.0, window_start - time.time()))
    cpu0 = proc_cpu(server.proc.pid)
    time.sleep(max(0.0, window_start + args.duration - time.time()))
    cpu1 = proc_cpu(server.proc.pid)
    reports = []
    for child in children:
        out, err = child.communicate(timeout=args.duration + args.warmup + 120)
        if child.returncode != 0:
            raise BenchError(f"load generator failed:\n{err.decode(errors='replace')[-3000:]}")
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    for r in reports:
        counters.update(r["counters"])
    ops = sum(r["ops"] for r in reports)
    return Run(
        kind=kind,
        ops=ops,
        requests=sum(r["requests"] for r in reports),
        errors=sum(r["errors"] for r in reports),
        seconds=args.duration,
        latencies=[x for r in reports for x in r["latencies"]],
        server_cpu=cpu1 - cpu0,
        load_cpu=sum(r["cpu"] for r in reports),
        response_bytes=sum(r["bytes"] for r in reports) / max(ops, 1),
        error_samples=[e for r in reports for e in r["error_samples"]],
    )


def engine_only(
    url: str,
    data_dir: Path,
    owners: list[Owner],
    seconds: float,
    kind: str,
    counters: dict[str, int],
    profile: Path | None = None,
) -> Run:
    """The same check-ins without HTTP, called in this process one after another against
    the server's database and keys: ``engine`` is ``Engine.challenge`` +
    ``Engine.owner_request``, ``engine-checkin`` is ``Engine.signed_checkin`` (a
    ``checkin/1`` past ``counters``, which it moves on). With ``profile``, the calls run
    under cProfile and its statistics go to that file (cumulative, the top 60) and to
    ``profile`` with ``.prof`` (for pstats or snakeviz)."""
    from benchmarks.checkin.children import REQUEST_COUNTER
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from afterword.crypto.checkin import sign_checkin
    from afterword.crypto.encoding import b64encode, canonical_json
    from afterword.crypto.signing import REQUEST_KIND
    from afterword.engine import Config, Engine, ServerKeys
    from afterword.store import Store

    store = Store(url)
    profiler = cProfile.Profile() if profile is not None else None
    try:
        engine = Engine(store, ServerKeys.load_or_create(data_dir), Config(data_dir))
        keys = [
            (o.switch, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(o.seed))) for o in owners
        ]
        latencies: list[float] = []
        size = 0
        if profiler is not None:
            profiler.enable()
        cpu0, started = time.process_time(), time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            sid, key = keys[i % len(keys)]
            i += 1
            t0 = time.perf_counter()
            if kind == "engine-checkin":
                counters[sid] = counter = counters.get(sid, 0) + 1
                doc = sign_checkin(key, sid, int(time.time()), counter)
                status = engine.signed_checkin(sid, doc, client="afterword-bench")
            else:
                nonce = engine.challenge(sid)["nonce"]
                body = {
                    "afterword": REQUEST_KIND,
                    "switch": sid,
                    "action": "checkin",
                    "nonce": nonce,
                    "counter": next(REQUEST_COUNTER),
                }
                signed = {**body, "signature": b64encode(key.sign(canonical_json(body)))}
                status = engine.owner_request(sid, signed, client="afterword-bench")
            latencies.append(time.perf_counter() - t0)
            size += len(json.dumps(status))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
            _write_profile(profiler, profile)
        per_op = 1 if kind == "engine-checkin" else 2
        return Run(
            kind=kind,
            ops=len(latencies),
            requests=per_op * len(latencies),
            errors=0,
            seconds=elapsed,
            latencies=latencies,
            server_cpu=cpu,
            load_cpu=0.0,
            response_bytes=size / max(len(latencies), 1),
        )
    finally:
        store.close()


def _write_profile(profiler: cProfile.Profile, path: Path | None) -> None:
    assert path is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path.with_suffix(".prof")))
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(40)
    path.write_text(out.getvalue())
    log(f"profile written to {path} (and {path.with_suffix('.prof')})")


@dataclass
class DatabaseResult:
    name: str
    label: str
    runs: list[Run] = field(default_factory=list)

    def of(self, kind: str) -> list[Run]:
        return [r for r in self.runs if r.kind == kind]


def bench_database(
    name: str, args: argparse.Namespace, workdir: Path, owners: list[tuple[Owner, Path]]
) -> DatabaseResult:
    import sqlalchemy as sa

    run_dir = workdir / f"checkin-{name}-{secrets.token_hex(3)}"
    run_dir.mkdir(parents=True)
    admin = None
    db_name = ""
    servers: list[Server] = []
    try:
        if name == "postgresql":
            db_name = f"afterword_bench_{secrets.token_hex(4)}"
            admin = sa.create_engine(args.pg_admin, isolation_level="AUTOCOMMIT")
            try:
                with admin.connect() as c:
                    c.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
                    version = str(c.scalar(sa.text("SHOW server_version"))).split()[0]
            except sa.exc.OperationalError as exc:
                raise BenchError(f"PostgreSQL is needed at {args.pg_admin}: {exc.orig}") from exc
            url = args.pg_admin.rsplit("/", 1)[0] + "/" + db_name
            label = f"PostgreSQL {version}"
        else:
            url = f"sqlite:///{run_dir / 'afterword.db'}"
            label = f"SQLite {sqlite3.sqlite_version}"
        result = DatabaseResult(name, label)
        log(f"{label}: starting afterword serve and the bare app")
        afterword = start_afterword(url, run_dir / "server", run_dir)
        servers.append(afterword)
        started = time.perf_counter()
        arm_all(afterword, owners)
        log(f"{label}: armed {len(owners)} switches in {time.perf_counter() - started:.1f} s")
        bare = start_bare(url, run_dir)
        servers.append(bare)
        plain = [o for o, _ in owners]
        counters: dict[str, int] = {}  # highest checkin/1 counter signed per switch
        for i in range(args.repeat):
            order = KINDS[i % len(KINDS) :] + KINDS[: i % len(KINDS)]  # each first in turn
            for kind in order:
                server = bare if kind == "bare" else afterword
                run = load(server, kind, plain, args, run_dir, counters)
                result.runs.append(run)
                log(
                    f"{label} run {i + 1}/{args.repeat} {kind:9}: "
                    f"{run.ops_per_s:7.1f} {'inserts' if kind == 'bare' else 'check-ins'}/s, "
                    f"{run.requests_per_s:7.1f} HTTP requests/s, p50 "
                    f"{run.latency(0.5) * 1000:.1f} ms, p99 {run.latency(0.99) * 1000:.1f} ms, "
                    f"server CPU {run.server_cpu:.1f} s, "
                    f"load CPU {run.load_cpu:.1f} s, {run.errors} errors, "
                    f"{run.response_bytes:.0f} B/response"
                )
                for sample in run.error_samples[:3]:
                    log(f"  error: {sample}")
        data_dir = run_dir / "server"
        for kind in ("engine", "engine-checkin"):
            run = engine_only(url, data_dir, plain, args.duration, kind, counters)
            result.runs.append(run)
            log(
                f"{label} {kind} in-process: {run.ops_per_s:7.1f} check-ins/s, p50 "
                f"{run.latency(0.5) * 1000:.1f} ms, CPU "
                f"{run.server_cpu / max(run.ops, 1) * 1000:.2f} ms/check-in, "
                f"{run.response_bytes:.0f} B/status"
            )
        if args.profile is not None:  # runs of their own: cProfile slows what it watches
            for kind in ("engine", "engine-checkin"):
                profile = args.profile / f"{kind}-{name}.txt"
                engine_only(url, data_dir, plain, args.duration, kind, counters, profile)
        return result
    finally:
        for server in servers:
            server.stop()
        if admin is not None:
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
