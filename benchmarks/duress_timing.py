"""How long a duress owner action takes over HTTP, next to the same action with the real
credential (issue 15, item 10: a coercer may time the answers).

Usage::

    .venv/bin/python benchmarks/duress_timing.py                  # SQLite, 400 requests
    .venv/bin/python benchmarks/duress_timing.py -n 1000 --postgres
    .venv/bin/python benchmarks/duress_timing.py --quick          # 100 requests

One process: the real app (``afterword.web.app.create_app`` over a real ``Engine`` and
``Store``) served by uvicorn on loopback in a thread, and a client (stdlib
``http.client``, one keep-alive connection) in the main thread. For each action it arms
twin switches from bundles sealed here (same policy, contacts, custodians: the server
holds one share of 2), then sends the action ``-n`` times to each, alternating which twin
goes first: to one with the owner key (or password), to the other with the duress key (or
duress password). The first request to each twin ("fresh": no decoy yet) is reported
apart from the rest ("decoy stands": every later duress request meets the decoy the first
one left). Only the action's own request is timed; a signed request's challenge (a
computation, no database) is asked before.

Prints a Markdown table: median latency with the real and the duress credential, their
ratio, and the interquartile ranges. Nothing here is asserted: the tests count the
statements instead (``tests/engine/test_duress.py``). The cores are shared: read the
load averages printed with the table.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import PG_ADMIN, load_text, machine

PASSWORD, DURESS_PASSWORD = "the real password", "the duress password"
ACTIONS = ("checkin", "status", "audit", "settings")
VIAS = ("signed", "password")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@dataclass
class Twin:
    switch: str
    duress: bool


class Bench:
    def __init__(self, workdir: Path, url: str) -> None:
        import uvicorn

        self.counter = itertools.count(1)  # the owner's requests, numbered as the CLI does

        from afterword.crypto.keys import OwnerKey
        from afterword.engine import Config, Engine, ServerKeys
        from afterword.store import Store
        from afterword.web.app import create_app

        self.workdir = workdir
        self.keys = ServerKeys.load_or_create(workdir / "keys")
        self.owner, self.duress_key = OwnerKey.generate(), OwnerKey.generate()
        self.store = Store(url)
        self.store.migrate()
        self.engine = Engine(self.store, self.keys, Config(workdir / "data", min_duration=1))
        (workdir / "docs").mkdir()
        (workdir / "docs" / "evidence.txt").write_text("what the owner knows\n" * 50)
        self.count = 0
        config = uvicorn.Config(
            create_app(self.engine),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=None,
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start within 10 s")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.store.close()

    def twin(self, duress: bool) -> Twin:
        """A new switch, sealed and armed here, as every other twin."""
        from afterword.crypto.bundle import Custodian, seal_bundle
        from afterword.engine import Contacts
        from afterword.switch.policy import Policy

        self.count += 1
        sealed = seal_bundle(
            [self.workdir / "docs" / "evidence.txt"],
            self.workdir / f"bundle-{self.count}",
            self.owner,
            [Custodian("server", self.keys.age_recipient), Custodian("carol", "paper")],
            2,
        )
        b = sealed.bundle
        with open(b / "dossier.age", "rb") as dossier:
            self.engine.arm(
                manifest=json.loads((b / "manifest.json").read_text()),
                notice=json.loads((b / "notice.json").read_text()),
                custodians=json.loads((b / "custodians.json").read_text()),
                dossier=dossier,
                # nothing falls due while the benchmark runs
                policy=Policy(interval=30 * 86400, grace=86400, waiting=30 * 86400),
                contacts=Contacts(
                    owner=["mailto:owner@example.org"],
                    custodians={"carol": "mailto:carol@example.org"},
                    recipients=["mailto:press@example.org"],
                ),
                server_envelopes={"server": (b / "shares" / "server.age").read_bytes()},
                password=PASSWORD,
                duress_key=self.duress_key.public_key,
                duress_password=DURESS_PASSWORD,
            )
        return Twin(sealed.switch, duress)

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        self.http.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = self.http.getresponse()
        return response.status, response.read()

    def request(self, twin: Twin, action: str, via: str) -> Callable[[], tuple[int, bytes]]:
        """The action's request, ready to send (a signed one's challenge already asked)."""
        from afterword.crypto.encoding import b64encode, canonical_json
        from afterword.crypto.signing import REQUEST_KIND

        params: dict[str, Any] = {"interval": 40 * 86400} if action == "settings" else {}
        if via == "password":
            password = DURESS_PASSWORD if twin.duress else PASSWORD
            body = {"password": password, "action": action, **params}
            return lambda: self.post(f"/switches/{twin.switch}/act", body)
        _, raw = self.post(f"/switches/{twin.switch}/challenge", {})
        nonce = json.loads(raw)["nonce"]
        signed = {"afterword": REQUEST_KIND, "switch": twin.switch, "action": action}
        signed |= {"nonce": nonce, "counter": next(self.counter), **params}
        key = self.duress_key if twin.duress else self.owner
        signed["signature"] = b64encode(key.signing.sign(canonical_json(signed)))
        return lambda: self.post(f"/switches/{twin.switch}/owner", signed)


def timed(send: Callable[[], tuple[int, bytes]]) -> tuple[float, int]:
    start = time.perf_counter()
    status, _ = send()
    return (time.perf_counter() - start) * 1000, status


def measure(bench: Bench, action: str, via: str, n: int) -> dict[str, list[float]]:
    real, forced = bench.twin(False), bench.twin(True)
    times: dict[str, list[float]] = {"fresh real": [], "fresh duress": [], "real": [], "duress": []}
    statuses: set[tuple[int, int]] = set()
    for i in range(n):
        order = (real, forced) if i % 2 == 0 else (forced, real)
        got = {}
        for twin in order:
            send = bench.request(twin, action, via)
            got[twin.duress] = timed(send)
        statuses.add((got[False][1], got[True][1]))
        prefix = "fresh " if i == 0 else ""
        times[prefix + "real"].append(got[False][0])
        times[prefix + "duress"].append(got[True][0])
    if any(a != b for a, b in statuses):
        raise SystemExit(f"{action} by {via}: the twins were answered differently {statuses}")
    return times


def quartiles(values: list[float]) -> str:
    if len(values) < 4:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.2f}-{q[2]:.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400, help="requests per twin and action")
    parser.add_argument("--quick", action="store_true", help="100 requests")
    parser.add_argument("--postgres", action="store_true", help=f"on {PG_ADMIN}, not SQLite")
    parser.add_argument("--actions", default=",".join(ACTIONS), help="which owner actions")
    args = parser.parse_args()
    n = 100 if args.quick else args.n
    rows = []
    with tempfile.TemporaryDirectory(prefix="afterword-duress-timing-") as scratch:
        workdir = Path(scratch)
        url = PG_ADMIN if args.postgres else f"sqlite:///{workdir / 'afterword.db'}"
        bench = Bench(workdir, url)
        try:
            for action in args.actions.split(","):
                for via in VIAS:
                    log(f"{action} by {via}: {n} requests to each twin")
                    times = measure(bench, action, via, n)
                    for case, real, forced in (
                        ("fresh", times["fresh real"], times["fresh duress"]),
                        ("decoy stands", times["real"], times["duress"]),
                    ):
                        r, d = statistics.median(real), statistics.median(forced)
                        rows.append(
                            f"| {action} | {via} | {case} | {len(real)} | {r:.2f} | {d:.2f} "
                            f"| {d / r:.3f} | {quartiles(real)} | {quartiles(forced)} |"
                        )
        finally:
            bench.close()
    info = machine(["fastapi", "uvicorn", "sqlalchemy", "psycopg"])
    print(f"duress vs real over HTTP, {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"{info['cores']} cores, {info['cpu']}; {info['python']}; afterword {info['afterword']}")
    print(load_text())
    print()
    print("| action | credential | case | requests | real ms (median) | duress ms (median) "
          "| ratio | real IQR | duress IQR |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
