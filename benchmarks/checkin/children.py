"""The two child processes the benchmark starts: the bare FastAPI server it measures
afterword against, and the load generator (``--child-bare``, ``--child-load``).

Separate from the orchestration: each runs alone in its own interpreter.
"""

from __future__ import annotations

import http.client
import itertools
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.encoding import b64encode, canonical_json


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

    from afterword.crypto.signing import REQUEST_KIND

    spec = json.loads(spec_path.read_text())
    counters: dict[str, int] = {o["switch"]: int(o.get("counter", 0)) for o in spec["owners"]}
    port, kind, threads = spec["port"], spec["kind"], spec["threads"]
    owners = [
        (o["switch"], Ed25519PrivateKey.from_private_bytes(bytes.fromhex(o["seed"])))
        for o in spec["owners"]
    ]
    start, warmup, duration = spec["start_at"], spec["warmup"], spec["duration"]
    t_begin, t_end = start + warmup, start + warmup + duration
    lock = threading.Lock()
    totals = {"ops": 0, "requests": 0, "errors": 0, "bytes": 0}
    latencies: list[float] = []
    errors: list[str] = []

    def client(mine: list[tuple[str, Ed25519PrivateKey]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        ops = requests = errs = size = 0
        lats: list[float] = []
        sid0, key0 = mine[0]
        body0 = {"afterword": REQUEST_KIND, "switch": sid0, "action": "checkin"}
        bare = _sign({**body0, "nonce": secrets.token_hex(16)}, key0)
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
                owner = None
                if kind != "bare":
                    owner = mine[i % len(mine)]
                    i += 1
                if kind == "checkin":
                    assert owner is not None
                    status, data, n, ok = _one_checkin(conn, owner, counters)
                else:
                    status, data, n, ok = _one_request(conn, bare, owner, body0)
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
    cpu = _run_threads(client, [g for g in groups if g])
    report = {
        **totals,
        "latencies": latencies,
        "cpu": cpu,
        "error_samples": errors,
        "counters": counters,
    }
    print(json.dumps(report), flush=True)
    return 0


_HEADERS = {"Content-Type": "application/json", "User-Agent": "afterword-bench"}


def _sign(body: dict[str, Any], key: Any) -> bytes:
    """The body as the owner sends it: signed over its canonical JSON."""
    signed = {**body, "signature": b64encode(key.sign(canonical_json(body)))}
    return json.dumps(signed).encode()


def _post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", path, body=body, headers=_HEADERS)
    response = conn.getresponse()
    return response.status, response.read()


REQUEST_COUNTER = itertools.count(int(time.time() * 1000))
"""The owner's counter for signed requests: one switch has one client, and a count from
this millisecond on is past every earlier run's."""


def _one_request(
    conn: http.client.HTTPConnection,
    bare: bytes,
    owner: tuple[str, Any] | None,
    body0: dict[str, Any],
) -> tuple[int, bytes, int, bool]:
    """Without an owner one bare POST, else a check-in as ``afterword checkin`` does it
    (the challenge, then the signed request): (status, data, HTTP requests, ok)."""
    if owner is None:
        status, data = _post(conn, "/checkin", bare)
        return status, data, 1, status == 200
    sid, key = owner
    status, data = _post(conn, f"/switches/{sid}/challenge", b"")
    n, ok = 1, status == 200
    if ok:
        nonce = json.loads(data)["nonce"]
        body = {**body0, "switch": sid, "nonce": nonce, "counter": next(REQUEST_COUNTER)}
        status, data = _post(conn, f"/switches/{sid}/owner", _sign(body, key))
        n = 2
        ok = status == 200 and json.loads(data).get("state") == "armed"
    return status, data, n, ok


def _one_checkin(
    conn: http.client.HTTPConnection, owner: tuple[str, Any], counters: dict[str, int]
) -> tuple[int, bytes, int, bool]:
    """The one-request check-in as ``afterword checkin`` sends it: a ``checkin/1`` with the
    next counter for the switch, POSTed to ``/switches/ID/checkins``. The counter is the
    client's own (each switch has one client); a 409 moves it past the server's, as the
    CLI does, and counts as an error. (status, data, HTTP requests, ok)."""
    sid, key = owner
    counter = counters[sid] + 1
    counters[sid] = counter  # signed: never sent again, whatever the answer
    doc = sign_checkin(key, sid, int(time.time()), counter)
    status, data = _post(conn, f"/switches/{sid}/checkins", json.dumps(doc).encode())
    if status == 409:
        highest = json.loads(data).get("counter")
        if isinstance(highest, int):
            counters[sid] = max(counter, highest)
        return status, data, 1, False
    ok = status == 200
    if ok:
        answer = json.loads(data)
        ok = answer.get("state") == "armed" and answer.get("counter") == counter
    return status, data, 1, ok


def _run_threads(client: Any, groups: list[Any]) -> float:
    """One thread per group of owners, all started then joined; the CPU seconds they took."""
    workers = [threading.Thread(target=client, args=(g,)) for g in groups]
    cpu0 = time.process_time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.process_time() - cpu0
