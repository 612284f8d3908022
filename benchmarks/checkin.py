"""Signed check-ins per second over HTTP, next to a bare FastAPI INSERT endpoint, same run.

Usage::

    .venv/bin/python benchmarks/checkin.py                   # SQLite and PostgreSQL
    .venv/bin/python benchmarks/checkin.py --quick           # shorter runs
    .venv/bin/python benchmarks/checkin.py --write-docs      # also docs/benchmarks.md

For each database it starts two servers on loopback, each a single uvicorn process:

- ``afterword serve`` itself (the real CLI: web API and its idle worker thread), with
  ``--switches`` switches armed through the HTTP API from bundles sealed here, one owner
  key each;
- a bare FastAPI app written below whose one endpoint parses a JSON body and INSERTs it
  into a table of the same database, through an ``afterword.store.Store`` (same driver,
  pool and SQLite pragmas), in a sync endpoint.

A load generator (``--procs`` processes, ``--clients`` threads in all, each with its own
keep-alive connection, stdlib ``http.client``) then does, as fast as it can for
``--duration`` seconds after ``--warmup``: against afterword, a check-in as ``afterword
checkin`` does it (POST challenge, sign the request over canonical JSON with the owner's
Ed25519 key, POST it), each client going round its own switches; against the bare app, one
POST of a body of the same size. Runs alternate between the two servers; the medians are
reported. One check-in is two HTTP requests.

Progress goes to stderr; the Markdown table goes to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import DEFAULT_WORKDIR, DOCS, PG_ADMIN, load_text, machine, replace_section

SECTION = "checkin"

RATIO_TARGET = 0.7
INTERVAL = 7 * 86400


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure with a message for the person running the benchmark."""


# ---------------------------------------------------------------------------------------
# The bare server (child process)


def child_bare(url: str, port: int) -> int:
    import uvicorn
    from fastapi import Body, FastAPI
    from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, insert

    from afterword.store import Store

    store = Store(url)
    meta = MetaData()
    hits = Table(
        "bench_checkins",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", BigInteger, nullable=False),
        Column("body", Text, nullable=False),
    )
    meta.create_all(store.engine)
    app = FastAPI(title="bare")

    @app.post("/checkin")
    def checkin(body: dict[str, Any] = Body(...)) -> dict[str, Any]:
        with store.engine.begin() as c:
            c.execute(insert(hits).values(at=int(time.time()), body=json.dumps(body)))
        return {"ok": True}

    @app.get("/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    return 0


# ---------------------------------------------------------------------------------------
# The load generator (child process)


def child_load(spec_path: Path) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from afterword.crypto.encoding import b64encode, canonical_json
    from afterword.crypto.signing import REQUEST_KIND

    spec = json.loads(spec_path.read_text())
    port, kind, threads = spec["port"], spec["kind"], spec["threads"]
    owners = [
        (o["switch"], Ed25519PrivateKey.from_private_bytes(bytes.fromhex(o["seed"])))
        for o in spec["owners"]
    ]
    start, warmup, duration = spec["start_at"], spec["warmup"], spec["duration"]
    t_begin, t_end = start + warmup, start + warmup + duration
    headers = {"Content-Type": "application/json", "User-Agent": "afterword-bench"}
    lock = threading.Lock()
    totals = {"ops": 0, "requests": 0, "errors": 0, "bytes": 0}
    latencies: list[float] = []
    errors: list[str] = []

    def sign(body: dict[str, Any], key: Ed25519PrivateKey) -> bytes:
        signed = {**body, "signature": b64encode(key.sign(canonical_json(body)))}
        return json.dumps(signed).encode()

    def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def client(mine: list[tuple[str, Ed25519PrivateKey]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ops = requests = errs = size = 0
        lats: list[float] = []
        sid0, key0 = mine[0]
        body0 = {"afterword": REQUEST_KIND, "switch": sid0, "action": "checkin"}
        bare = sign({**body0, "nonce": secrets.token_hex(16)}, key0)
        i = 0
        while time.time() < start:
            time.sleep(0.001)
        while True:
            now = time.time()
            if now >= t_end:
                break
            counted = now >= t_begin
            t0 = time.perf_counter()
            try:
                if kind == "bare":
                    status, data = post(conn, "/checkin", bare)
                    n, ok = 1, status == 200
                else:
                    sid, key = mine[i % len(mine)]
                    i += 1
                    status, data = post(conn, f"/switches/{sid}/challenge", b"")
                    n, ok = 1, status == 200
                    if ok:
                        nonce = json.loads(data)["nonce"]
                        body = {**body0, "switch": sid, "nonce": nonce}
                        status, data = post(conn, f"/switches/{sid}/owner", sign(body, key))
                        n = 2
                        ok = status == 200 and json.loads(data).get("state") == "armed"
            except (OSError, http.client.HTTPException) as exc:
                ok, n, status, data = False, 1, 0, str(exc).encode()
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            elapsed = time.perf_counter() - t0
            if not counted or time.time() > t_end:
                continue
            requests += n
            if ok:
                ops += 1
                size += len(data)
                lats.append(elapsed)
            else:
                errs += 1
                if len(errors) < 5:
                    errors.append(f"{status}: {data[:200]!r}")
        conn.close()
        with lock:
            totals["ops"] += ops
            totals["requests"] += requests
            totals["errors"] += errs
            totals["bytes"] += size
            latencies.extend(lats)

    groups = [owners[t::threads] for t in range(threads)]
    workers = [threading.Thread(target=client, args=(g,)) for g in groups if g]
    cpu0 = time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    report = {
        **totals,
        "latencies": latencies,
        "cpu": time.process_time() - cpu0,
        "error_samples": errors,
    }
    print(json.dumps(report), flush=True)
    return 0


# ---------------------------------------------------------------------------------------
# Orchestration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"the {server.kind} server exited ({server.proc.returncode}):\n"
                + server.log_path.read_text(errors="replace")[-3000:]
            )
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                conn.close()
                return
        time.sleep(0.2)
    raise BenchError(f"the {server.kind} server did not answer on port {server.port}")


def start_afterword(url: str, data_dir: Path, run_dir: Path) -> Server:
    port = free_port()
    exe = Path(sys.executable).with_name("afterword")
    argv = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--db", url, "--data-dir", str(data_dir)]
    log_path = run_dir / "afterword-serve.log"
    # the run arms all its switches from loopback: no arming quota
    env = {
        **os.environ,
        "AFTERWORD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "AFTERWORD_ARM_QUOTA": "0",
    }
    env.pop("AFTERWORD_SMTP_URL", None)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    server = Server("afterword", port, proc, log_path)
    wait_ready(server, "/.well-known/afterword")
    return server


def start_bare(url: str, run_dir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--child-bare", url, str(port)]
    log_path = run_dir / "bare-serve.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    server = Server("bare", port, proc, log_path)
    wait_ready(server, "/health")
    return server


@dataclass
class Owner:
    switch: str
    seed: str  # Ed25519 private key, hex


def seal_owners(count: int, folder: Path) -> list[tuple[Owner, Path]]:
    """``count`` real bundles, each with its own owner key (armed on every database)."""
    import pyrage
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    from afterword.crypto.bundle import Custodian, seal_bundle
    from afterword.crypto.keys import OwnerKey

    src = folder / "evidence"
    src.mkdir(parents=True)
    (src / "ledger.csv").write_text("date,amount\n2024-01-01,100\n")
    recipients = [str(pyrage.x25519.Identity.generate().to_public()) for _ in range(2)]
    custodians = [
        Custodian("alice", recipients[0]),
        Custodian("bob", recipients[1]),
        Custodian("carol", "paper"),
    ]
    result = []
    for i in range(count):
        owner = OwnerKey.generate()
        sealed = seal_bundle([src], folder / f"bundle-{i:04d}", owner, custodians, 2)
        seed = owner.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        result.append((Owner(sealed.switch, seed.hex()), sealed.bundle))
    return result


def arm_all(server: Server, owners: list[tuple[Owner, Path]]) -> None:
    from afterword.client import Client

    contacts = {
        "owner": ["mailto:owner@example.org"],
        "custodians": {
            "alice": "mailto:alice@example.org",
            "bob": "mailto:bob@example.org",
            "carol": "mailto:carol@example.org",
        },
        "recipients": ["mailto:press@example.org"],
    }
    with Client(f"http://127.0.0.1:{server.port}") as client:
        for _owner, bundle in owners:
            client.arm(
                bundle,
                policy={"interval": INTERVAL, "grace": 86400, "waiting": 86400},
                contacts=contacts,
                server_custodians=[],
            )


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


def load(server: Server, owners: list[Owner], args: argparse.Namespace, run_dir: Path) -> Run:
    procs = max(1, min(args.procs, args.clients))
    start_at = time.time() + 1.5
    children = []
    for p in range(procs):
        threads = len(range(p, args.clients, procs))
        spec = {
            "port": server.port,
            "kind": server.kind,
            "threads": threads,
            "owners": [o.__dict__ for o in owners[p::procs]],
            "start_at": start_at,
            "warmup": args.warmup,
            "duration": args.duration,
        }
        spec_path = run_dir / f"load-{p}.json"
        spec_path.write_text(json.dumps(spec))
        argv = [sys.executable, str(Path(__file__).resolve()), "--child-load", str(spec_path)]
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
    ops = sum(r["ops"] for r in reports)
    return Run(
        kind=server.kind,
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


def engine_only(url: str, data_dir: Path, owners: list[Owner], seconds: float) -> Run:
    """The same check-ins without HTTP: ``Engine.challenge`` + ``Engine.owner_request``
    called in this process, one after another, against the server's database and keys."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from afterword.crypto.encoding import b64encode, canonical_json
    from afterword.crypto.signing import REQUEST_KIND
    from afterword.engine import Config, Engine, ServerKeys
    from afterword.store import Store

    store = Store(url)
    try:
        engine = Engine(store, ServerKeys.load_or_create(data_dir), Config(data_dir))
        keys = [
            (o.switch, Ed25519PrivateKey.from_private_bytes(bytes.fromhex(o.seed))) for o in owners
        ]
        latencies: list[float] = []
        size = 0
        cpu0, started = time.process_time(), time.perf_counter()
        i = 0
        while time.perf_counter() - started < seconds:
            sid, key = keys[i % len(keys)]
            i += 1
            t0 = time.perf_counter()
            nonce = engine.challenge(sid)["nonce"]
            body = {"afterword": REQUEST_KIND, "switch": sid, "action": "checkin", "nonce": nonce}
            signed = {**body, "signature": b64encode(key.sign(canonical_json(body)))}
            status = engine.owner_request(sid, signed, client="afterword-bench")
            latencies.append(time.perf_counter() - t0)
            size += len(json.dumps(status))
        elapsed = time.perf_counter() - started
        return Run(
            kind="engine",
            ops=len(latencies),
            requests=2 * len(latencies),
            errors=0,
            seconds=elapsed,
            latencies=latencies,
            server_cpu=time.process_time() - cpu0,
            load_cpu=0.0,
            response_bytes=size / max(len(latencies), 1),
        )
    finally:
        store.close()


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
        for i in range(args.repeat):
            order = (bare, afterword) if i % 2 == 0 else (afterword, bare)
            for server in order:
                run = load(server, plain, args, run_dir)
                result.runs.append(run)
                kind_is_aw = server.kind == "afterword"
                log(
                    f"{label} run {i + 1}/{args.repeat} {server.kind:9}: "
                    f"{run.ops_per_s:7.1f} {'check-ins' if kind_is_aw else 'inserts'}/s, "
                    f"{run.requests_per_s:7.1f} HTTP requests/s, p50 "
                    f"{run.latency(0.5) * 1000:.1f} ms, p99 {run.latency(0.99) * 1000:.1f} ms, "
                    f"server CPU {run.server_cpu:.1f} s, "
                    f"load CPU {run.load_cpu:.1f} s, {run.errors} errors, "
                    f"{run.response_bytes:.0f} B/response"
                )
                for sample in run.error_samples[:3]:
                    log(f"  error: {sample}")
        run = engine_only(url, run_dir / "server", plain, args.duration)
        result.runs.append(run)
        log(
            f"{label} engine in-process: {run.ops_per_s:7.1f} check-ins/s, p50 "
            f"{run.latency(0.5) * 1000:.1f} ms, CPU {run.server_cpu / max(run.ops, 1) * 1000:.2f}"
            f" ms/check-in, {run.response_bytes:.0f} B/status"
        )
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


# ---------------------------------------------------------------------------------------
# Report


def med(runs: list[Run], key: Any) -> float:
    return statistics.median(key(r) for r in runs)


def markdown(dbs: list[DatabaseResult], args: argparse.Namespace) -> str:
    lines = [
        "| database | server | check-ins/s | HTTP requests/s | latency p50 ms | latency p99 ms "
        "| server CPU ms/request | server process busy | bytes/response | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for db in dbs:
        for kind, title in (
            ("bare", "bare FastAPI + INSERT"),
            ("afterword", "afterword serve"),
            ("engine", "afterword engine alone: no HTTP, 1 thread"),
        ):
            runs = db.of(kind)
            if not runs:
                continue
            checkins = f"{med(runs, lambda r: r.ops_per_s):,.0f}" if kind != "bare" else "-"
            http = f"{med(runs, lambda r: r.requests_per_s):,.0f}" if kind != "engine" else "-"
            lines.append(
                f"| {db.label} | {title} | {checkins} | {http} | "
                f"{med(runs, lambda r: r.latency(0.5)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.latency(0.99)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.server_cpu / max(r.requests, 1)) * 1000:.2f} | "
                f"{med(runs, lambda r: r.server_cpu / r.seconds):.0%} | "
                f"{med(runs, lambda r: r.response_bytes):,.0f} | {sum(r.errors for r in runs)} |"
            )
        bare, aw = db.of("bare"), db.of("afterword")
        if bare and aw:
            b = med(bare, lambda r: r.requests_per_s)
            ratio = med(aw, lambda r: r.requests_per_s) / b
            ratio_ci = med(aw, lambda r: r.ops_per_s) / b
            ok = "met" if ratio >= RATIO_TARGET else "**missed**"
            runs_text = "; ".join(
                f"{r.kind} {r.requests_per_s:,.0f}" for r in db.runs if r.kind != "engine"
            )
            summary.append(
                f"- **{db.label}**: afterword / bare HTTP requests per second = "
                f"**{ratio:.2f}** (target >= {RATIO_TARGET}: {ok}); check-ins per second / "
                f"bare requests per second = {ratio_ci:.2f}. An afterword owner response "
                f"carried {med(aw, lambda r: r.response_bytes):,.0f} bytes on average. "
                f"Runs in order (HTTP requests/s): {runs_text}."
            )
    return "\n".join([*lines, "", *summary]) + "\n"


def write_docs(table: str, dbs: list[DatabaseResult], args: argparse.Namespace) -> None:
    m = machine(("fastapi", "uvicorn", "sqlalchemy", "psycopg"))
    argv = " ".join(sys.argv[1:])
    labels = ", ".join(db.label for db in dbs)
    costs = []
    factors: list[float] = []
    engine_over: list[bool] = []
    for db in dbs:
        bare, aw, engine = db.of("bare"), db.of("afterword"), db.of("engine")
        if not (bare and aw and engine):
            continue
        bare_ms = med(bare, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
        aw_ms = med(aw, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
        engine_ms = med(engine, lambda r: r.server_cpu / max(r.ops, 1)) * 1000
        factors.append(aw_ms * RATIO_TARGET / bare_ms)
        engine_over.append(engine_ms > 2 * bare_ms / RATIO_TARGET)
        costs.append(
            f"- {db.label}: {bare_ms:.2f} ms of server CPU per bare request, {aw_ms:.2f} ms "
            f"per afterword request ({2 * aw_ms:.2f} ms per check-in); meeting the target "
            f"needs at most {bare_ms / RATIO_TARGET:.2f} ms per request, "
            f"{2 * bare_ms / RATIO_TARGET:.2f} ms per check-in. The engine alone (no HTTP) "
            f"spent {engine_ms:.2f} ms per check-in "
            f"({med(engine, lambda r: r.ops_per_s):,.0f} check-ins/s on one thread)."
        )
    cost_text = "\n".join(costs)
    verdicts = []
    for db, factor, over in zip(
        [d for d in dbs if d.of("bare") and d.of("afterword") and d.of("engine")],
        factors,
        engine_over,
        strict=True,
    ):
        busy = med(db.of("afterword"), lambda r: r.server_cpu / r.seconds)
        bare_busy = med(db.of("bare"), lambda r: r.server_cpu / r.seconds)
        if factor <= 1:
            ratio = med(db.of("afterword"), lambda r: r.requests_per_s) / med(
                db.of("bare"), lambda r: r.requests_per_s
            )
            why = (
                "its server process was busy"
                if ratio >= RATIO_TARGET
                else "the ratio is lost to time its server process spent waiting: busy"
            )
            verdicts.append(
                f"{db.label}: by CPU per request afterword is within the budget ({factor:.0%} "
                f"of it); {why} {busy:.0%} of the time (the bare app's {bare_busy:.0%})."
            )
        else:
            verdicts.append(
                f"{db.label}: a request has to get about {factor:.2f} times cheaper; "
                + (
                    "the engine alone would already miss the budget."
                    if over
                    else "the engine alone fits it, the rest is the HTTP layer around it."
                )
            )
    verdict = " ".join(verdicts)
    body = f"""
## Check-ins over HTTP

How many signed check-ins per second `afterword serve` answers on loopback, next to a bare
FastAPI endpoint that does one INSERT per request into the same database, measured in the
same run with the same server setup and the same load generator. The target: afterword
serves at least {RATIO_TARGET}x the bare endpoint's HTTP requests per second. One
check-in is two HTTP requests (a challenge, then the signed request quoting its nonce), so
both check-ins/s and HTTP requests/s are shown.

### Machine

- CPU: {m["cores"]} cores, {m["cpu"]}; RAM: {m["ram"]}; OS: {m["os"]}
- Python: {m["python"]}; {m["packages"]}; databases: {labels} (local, default settings;
  servers, database and load generator share the two cores; other work was running on the
  machine: {load_text()})
- afterword: {m["afterword"]}
- Date: {datetime.now(UTC).strftime("%Y-%m-%d")}

### Method

- afterword: the real `afterword serve --db URL --data-dir DIR` (one uvicorn process, the
  web API plus its worker thread, idle here), with {args.switches} switches armed through
  `POST /switches` (the `afterword.client.Client`) from bundles sealed for the run, each
  with its own owner key, a 7-day interval and contacts for the owner and three
  custodians.
- Bare: a FastAPI app in `benchmarks/checkin.py` with one sync endpoint that parses the
  JSON body and INSERTs it into a table of the same database in its own transaction,
  through `afterword.store.Store` (same driver, pool, and on SQLite the same pragmas: WAL,
  `synchronous=FULL`, `BEGIN IMMEDIATE`), served by `uvicorn.run(app)` exactly as
  `afterword serve` runs its app.
- Load: {args.clients} concurrent clients in {args.procs} processes (threads, one
  keep-alive `http.client` connection each). Against afterword each client goes round its
  own {max(1, args.switches // max(args.clients, 1))} or so switches doing what `afterword
  checkin` does: `POST /switches/ID/challenge`, sign the request (Ed25519 over RFC 8785
  JSON), `POST /switches/ID/owner`, and checks the answer says `armed`. Against the bare
  app, one POST of a signed request of the same size. {args.warmup:g} s of warm-up, then
  {args.duration:g} s measured; {args.repeat} runs per server, alternating which goes
  first; the table shows medians. Latency is per check-in (both requests) or per bare
  request. CPU per request: the server process's user+system time (`/proc/PID/stat`) over
  the measured window, divided by the HTTP requests served (PostgreSQL's own CPU is not
  included); *server process busy* is that CPU time over the window. The engine-alone row
  calls `Engine.challenge` and `Engine.owner_request` in the benchmark's own process, one
  check-in after the other, for the same duration after the HTTP runs.

### Results

Produced by `.venv/bin/python benchmarks/checkin.py{" " if argv else ""}{argv}`.

{table}
### Where the time goes

Each server is a single uvicorn process, and that process is the bottleneck: Python runs
one thread at a time, so a process is busy at about 100% of one core (*server process
busy* above; a little more while C code that releases the GIL, such as SQLite's, runs on
the other core; less when its threads wait for the database: SQLite's single write lock
and each commit's fsync, or PostgreSQL's round trips). What decides the ratio is the CPU
each request costs it, and how much of the time the process is busy:

{cost_text}

{verdict}

A check-in is two requests and one transaction. The challenge touches no database: its
nonce is its expiry and 12 random bytes, MACed for the switch with a key derived from the
server's (`afterword/engine/challenges.py`), and the route answers it on the event loop.
The signed request locks the switch (`SELECT ... FOR UPDATE`, without its signed
documents, with whether this client was seen before as an `EXISTS` column), verifies the
Ed25519 signature over RFC 8785 JSON against the owner key and the duress key (always
both), spends the nonce with one `INSERT ... ON CONFLICT DO NOTHING` (spent nonces are
kept until an hour past their expiry), runs the machine, and writes the switch `UPDATE`
(with the audit chain's new tail, which the row holds) and the audit `INSERT`: four
statements besides BEGIN and COMMIT, all prebuilt. The answer is the state and times,
about 350 bytes, whatever the length of the log. A check-in writes nothing before the
machine's decision, the last point where it can be refused, so it runs without a
savepoint and a refused one still spends its nonce.

Both apps run their database work in uvicorn's thread pool, on a pool of 20 kept
database connections (`afterword.store.db.POOL`). afterword's owner route is `async`
(it reads and size-checks the body itself), hands the engine call to the pool with
`run_in_threadpool` and returns the engine's JSON as a `JSONResponse`: one hand-off per
request. The bare endpoint is a plain `def` with a return type, which FastAPI runs in the
pool and then validates in the pool again: two hand-offs per request. The load generator
does more for afterword (it signs every check-in) on the same two cores.

History, same machine: the first version answered each owner request with the whole audit
log read in a third transaction (its cost grew with the switch's history: 3.1 ms with 26
entries, 11.7 ms with 666 on SQLite); its owner route called the engine directly on the
event loop, so while one request waited for SQLite's lock or a commit's fsync no other
request was even read; the challenge loaded the whole switch row and inserted the nonce
through the ORM; the statements were built anew on every call (which cost more than
running them). The ratio was 0.33 (SQLite) and 0.31 (PostgreSQL), 0.35 / 0.34 after the
compact answers. With the coercion work (duress key checked on every request, new-client
check, every action in a savepoint) it was 0.52 / 0.45 on 2026-11-23 (on an AMD EPYC machine of the
same kind; the Intel Xeon one of 2026-11-27 serves about half the bare requests, and
measured 0.45 on SQLite before the changes below, one run on a shared machine). Then:
the challenge became a MAC instead of a stored row (it had been a write transaction with
a commit, on SQLite an fsync, per check-in); the common owner actions lost the savepoint;
the audit chain's tail moved onto the switch row (one read less per transition); the
known-client check joined the locking statement; and the connection pool kept 20 instead
of SQLAlchemy's default 5, which under 16 concurrent clients had opened and closed a
connection (on PostgreSQL a server process) for most requests, in both apps.

### Rerun

```sh
make bench                                    # all three benchmarks, writes this file
.venv/bin/python benchmarks/checkin.py --write-docs       # this section only
.venv/bin/python benchmarks/checkin.py --quick            # short runs, prints the table
```

Options: `--clients N` (default 16), `--procs N` (load generator processes, 2),
`--switches N` (256), `--duration S`, `--warmup S`, `--repeat N`,
`--databases sqlite,postgresql`, `--pg-admin URL`, `--keep`.
"""
    replace_section(SECTION, body)


# ---------------------------------------------------------------------------------------
# Main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes (2)")
    parser.add_argument("--switches", type=int, default=256, help="armed switches (256)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds (15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before (3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server (3)")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 2 repeats, 64 switches")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--write-docs", action="store_true", help=f"also write {DOCS}")
    parser.add_argument("--child-bare", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_bare:
        return child_bare(args.child_bare[0], int(args.child_bare[1]))
    if args.child_load:
        return child_load(args.child_load)
    if args.quick:
        args.duration, args.repeat, args.switches = 5.0, 2, 64
    databases = [d for d in args.databases.split(",") if d]
    for d in databases:
        if d not in ("postgresql", "sqlite"):
            parser.error(f"unknown database {d!r}; use sqlite, postgresql")
    if args.clients < 1 or args.switches < args.clients:
        parser.error("need at least one client and at least one switch per client")
    exe = Path(sys.executable).with_name("afterword")
    if not exe.exists():
        print("error: run with the project's venv: .venv/bin/python benchmarks/checkin.py")
        return 2
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            started = time.perf_counter()
            owners = seal_owners(args.switches, Path(tmp))
            log(f"sealed {len(owners)} bundles in {time.perf_counter() - started:.1f} s")
            dbs = [bench_database(d, args, workdir, owners) for d in databases]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    table = markdown(dbs, args)
    print(table, end="")
    if args.write_docs:
        write_docs(table, dbs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
