"""Starting and stopping the servers under test, and the owners and switches they serve:
bundles sealed for the run and armed over HTTP.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.checkin import INTERVAL, BenchError


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
    argv = [sys.executable, "-m", "benchmarks.checkin", "--child-bare", url, str(port)]
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
