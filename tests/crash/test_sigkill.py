"""Crash tests with real processes: ``afterword serve`` killed with SIGKILL during releases.

Each run starts a fresh server (SQLite in its data directory, or a fresh PostgreSQL
schema) with a real SMTP server and a webhook receiver on loopback, arms three switches
with short random policies, and lets them fall silent. While the switches trigger, wait,
gather shares, publish and mail their recipients, the server is killed with SIGKILL at
random moments (some while it is still starting) and started again on the same data.
After the last restart it is left to finish, and the run checks the promise "no release
lost, none repeated":

- every switch is released, with exactly one ``released`` entry in its audit log, and the
  log's hash chain and signature verify;
- ``afterword verify`` (the real command) accepts the release folder downloaded from
  ``/r/{id}``, and its statement is the one published once (same ``released_at``);
- every recipient received exactly one release message per switch: one Message-ID (one
  Idempotency-Key for the webhook), and any copy sent again after a crash is the same
  message, byte for byte;
- every message in the outbox was delivered, and nothing arrived that the outbox does not
  hold; the server never logged a traceback.

Switch ``a`` and ``b`` are released by the server alone (it holds two of their three
shares); switch ``c`` also needs a human custodian, whose share this test submits over
HTTP while the server is being killed, retrying as a real client would.

Knobs (environment): ``AFTERWORD_CRASH_RUNS`` runs per database (default 2),
``AFTERWORD_CRASH_KILLS`` SIGKILLs per run (default 3), ``AFTERWORD_SEED`` the seed of the
first run (run ``i`` uses seed + i). A failing run prints the line that replays it; the
process timings themselves cannot be replayed exactly, the schedule of kills can.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyrage
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from afterword.client import Client
from afterword.crypto.audit import verify_log
from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import ShareEnvelope
from afterword.delivery.message import message_id_header
from afterword.engine.keys import KEYFILE, ServerKeys
from tests.conftest import write_corpus
from tests.crash.tally import record
from tests.delivery.servers import SmtpServer, WebhookServer, text_of
from tests.owner_request import next_counter as request_number

pytestmark = pytest.mark.slow  # minutes of real processes or fuzzing: not in test-fast

RUNS = int(os.environ.get("AFTERWORD_CRASH_RUNS", "2"))
KILLS = int(os.environ.get("AFTERWORD_CRASH_KILLS", "3"))
BASE_SEED = int(os.environ.get("AFTERWORD_SEED") or random.SystemRandom().randrange(2**31))
LAUNCH = str(Path(__file__).with_name("launch.py"))
AFTERWORD = str(Path(sys.executable).parent / "afterword")
ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = ("press@example.org", "archive@example.org")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- the fleet


@dataclass(frozen=True)
class Fleet:
    """Three sealed bundles and the server key they were sealed for, made once."""

    keys: ServerKeys
    owner: OwnerKey
    bundles: dict[str, Path]  # name -> bundle folder
    switches: dict[str, str]  # name -> switch id
    human_share: str  # switch c's human custodian's words


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("crash-fleet")
    write_corpus(root / "src")
    keys, owner = ServerKeys.generate(), OwnerKey.generate()
    dana = pyrage.x25519.Identity.generate()
    bundles, switches = {}, {}
    for name in ("a", "b", "c"):
        if name == "c":  # the server holds one share, dana the other: she must submit
            custodians = [Custodian("server", keys.age_recipient),
                          Custodian("dana", str(dana.to_public()))]  # fmt: skip
        else:  # the server holds two of three
            custodians = [Custodian("server-1", keys.age_recipient),
                          Custodian("server-2", keys.age_recipient),
                          Custodian("carol", "paper")]  # fmt: skip
        sealed = seal_bundle([root / "src" / "evidence"], root / name, owner, custodians, 2)
        bundles[name], switches[name] = sealed.bundle, sealed.switch
    blob = (bundles["c"] / "shares" / "dana.age").read_bytes()
    words = ShareEnvelope.from_json(json.loads(pyrage.decrypt(blob, [dana]))).mnemonic
    return Fleet(keys, owner, bundles, switches, words)


# --------------------------------------------------------------------------- the server


class Server:
    """``afterword serve`` (through ``launch.py``) in a subprocess, killable at any moment."""

    def __init__(self, data_dir: Path, db: str | None, smtp_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.db = db
        self.logfile = data_dir.parent / "serve.log"
        self.env = {
            **os.environ,
            "AFTERWORD_MIN_DURATION": "1s",
            "AFTERWORD_SMTP_URL": smtp_url,
            "AFTERWORD_PUBLIC_URL": self.url,
            "AFTERWORD_TEST_LEASE": "2",
            "PYTHONPATH": str(ROOT),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        args = [sys.executable, LAUNCH, "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir)]  # fmt: skip
        if self.db:
            args += ["--db", self.db]
        with open(self.logfile, "ab") as log:
            log.write(b"--- spawn\n")
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=log)

    def ready(self) -> bool:
        try:
            httpx.get(self.url + "/.well-known/afterword", timeout=1).raise_for_status()
            return True
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"afterword serve exited on its own:\n{self.log()}")
            if self.ready():
                return
            time.sleep(0.05)
        raise AssertionError("afterword serve did not start:\n" + self.log())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        with open(self.logfile, "ab") as log:
            log.write(b"--- SIGKILL\n")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""


# --------------------------------------------------------------------------- the database


class Peek:
    """Read-only looks at the server's database from the test, while the server runs."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, poolclass=NullPool)

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as c:
            return list(c.execute(sa.text(sql)))

    def phases(self) -> dict[str, str]:
        return {r.id: r.phase for r in self.rows("SELECT id, phase FROM switches")}

    def pending_mail(self) -> int:
        return len(self.rows("SELECT id FROM outbox WHERE delivered_at IS NULL"))

    def stage(self) -> str:
        """Where the releases stand: the phases of the three switches, and whether mail
        is still waiting in the outbox (e.g. ``released/triggered, mail pending``)."""
        order = {"armed": 0, "overdue": 1, "triggered": 2, "releasing": 3, "released": 4}
        phases = sorted(set(self.phases().values()), key=lambda p: -order.get(p, -1))
        text = "/".join(phases) or "none armed"
        return text + (", mail pending" if self.pending_mail() else "")

    def close(self) -> None:
        self.engine.dispose()


def fresh_database(kind: str, request: pytest.FixtureRequest, data_dir: Path) -> str | None:
    """None (SQLite in the data directory) or a PostgreSQL URL with an empty schema."""
    if kind == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    engine = sa.create_engine(url, poolclass=NullPool)
    with engine.begin() as c:
        c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    seed: int
    rng: random.Random
    server: Server
    peek: Peek
    fleet: Fleet
    webhook_url: str
    human_done: bool = False
    kills: int = 0
    releasing_seen: float | None = None  # when the test first saw switch c releasing
    human_delay: float = 0.0  # how long dana takes to answer the call for shares

    def submit_human_share(self) -> None:
        """What custodian dana does once switch c is releasing: submit, retry on failure."""
        switch = self.fleet.switches["c"]
        if self.human_done or self.peek.phases().get(switch) != "releasing":
            return
        if self.releasing_seen is None:
            self.releasing_seen = time.monotonic()
        if time.monotonic() - self.releasing_seen < self.human_delay:
            return  # she has not got round to it yet: the server waits in `releasing`
        try:
            response = httpx.post(
                f"{self.server.url}/switches/{switch}/shares",
                json={"mnemonic": self.fleet.human_share},
                timeout=5,
            )
        except httpx.HTTPError:
            return  # the server is down or was killed mid-request: try again later
        assert response.status_code in (200, 409), response.text
        self.human_done = True

    def busy_wait(self, seconds: float) -> None:
        """Sleep ``seconds``, acting as the human custodian meanwhile."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            # (an OperationalError: the database is between owners; look again shortly)
            with contextlib.suppress(sa.exc.OperationalError):
                self.submit_human_share()
            time.sleep(min(0.1, max(left, 0)))

    def done(self) -> bool:
        try:
            phases = self.peek.phases()
            pending = self.peek.pending_mail()
        except sa.exc.OperationalError:  # busy, or between owners: not known to be done
            return False
        return len(phases) == 3 and all(p == "released" for p in phases.values()) and not pending


def arm_all(run: Run) -> None:
    with Client(run.server.url) as client:
        for name, bundle in run.fleet.bundles.items():
            # releases spread over the time the kills take, so that each kill lands in one
            policy = {
                "interval": run.rng.randint(1, 2),
                "grace": run.rng.choice([0, 1]),
                "waiting": run.rng.randint(0, 2 * KILLS),
                "reminders": [],
            }
            custodian = "dana" if name == "c" else "carol"
            contacts = {
                "owner": [f"mailto:owner-{name}@example.org"],
                "custodians": {custodian: f"mailto:{custodian}@example.org"},
                "recipients": [f"mailto:{to}" for to in RECIPIENTS] + [run.webhook_url],
            }
            servers = ["server"] if name == "c" else ["server-1", "server-2"]
            status = client.arm(bundle, policy=policy, contacts=contacts, server_custodians=servers)
            assert status["state"] == "armed"


def crash_through_releases(run: Run) -> Counter[str]:
    """Kill the server KILLS times while the releases are under way; leave it running."""
    killed_in: Counter[str] = Counter()
    server = run.server
    # the first kill once something has triggered, so that every kill hits a release
    deadline = time.monotonic() + 30
    started = {"triggered", "releasing", "released"}
    while time.monotonic() < deadline:
        with contextlib.suppress(sa.exc.OperationalError):
            if started & set(run.peek.phases().values()):
                break
        time.sleep(0.05)
    for _ in range(KILLS):
        if run.done():
            break  # nothing left to interrupt
        if server.ready() or run.rng.random() >= 0.2:
            server.wait_ready()
            run.busy_wait(run.rng.uniform(0.0, 1.5))
            try:
                if run.done():
                    break  # it finished while we waited: this kill would interrupt nothing
                stage = run.peek.stage()
            except sa.exc.OperationalError:
                stage = "unknown"
        else:  # killed while starting: migrations, key loading, the first worker pass
            time.sleep(run.rng.uniform(0.0, 0.8))
            stage = "start-up"
        server.kill()
        run.kills += 1
        killed_in[stage] += 1
        server.spawn()
    server.wait_ready()
    return killed_in


def finish(run: Run, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not run.done():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"releases not done: {run.peek.phases()}, {run.peek.pending_mail()} mails "
                f"pending\n{run.server.log()[-4000:]}"
            )
        run.busy_wait(0.2)
    time.sleep(1.2)  # one more worker pass: nothing more may leave


# --------------------------------------------------------------------------- checks


def check_releases(run: Run, tmp: Path) -> None:
    server_key = run.fleet.keys.public_key
    released = {r.switch_id: r for r in run.peek.rows(
        "SELECT switch_id, published_at, statement FROM releases")}  # fmt: skip
    with Client(run.server.url) as client:
        for name, switch in run.fleet.switches.items():
            assert switch in released, f"switch {name} was never published"
            log = client.owner(switch, run.fleet.owner, "audit", request_number())
            verify_log(log, server_key)
            kinds = [e["kind"] for e in log["entries"]]
            assert kinds.count("released") == 1, kinds
            assert kinds[0] == "armed"
            folder = tmp / f"release-{name}"
            folder.mkdir()
            for part in ("key", "dossier.age", "manifest.json", "notice.json", "statement.json"):
                response = httpx.get(f"{run.server.url}/r/{switch}/{part}", timeout=30)
                response.raise_for_status()
                (folder / part).write_bytes(response.content)
            said = subprocess.run(
                [AFTERWORD, "verify", str(folder), "--server-key", server_key],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert said.returncode == 0 and said.stdout.startswith("OK:"), said.stderr
            statement = json.loads((folder / "statement.json").read_text())
            assert statement == json.loads(released[switch].statement)
            assert statement["released_at"] == released[switch].published_at
            assert sorted(statement["custodians"]) == (
                ["dana", "server"] if name == "c" else ["server-1", "server-2"]
            )


def check_messages(run: Run, smtp: SmtpServer, hook: WebhookServer) -> int:
    """Exactly one message per recipient per event; returns how many copies were resent."""
    outbox = run.peek.rows('SELECT id, "to", delivered_at FROM outbox')
    assert outbox and all(r.delivered_at is not None for r in outbox)
    mail_rows = {r.id for r in outbox if r.to.startswith("mailto:")}
    hook_rows = {r.id for r in outbox if not r.to.startswith("mailto:")}

    by_mid: dict[str, list[Any]] = defaultdict(list)
    for m in smtp.messages:
        by_mid[str(m["Message-ID"]).strip()].append(m)
    for mid, copies in by_mid.items():  # a resent copy is the same message
        first = copies[0]
        for again in copies[1:]:
            assert (again["To"], again["Subject"], text_of(again)) == (
                first["To"], first["Subject"], text_of(first)), mid  # fmt: skip
    domains = {mid.strip("<>").rsplit("@", 1)[1] for mid in by_mid}
    assert len(domains) == 1, domains
    domain = domains.pop()
    # one Message-ID per outbox row, and nothing the outbox does not hold
    assert set(by_mid) == {message_id_header(row, domain) for row in mail_rows}

    by_key: dict[str, list[Any]] = defaultdict(list)
    for r in hook.requests:
        by_key[r.headers["Idempotency-Key"]].append(r)
    assert set(by_key) == hook_rows
    for key, copies in by_key.items():
        assert all(c.body == copies[0].body for c in copies), key

    for name, switch in run.fleet.switches.items():
        page = f"{run.server.url}/r/{switch}"
        for to in RECIPIENTS:
            mids = {mid for mid, copies in by_mid.items()
                    if copies[0]["To"] == to and page in text_of(copies[0])}  # fmt: skip
            assert len(mids) == 1, f"{to} got {len(mids)} release messages of switch {name}"
        keys = {k for k, copies in by_key.items()
                if copies[0].body.get("data", {}).get("url") == page}  # fmt: skip
        assert len(keys) == 1, f"the webhook got {len(keys)} releases of switch {name}"
    return sum(len(c) - 1 for c in by_mid.values()) + sum(len(c) - 1 for c in by_key.values())


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("run", range(RUNS))
@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_releases_survive_sigkill(
    db: str,
    run: int,
    fleet: Fleet,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
) -> None:
    started = time.monotonic()
    seeded = BASE_SEED + run
    data_dir = tmp_path / "srv" / "data"
    data_dir.mkdir(parents=True)
    (data_dir / KEYFILE).write_bytes(fleet.keys.to_json())
    os.chmod(data_dir / KEYFILE, 0o600)
    url = fresh_database(db, request, data_dir)
    server = Server(data_dir, url, smtp_server.url)
    peek = Peek(url or f"sqlite:///{data_dir / 'afterword.db'}")
    state = Run(seeded, random.Random(seeded), server, peek, fleet, webhook_server.url)
    state.human_delay = state.rng.uniform(0, 3)
    try:
        server.spawn()
        server.wait_ready()
        arm_all(state)
        killed_in = crash_through_releases(state)
        finish(state)
        check_releases(state, tmp_path)
        redelivered = check_messages(state, smtp_server, webhook_server)
        log = server.log()
        assert "Traceback" not in log, log[-4000:]
        assert "AGE-SECRET-KEY" not in log
    except BaseException:
        test = f"tests/crash/test_sigkill.py::test_releases_survive_sigkill[{db}-0]"
        print(
            f"\nseed {seeded} ({db}) failed; replay with: AFTERWORD_SEED={seeded} "
            f"AFTERWORD_CRASH_RUNS=1 AFTERWORD_CRASH_KILLS={KILLS} pytest '{test}'"
        )
        raise
    finally:
        server.stop()
        peek.close()
    assert state.kills >= 1
    record(
        db,
        {
            "seed": seeded,
            "kills": state.kills,
            "releases": len(fleet.switches),
            "redelivered": redelivered,
            "seconds": round(time.monotonic() - started, 1),
            "killed_in": dict(killed_in),
        },
    )
