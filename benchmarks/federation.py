"""From the deadline to publication, on a switch armed on 3 and on 5 servers, one down.

Usage::

    .venv/bin/python -m benchmarks.federation               # 3 runs per size
    .venv/bin/python -m benchmarks.federation --runs 1      # quicker
    .venv/bin/python -m benchmarks.federation --write-docs  # also docs/benchmarks.md

Each run starts N real ``afterword serve`` processes on loopback (each with its own data
directory and SMTP server, one on PostgreSQL, each behind a TCP proxy: the harness of
tests/federation), seals a bundle whose custodians are the N servers (any K = N // 2 + 1
open it), arms it on all of them as ``afterword arm --server ...`` does, SIGKILLs one
server, and lets the owner fall silent. The policy has no grace and no waiting period, so
what is measured is what federation adds: at the deadline each server asks its peers
(``AFTERWORD_PEER_WAIT``, set here to ``--peer-wait``) and waits that long, then triggers,
releases, hands its share to the others, and the first server holding K shares publishes.
Reported: the seconds from the earliest deadline to the first release mail reaching the
press's SMTP server, and the same minus ``peer_wait`` (the part that is not a wait the
owner chose). Medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import load_text, machine, replace_section
from tests.federation.cluster import Cluster

from afterword.cli.servers import arm_everywhere
from afterword.client import Client
from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey

INTERVAL = 8  # seconds: room to arm five servers one after the other


def one_run(n: int, peer_wait: int) -> float:
    """Seconds from the earliest deadline to the first release mail, one run."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = {"AFTERWORD_PEER_WAIT": f"{peer_wait}s"}
        with Cluster(root / "cluster", n, postgres_index=0, env=env) as cluster:
            owner = OwnerKey.generate()
            (root / "doc.txt").write_text("the ledger")
            custodians = [Custodian(f"s{i}", cluster.well_known(i)["recipient"]) for i in range(n)]
            sealed = seal_bundle([root / "doc.txt"], root / "bundle", owner, custodians, n // 2 + 1)
            policy = {"interval": INTERVAL, "grace": 0, "waiting": 0, "reminders": [],
                      "cooling_off": 86400, "duress_delay": 0}  # fmt: skip
            contacts = {"owner": [], "custodians": {}, "recipients": ["mailto:press@example.org"]}

            def arm_one(client: Client, labels: list[str], roster: Any) -> Any:
                return client.arm(
                    sealed.bundle, policy=policy, contacts=contacts, server_custodians=labels,
                    duress_key=owner.duress_public_key, servers=roster,
                )  # fmt: skip

            armed = arm_everywhere(sealed.bundle, owner, cluster.urls, arm_one)
            assert set(armed["servers"].values()) == {"armed"}, armed
            deadlines = []
            for i in range(n):
                with Client(cluster[i].url) as client:
                    status = client.owner(sealed.switch, owner, "status", i + 1)
                    deadlines.append(status["deadline"])
            cluster.kill(n - 1)
            deadline = min(deadlines)
            give_up = time.monotonic() + INTERVAL + 10 * peer_wait + 120
            while time.monotonic() < give_up:
                if any(
                    m["To"] == "press@example.org"
                    for i in range(n - 1)
                    for m in cluster[i].messages
                ):
                    return time.time() - deadline
                time.sleep(0.05)
            raise RuntimeError(f"no release within the bound\n{cluster.logs()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-wait", type=int, default=2)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = []
    for n in (3, 5):
        took = []
        for run in range(args.runs):
            took.append(one_run(n, args.peer_wait))
            print(f"[bench] {n} servers, run {run + 1}: {took[-1]:.2f} s", file=sys.stderr)
        median = statistics.median(took)
        rows.append(
            f"| {n} (K = {n // 2 + 1}), one down | {args.peer_wait} s | {median:.2f} s "
            f"| {median - args.peer_wait:.2f} s | {min(took):.2f} to {max(took):.2f} s |"
        )
    table = "\n".join(
        [
            "| servers | peer_wait | deadline to first release mail (median) "
            "| beyond peer_wait | range |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    if args.write_docs:
        info = machine()
        replace_section(
            "federation",
            f"""## From the deadline to publication on several servers (issue 17)

`benchmarks/federation.py`: a switch armed on 3 and on 5 real `afterword serve` processes
(one on PostgreSQL), any K = N // 2 + 1 of which release, one of them SIGKILLed after
arming, the owner silent, no grace and no waiting period. What is measured is the time
federation adds: each server asks its peers at the deadline and waits `peer_wait` for a
newer check-in, then triggers, hands its share to the others, and the first with K shares
publishes. Medians of {args.runs} runs, on {info.get("cores", "?")} cores, {load_text()}.

{table}

`peer_wait` is 10 minutes by default (`AFTERWORD_PEER_WAIT`); the runs set it short so a
run takes seconds. What is left once it is taken away is the worker's one-second passes,
the outbox's first attempts (a handoff to a peer not releasing yet waits the outbox's
30 s backoff, so a run that needs one shows it), and publishing itself. The deadline is
a whole second (the server's clock), so each figure may be up to a second high.
""",
        )


if __name__ == "__main__":
    main()
