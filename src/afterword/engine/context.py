"""What every part of the engine shares: the store, the server's keys, the
configuration and the clocks (:class:`Context`), plus the small types callers exchange
with it (``Config``, ``OwnerSession``, ``TickReport``).

Separate so the modules of the engine take one argument for their dependencies and none
of them needs the ``Engine`` facade.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.engine.callers import client_digest
from afterword.engine.challenges import Challenges
from afterword.engine.errors import NotFound
from afterword.engine.keys import ServerKeys
from afterword.store import Store
from afterword.store import repository as repo

ARM_QUOTA = 10  # switches one network may arm in lockout.ARM_WINDOW


@dataclass(frozen=True)
class Config:
    data_dir: Path
    public_url: str = "http://127.0.0.1:8000"
    min_duration: int = 3600
    # a worker's first pass has no earlier reading of the monotonic clock to tell a clock
    # jump by: there, more triggers than this in the pass are held (see ``Engine.tick``)
    breaker_threshold: int = 100
    # how far the wall clock may run ahead of the monotonic clock between two passes
    # before the breaker calls it a jump and holds what the jump made due
    clock_slack: int = 60
    max_upload: int = 8 << 30  # the largest dossier a switch may upload (bytes)
    operator: Sequence[str] = ()  # where breaker alerts go
    batch: int = 500
    arm_quota: int = ARM_QUOTA  # switches one network may arm in lockout.ARM_WINDOW; 0: none
    # a switch with several servers: how long to wait for the peers' answer before the
    # owner's silence counts (see switch.state.SwitchState.peer_wait)
    peer_wait: int = 600
    peer_every: int = 3600  # how often a switch's peers are asked how they are, at least
    peer_silence: int = 2 * 86400  # a peer not heard from this long is reported


@dataclass(frozen=True)
class OwnerSession:
    """A signed-in web session: which switch, and (known to the server alone) whether the
    duress password opened it."""

    switch: str
    duress: bool


@dataclass
class TickReport:
    processed: int = 0
    lag: int = 0  # how late (seconds) the longest-waiting switch of the pass was taken
    triggered: int = 0
    held: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)  # failed on their own; taken out


class Heartbeat:
    """A worker's pulse, for ``/healthz``: when it started, when its last pass ended and
    whether it stopped, on the monotonic clock (a wall-clock jump moves none of it). In
    the process's memory: each process answers for its own worker."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last: float | None = None
        self.stopped = False

    def passed(self) -> None:
        self.last = time.monotonic()

    def age(self) -> float:
        """Seconds since the last pass ended (since the start, before the first)."""
        return time.monotonic() - (self.last if self.last is not None else self.started)


def now_seconds() -> int:
    return int(time.time())


def boot_seconds() -> float:
    """A clock nobody outside the machine can move: seconds since boot, suspend included
    (``CLOCK_BOOTTIME``, so a laptop's sleep is not a jump), else the monotonic clock."""
    if hasattr(time, "CLOCK_BOOTTIME"):
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.monotonic()


class Context:
    """What every part of the engine works with: the store, the server's keys, the
    configuration and the clocks, and the scheduler's memory between passes."""

    def __init__(
        self,
        store: Store,
        keys: ServerKeys,
        config: Config,
        clock: Callable[[], int] = now_seconds,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """``monotonic``: the clock the breaker checks ``clock`` against (issue 15, item
        2). By default the boot clock when ``clock`` is the wall clock; an engine given
        a clock of its own and no ``monotonic`` takes ``clock`` as its own reference, so
        it sees no jump (a virtual clock moves as time does)."""
        self.store = store
        self.keys = keys
        self.config = config
        self.clock = clock
        if monotonic is None:
            monotonic = boot_seconds if clock is now_seconds else clock
        self.monotonic = monotonic
        self.last_pass: tuple[int, float] | None = None  # (wall, monotonic) of the last
        # wall-clock spans a forward jump skipped: (from, to], kept until the operator
        # answers (release_held), so the jump's crowd is held over however many passes
        self.jumps: list[tuple[int, int]] = []
        self.challenges = Challenges(keys)
        self.swept = False
        self.purge_at = 0
        self.peers_at = 0  # when the scheduler next asks the peers of due switches
        self.heartbeat: Heartbeat | None = None  # set by a worker running in this process
        # the server's own folder, its key and the dossiers: for the server's user alone
        (config.data_dir / "dossiers").mkdir(parents=True, mode=0o700, exist_ok=True)
        config.data_dir.chmod(0o700)
        (config.data_dir / "dossiers").chmod(0o700)

    def dossier_path(self, switch_id: str) -> Path:
        return self.config.data_dir / "dossiers" / f"{switch_id}.age"


def load_switch(
    ctx: Context,
    s: Session | Connection,
    switch_id: str,
    *,
    lock: bool = False,
    client: str | None = None,
) -> repo.Switch:
    """The switch (but its manifest and notice); ``client``: an owner action's, asked
    about in the same statement (see :func:`knows_client`)."""
    digest = None if client is None else client_digest(client)
    row = repo.get_switch(s, switch_id, lock=lock, client=digest)
    if row is None:
        raise NotFound(f"no switch {switch_id} on this server")
    return row


def labels_of(row: repo.Switch) -> list[str]:
    return [str(c["label"]) for c in json.loads(row.custodians)["custodians"]]
