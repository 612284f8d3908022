"""The simulated world's machinery: a virtual clock, a store that can be "killed" at any
statement or commit, a sender that records and fails on demand, and a pool of bundles.

Nothing here decides anything about switches: that is the real engine's job. This module
only builds the real engine (``afterword.engine.Engine``) on a real database and lets the
simulation break things around it.
"""

from __future__ import annotations

import io
import json
import random
import secrets
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import shamir_mnemonic
from sqlalchemy import delete, event
from sqlalchemy.orm import Session

from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import public_key_text
from afterword.delivery import Message, PermanentError, TransientError
from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.store import Store
from afterword.store.models import Base
from afterword.switch.policy import Policy

T0 = 1_800_000_000
YEAR = 365 * 86400


class Crash(BaseException):
    """The process died here. A BaseException, so no ``except Exception`` in the service
    can swallow it: like SIGKILL, nothing after it runs in this "process"."""


class Clock:
    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Faults:
    """Decides where the next "kill" lands: after ``countdown`` more SQL statements or
    commits (or between a commit and its after-commit hooks)."""

    def __init__(self) -> None:
        self.countdown: int | None = None
        self.at: str | None = None  # or: the next time this kind of point is reached
        self.fired: Counter[str] = Counter()

    def arm(self, countdown: int) -> None:
        self.countdown = countdown

    def disarm(self) -> None:
        self.countdown = None

    def point(self, where: str) -> None:
        if self.at == where:
            self.at = None
            self.fired[where] += 1
            raise Crash(where)
        if self.countdown is None:
            return
        self.countdown -= 1
        if self.countdown <= 0:
            self.countdown = None
            self.fired[where] += 1
            raise Crash(where)


class Changes:
    """Counts the statements that may have changed the database (any but a read or a
    transaction's own bookkeeping), whoever ran them and whether or not they committed.
    While the count stands still, the database holds what it held at the last count: the
    simulation's observers may then use what they read then instead of reading again."""

    READS = ("SELECT", "BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")

    def __init__(self) -> None:
        self.count = 0
        self._writes: dict[str, bool] = {}  # by statement text: the service runs a few dozen

    def statement(self, sql: str) -> None:
        writes = self._writes.get(sql)
        if writes is None:
            writes = self._writes[sql] = not sql.lstrip()[:9].upper().startswith(self.READS)
        if writes:
            self.count += 1


class SimStore(Store):
    """The real store, with kill points at every statement, every commit, and between a
    commit and the work that must follow it (deleting a file)."""

    def __init__(self, url: str, faults: Faults, changes: Changes | None = None) -> None:
        super().__init__(url)
        self.faults = faults
        self.changes = changes or Changes()
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)
        if self.engine.dialect.name == "sqlite":
            # SQLite's BEGIN IMMEDIATE goes to the driver itself (store/db.py), past
            # before_cursor_execute: the kill point before it stays, ahead of the BEGIN
            event.listen(self.engine, "begin", self._begin, insert=True)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.changes.statement(statement)
        faults = self.faults
        if faults.countdown is not None or faults.at is not None:  # (else a point is a no-op)
            faults.point("statement")

    def _begin(self, _conn: Any) -> None:
        self._statement(_conn, None, "BEGIN IMMEDIATE")

    def _commit(self, *_args: Any) -> None:
        self.faults.point("commit")

    def after_commit(self, session: Session, hook: Callable[[], None]) -> None:  # type: ignore[override]
        faults = self.faults

        def guarded() -> None:
            faults.point("after-commit")
            hook()

        Store.after_commit(session, guarded)


@dataclass
class Delivered:
    id: str
    to: str
    subject: str
    text: str
    data: dict[str, Any]


class RecordingSender:
    """Every message that reached its recipient, in order; fails when told to.

    ``failing`` is a probability per attempt; a failure is an SMTP refusal or webhook 5xx
    (TransientError), a timeout (TimeoutError: the dispatcher must treat it as transient),
    a timeout *after* the peer accepted (delivered, yet reported failed: the retry must be
    the same message), or rarely a permanent refusal.
    """

    def __init__(self, rng: random.Random, told: Callable[[Delivered], None] | None = None) -> None:
        self.rng = rng
        self.told = told
        self.failing = 0.0
        self.received: list[Delivered] = []
        self.failures: Counter[str] = Counter()
        self.permanent: set[str] = set()

    def send(self, message: Message) -> None:
        if self.failing and self.rng.random() < self.failing:
            kind = self.rng.choices(
                ["refused", "timeout", "accepted-then-timeout", "permanent"], [5, 3, 2, 1]
            )[0]
            web = message.to.startswith("http")
            self.failures[f"{'webhook' if web else 'smtp'}-{kind}"] += 1
            if kind == "refused":
                raise TransientError("503 try later" if web else "421 busy", message_id=message.id)
            if kind == "timeout":
                raise TimeoutError("timed out")
            if kind == "accepted-then-timeout":
                self._deliver(message)
                raise TimeoutError("timed out after the peer accepted")
            self.permanent.add(message.id)
            raise PermanentError("550 no such user", message_id=message.id)
        self._deliver(message)

    def _deliver(self, message: Message) -> None:
        delivered = Delivered(
            message.id, message.to, message.subject, message.text, dict(message.data)
        )
        self.received.append(delivered)
        if self.told is not None:
            self.told(delivered)


@dataclass(frozen=True)
class PoolBundle:
    """A sealed bundle, read into memory once: armed again and again (after a wipe)."""

    switch: str
    owner: OwnerKey
    duress: OwnerKey
    manifest: dict[str, Any]
    notice: dict[str, Any]
    custodians: dict[str, Any]
    dossier: bytes
    server_envelope: bytes
    mnemonics: dict[str, str]  # human custodians' share words
    threshold: int
    labels: tuple[str, ...] = field(default=("server", "alice", "bob", "carol"))


def _card_words(path: Path) -> str:
    text = path.read_text()
    return text.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0]


def _cheap_slip39(real: Callable[..., Any]) -> Callable[..., Any]:
    def generate(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **{**kwargs, "iteration_exponent": 0})

    return generate


def seal_pool(folder: Path, keys: ServerKeys, size: int, rng: random.Random) -> list[PoolBundle]:
    """``size`` bundles, each 4 custodians (the server + 3 on paper) with a threshold of
    1 to 4 (cycled, so every pool has each). Sealing is the expensive part: done once.

    The shares are made with SLIP-39's cheapest iteration exponent (0: 10,000 PBKDF2
    iterations to combine them, where afterword seals with 1: 20,000). Like scrypt's
    parameters, it travels in every share, so combining runs the same code, in half the
    time: a release is rebuilt from shares in every other lifecycle."""
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "evidence.txt").write_text("what the owner knows\n")
    pool = []
    cheap = mock.patch.object(
        shamir_mnemonic, "generate_mnemonics", _cheap_slip39(shamir_mnemonic.generate_mnemonics)
    )
    for i in range(size):
        owner, duress = OwnerKey.generate(), OwnerKey.generate()
        threshold = (i % 4) + 1
        labels = ("server", "alice", "bob", "carol")
        with cheap:
            sealed = seal_bundle(
                [docs / "evidence.txt"],
                folder / f"bundle-{i}-{secrets.token_hex(3)}",
                owner,
                [Custodian("server", keys.age_recipient)]
                + [Custodian(label, "paper") for label in labels[1:]],
                threshold,
            )
        b = sealed.bundle
        pool.append(
            PoolBundle(
                switch=sealed.switch,
                owner=owner,
                duress=duress,
                manifest=json.loads((b / "manifest.json").read_text()),
                notice=json.loads((b / "notice.json").read_text()),
                custodians=json.loads((b / "custodians.json").read_text()),
                dossier=(b / "dossier.age").read_bytes(),
                server_envelope=(b / "shares" / "server.age").read_bytes(),
                mnemonics={
                    label: _card_words(b / "shares" / f"{label}.txt") for label in labels[1:]
                },
                threshold=threshold,
            )
        )
        shutil.rmtree(b)
    return pool


class Server:
    """The service as a process: a store and an engine on one database and data dir.
    ``kill()`` ends the process: every connection closes (open transactions roll back,
    as on SIGKILL) and a fresh engine starts on the same database and data dir, as a
    restart does. The store object, and with it SQLAlchemy's cache of compiled SQL (text
    made from the statements, nothing of any request's state), outlives the kill: built
    again at every kill, it was a sixth of the simulation's time."""

    def __init__(
        self, url: str, data_dir: Path, keys: ServerKeys, clock: Clock, faults: Faults
    ) -> None:
        self.url, self.data_dir, self.clock, self.faults = url, data_dir, clock, faults
        self.keys = keys  # the key the pool's server envelopes were sealed for
        self.breaker = 100
        self.changes = Changes()  # shared by every "process": the database's, not theirs
        self.store = SimStore(self.url, self.faults, self.changes)
        self.engine: Engine = self.start()
        self.store.migrate()

    def start(self) -> Engine:
        config = Config(
            self.data_dir,
            "http://afterword.test",
            min_duration=1,
            breaker_threshold=self.breaker,
            operator=("mailto:operator@afterword.test",),
        )
        self.engine = Engine(self.store, self.keys, config, self.clock)
        return self.engine

    def kill(self) -> None:
        self.store.close()  # every connection closed: what was not committed is gone
        self.start()

    def wipe(self) -> None:
        """Between batches: every row goes (the schema stays), and the dossiers."""
        with self.store.engine.begin() as c:
            for table in reversed(Base.metadata.sorted_tables):
                c.execute(delete(table))
        for path in (self.data_dir / "dossiers").glob("*"):
            path.unlink()

    def close(self) -> None:
        self.store.close()


def arm_bundle(
    server: Server,
    bundle: PoolBundle,
    policy: Policy,
    owner: str = "mailto:owner@example.org",
    recipients: tuple[str, ...] = ("mailto:press@example.org",),
) -> None:
    """Arm a pool bundle directly on the engine, with the server's share, for a test that
    sets its own scene (no model, no faults)."""
    server.engine.arm(
        manifest=bundle.manifest,
        notice=bundle.notice,
        custodians=bundle.custodians,
        dossier=io.BytesIO(bundle.dossier),
        policy=policy,
        contacts=Contacts([owner], {}, list(recipients)),
        server_envelopes={"server": bundle.server_envelope},
        duress_key=public_key_text(bundle.duress.signing.public_key()),
    )
