"""Whole switch lifecycles in virtual time, on the real engine, with faults everywhere.

One *batch* arms every bundle of the pool as a switch (the pool is sealed once; the
database is wiped between batches, so the same switch ids live many lives), then plays a
seeded random schedule: owners, custodians and protected people act, the worker ticks and
delivers the outbox, and faults strike (kills inside transactions, database restarts, mail
and webhook failures, worker downtime, clock jumps). After every step the invariants are
checked against :class:`~tests.simulation.model.SwitchModel`. When every owner has gone
quiet, the faults stop, and the world runs on until every switch has reached its end; the
end is checked too (released in time with one message per recipient, or legitimately
disarmed, or waiting for shares that are lost).
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import io
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import bindparam, func, select

from afterword.crypto.audit import CHAIN_FIELDS, ENTRY_FIELDS, GENESIS, entry_hash, verify_log
from afterword.crypto.encoding import age_recipient_of
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import custodian_credential
from afterword.crypto.signing import public_key_text
from afterword.engine import Conflict, Contacts, Engine, Locked, ServerKeys
from afterword.engine.outbox import MAX_BACKOFF
from afterword.errors import AfterwordError
from afterword.store import repository as repo
from afterword.store.models import (
    AuditRow,
    OutboxRow,
    ReleaseRow,
    ServerEnvelopeRow,
    ShareRow,
    SwitchRow,
)
from afterword.switch.policy import Policy
from tests.owner_request import owner_request
from tests.simulation.hostile import Neighbours
from tests.simulation.model import CanaryModel, SwitchModel
from tests.simulation.world import (
    YEAR,
    Clock,
    Crash,
    Delivered,
    Faults,
    PoolBundle,
    RecordingSender,
    Server,
)

R = TypeVar("R")
HOUR, DAY = 3600, 86400
PASSWORD, DURESS_PASSWORD = "the real password", "the duress password"
OWNER = "mailto:owner@example.org"
# what would tell a coercer reading the owner's mail that a duress credential was used (the
# word alone is no tell: every canary alert says a protected person may be under duress)
BETRAYS_DURESS = ("acted under duress", "cause duress", "cause: duress", "duress credential")
JITTER = 60  # quiet phase: the worker ticks within this of each due instant
TRIGGERED_LIKE = ("triggered", "releasing", "released")
CHAINED = ENTRY_FIELDS + CHAIN_FIELDS
# a custodian's code is derived from their share's words, which never change in a pool
_credential = functools.cache(custodian_credential)
# what the observers read: built once. Each switch with its release (if any), and the
# earliest message due (messages belong to switches: none without one)
_LOOK = select(
    SwitchRow.id,
    SwitchRow.phase,
    SwitchRow.held,
    SwitchRow.state,
    SwitchRow.next_event_at,
    select(func.min(OutboxRow.next_attempt_at)).scalar_subquery(),
    ReleaseRow.identity,
    ReleaseRow.statement,
    ReleaseRow.published_at,
).outerjoin(ReleaseRow, ReleaseRow.switch_id == SwitchRow.id)
_NEW_AUDIT = (
    select(
        AuditRow.id,
        *[AuditRow.switch_id if f == "switch" else getattr(AuditRow, f) for f in CHAINED],
    )
    .where(AuditRow.id > bindparam("after"))
    .order_by(AuditRow.switch_id, AuditRow.seq)
)


# what final() reads: the release, and the shares (and server envelopes) still kept
_RELEASE = select(ReleaseRow.published_at).where(ReleaseRow.switch_id == bindparam("switch"))
_LEFTOVERS = select(
    select(func.count()).where(ShareRow.switch_id == bindparam("switch")).scalar_subquery()
    + select(func.count())
    .where(ServerEnvelopeRow.switch_id == bindparam("switch"))
    .scalar_subquery()
)


_COMPILED: dict[tuple[int, str], Any] = {}


@functools.lru_cache(maxsize=4096)
def _cause(state: str) -> str | None:
    """A stored state's cause (read once per distinct state text)."""
    cause = json.loads(state).get("cause")
    return None if cause is None else str(cause)


def _raw(cursor: Any, dialect: Any, statement: Any, **params: Any) -> list[Any]:
    """Run a statement on a driver's cursor, compiled once for the driver's dialect."""
    compiled = _COMPILED.get((id(statement), dialect.name))
    if compiled is None:
        compiled = _COMPILED[id(statement), dialect.name] = statement.compile(dialect=dialect)
    values = compiled.construct_params(params)
    if compiled.positional:
        values = tuple(values[name] for name in compiled.positiontup)
    cursor.execute(compiled.string, values)
    return list(cursor.fetchall())


class Release(NamedTuple):
    identity: str
    statement: str
    published_at: int


@dataclass(frozen=True)
class Look:
    """One read of the database (see Simulation.look)."""

    switches: dict[str, tuple[str, bool, str | None, int | None]]  # phase, held, cause, next
    releases: dict[str, Any]  # not yet seen, by switch
    outbox_due: int | None


class Violation(AssertionError):
    pass


@dataclass
class Stats:
    lifecycles: int = 0
    batches: int = 0
    steps: int = 0
    virtual_seconds: int = 0  # of the world's clock
    switch_seconds: int = 0  # summed over lifecycles, from arming to the end of the batch
    wall_seconds: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        self.lifecycles += other.lifecycles
        self.batches += other.batches
        self.steps += other.steps
        self.virtual_seconds += other.virtual_seconds
        self.switch_seconds += other.switch_seconds
        self.wall_seconds += other.wall_seconds
        self.faults.update(other.faults)
        self.outcomes.update(other.outcomes)
        self.actions.update(other.actions)
        self.violations += other.violations

    def summary(self) -> dict[str, Any]:
        return {
            "lifecycles": self.lifecycles,
            "virtual_years": round(self.virtual_seconds / YEAR, 1),
            "switch_years": round(self.switch_seconds / YEAR, 1),
            "steps": self.steps,
            "wall_seconds": round(self.wall_seconds, 1),
            "lifecycles_per_second": round(self.lifecycles / max(self.wall_seconds, 1e-9), 2),
            "faults": dict(sorted(self.faults.items())),
            "operator_releases_of_held_switches": self.actions["release-held"],
            "outcomes": dict(sorted(self.outcomes.items())),
            "violations": len(self.violations),
        }


@dataclass
class SimCanary:
    name: str
    model: CanaryModel
    persona: str  # regular | silent | duress
    token: str | None
    duress_token: str | None
    silent_from: int


@dataclass
class Actor:
    """One switch's people: the owner, three paper custodians, protected people."""

    bundle: PoolBundle
    policy: Policy
    model: SwitchModel
    persona: str
    passwords: bool
    active_until: int
    custodians: dict[str, str]  # label -> persona
    canary_plan: list[tuple[str, bool, str]]  # (name, trigger, persona) still to add
    vote_at: dict[str, int]
    deadline: int  # what the owner believes (from the answers it gets)
    canaries: list[SimCanary] = field(default_factory=list)
    seen: str = "armed"
    seen_cause: str | None = None
    released_seen: bool = False
    pause_pending: int = 0
    disarmed_checked: bool = False
    audit_count: int = 0
    audit_head: str = GENESIS
    submitted: set[str] = field(default_factory=set)
    wrong_tried: set[str] = field(default_factory=set)
    told_submit: set[str] = field(default_factory=set)
    withdrawn: set[str] = field(default_factory=set)
    voted_seen: dict[str, bool] = field(default_factory=dict)  # their own view says
    turns: int = 0
    # "standing": a duress action landed, no real action since: the owner sees the decoy;
    # "unknown": a real action ended it, or a request's fate is unknown: not checked
    decoy: str | None = None  # None | "standing" | "unknown"

    @property
    def switch(self) -> str:
        return self.bundle.switch


def _choose(rng: random.Random, weighted: dict[str, float]) -> str:
    return rng.choices(list(weighted), list(weighted.values()))[0]


class Simulation:
    def __init__(
        self,
        seed: int,
        pool: list[PoolBundle],
        keys: ServerKeys,
        root: Path,
        url: str | None = None,
        *,
        faults: bool = True,
        mail_failing: float | None = None,
        hostile: list[PoolBundle] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.pool = pool
        self.clock = Clock()
        self.clock.now += self.rng.randrange(YEAR)
        self.faults = Faults()
        root.mkdir(parents=True, exist_ok=True)
        self.server = Server(
            url or f"sqlite:///{root / 'afterword.db'}",
            root / "data",
            keys,
            self.clock,
            self.faults,
        )
        self.mail_failing = mail_failing
        self.sender = RecordingSender(self.rng, self.told)
        self.faulty = faults
        self.stats = Stats()
        self.queue: list[tuple[int, int, str, int, str]] = []
        self.seq = 0
        self.actors: list[Actor] = []
        self.quiet = False
        self.crash_p = 0.0
        self.worker_down_until = 0
        self.operator_due = False
        self.others = {b.switch: b for b in pool}
        self.pending: list[tuple[Actor, str]] = []
        # what look() last read, at which count of changes; audit entries read, unchecked
        self.last_look = Look({}, {}, None)
        self.looked_at = -1
        self.unchecked: dict[str, list[dict[str, Any]]] = {}
        self.audit_id = 0  # the last audit row read (ids only grow until a wipe)
        self.checked: Look | None = None  # the read observe() last checked
        self.observer: Any = None  # look()'s connection (the driver's), kept between reads
        # attacker-armed switches on the same server (see hostile.py): not actors, no
        # promise is checked for them; the honest actors' promises stay exactly as strict
        self.hostile = Neighbours(self, hostile) if hostile else None

    # --- plumbing -------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self.clock.now

    def violation(self, actor: Actor | None, what: str) -> None:
        where = f"switch {actor.switch} ({actor.persona})" if actor else "world"
        message = f"seed {self.seed}, batch {self.stats.batches}, t={self.now}: {where}: {what}"
        if actor is not None and os.environ.get("AFTERWORD_SIM_DEBUG"):
            with self.server.engine.store.transaction() as s:
                for e in repo.audit_entries(s, actor.switch):
                    print(e["at"], e["kind"], e["detail"])
            print(actor.policy, actor.model)
        self.stats.violations.append(message)
        raise Violation(message)

    def schedule(self, at: int, kind: str, index: int = -1, who: str = "") -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, kind, index, who))

    def call(self, what: str, fn: Callable[[], R]) -> tuple[str, R | AfterwordError | None]:
        """One request to the service: ``ok``, ``refused`` (an AfterwordError, as the API
        would answer it) or ``crash`` (the process died somewhere inside; restarted)."""
        self.stats.actions[what] += 1
        if self.crash_p and self.rng.random() < self.crash_p:
            if self.rng.random() < 0.1:
                self.faults.at = "after-commit"  # between a commit and the file it deletes
            else:
                self.faults.arm(self.rng.randint(1, 14))
        try:
            return "ok", fn()
        except Crash as crash:
            self.stats.faults[f"kill-at-{crash.args[0]}"] += 1
            self.server.kill()
            return "crash", None
        except AfterwordError as exc:
            return "refused", exc
        finally:
            self.faults.disarm()
            self.faults.at = None

    def signed(self, actor: Actor, key: OwnerKey, action: str, **extra: Any) -> Any:
        return signed_request(self.server.engine, actor.switch, key, action, **extra)

    # --- a batch --------------------------------------------------------------------------

    def run(self, lifecycles: int) -> Stats:
        started = time.perf_counter()
        start_clock = self.now
        try:
            while self.stats.lifecycles < lifecycles:
                self.batch()
        finally:
            self.stats.wall_seconds = time.perf_counter() - started
            self.stats.virtual_seconds += self.now - start_clock
            self.close_observer()
            self.server.close()
        return self.stats

    def close_observer(self) -> None:
        if self.observer is not None:
            self.observer.close()
            self.observer = None

    def batch(self) -> None:
        self.stats.batches += 1
        self.server.wipe()
        self.audit_id, self.unchecked, self.checked = 0, {}, None
        self.sender.received.clear()
        self.sender.permanent.clear()
        self.queue.clear()
        self.quiet = False
        self.server.breaker = self.rng.choice([1, 2, 100, 100])
        self.server.kill()  # the new breaker setting needs a restart, as in life
        self.crash_p = self.rng.choice([0.0, 0.05, 0.15]) if self.faulty else 0.0
        self.sender.failing = self.rng.choice([0.0, 0.1, 0.3]) if self.faulty else 0.0
        if self.mail_failing is not None:
            self.sender.failing = self.mail_failing
        self.clock.now += self.rng.randrange(DAY)
        self.actors = [self.new_actor(b) for b in self.pool]
        for i, actor in enumerate(self.actors):
            self.arm(actor)
            self.schedule(self.now + self.rng.randrange(actor.policy.interval), "owner", i)
            for label in actor.custodians:
                self.schedule(self.now + self.rng.randrange(DAY), "custodian", i, label)
        self.schedule(self.now, "worker")
        if self.hostile is not None:
            self.hostile.move_in()
        quiet_at = max(a.active_until for a in self.actors)
        if self.faulty:
            self.schedule(self.now + self.rng.randrange(30 * DAY), "fault")
        self.schedule(quiet_at, "quiet")
        while self.queue and not self.quiet:
            at, _, kind, index, who = heapq.heappop(self.queue)
            self.clock.now = max(self.now, at)
            self.step(kind, index, who)
            self.stats.steps += 1
            self.observe()
        self.quiet_phase()
        if self.hostile is not None:
            self.hostile.move_out()
        released: dict[Any, list[Delivered]] = {}  # the release mail, by switch, in order
        for m in self.sender.received:
            if m.data.get("event") == "released":
                released.setdefault(m.data.get("switch"), []).append(m)
        for actor in self.actors:
            self.final(actor, released.get(actor.switch, []))
        self.stats.lifecycles += len(self.actors)
        self.stats.faults.update(self.sender.failures)  # refusals, timeouts (smtp, webhook)
        self.sender.failures.clear()

    def new_actor(self, bundle: PoolBundle) -> Actor:
        rng = self.rng
        interval = rng.choice([HOUR, DAY, 7 * DAY, 30 * DAY])
        policy = Policy(
            interval=interval,
            grace=rng.choice([0, HOUR, DAY, 3 * DAY]),
            waiting=rng.choice([0, HOUR, DAY, 7 * DAY]),
            reminders=tuple(sorted(rng.sample([HOUR, 6 * HOUR, DAY], rng.randint(0, 2)))),
            max_pause=rng.choice([DAY, 30 * DAY]),
            cooling_off=rng.choice([HOUR, DAY, 7 * DAY]),
            duress_delay=rng.choice([0, 0, HOUR, 2 * DAY]),
        )
        persona = _choose(
            rng,
            {
                "punctual": 3,
                "late": 3,
                "forgetful": 2,
                "coerced": 2,
                "pauser": 1,
                "aborter": 1,
                "releaser": 1,
                "disarmer": 2,
                "tuner": 2,
            },
        )
        turns = rng.randint(2, 20) if persona != "forgetful" else rng.randint(0, 4)
        horizon = max(HOUR, interval * turns)
        custodians = {
            label: _choose(
                rng,
                {
                    "available": 5,
                    "lost": 2,
                    "wrong-first": 1,
                    "voter": 1,
                    "withdrawer": 1,
                    "eager": 1,
                },
            )
            for label in ("alice", "bob", "carol")
        }
        plan = [
            (f"kin{i}", rng.random() < 0.6, _choose(rng, {"regular": 3, "silent": 1, "duress": 1}))
            for i in range(rng.choice([0, 0, 1, 2]))
        ]
        model = SwitchModel(
            policy,
            bundle.threshold,
            armed_at=self.now,
            server_share=rng.random() < 0.8,
            humans_with_share={label for label, p in custodians.items() if p != "lost"},
        )
        return Actor(
            bundle,
            policy,
            model,
            persona,
            passwords=rng.random() < 0.3,
            active_until=self.now + horizon,
            custodians=custodians,
            canary_plan=plan,
            vote_at={label: self.now + rng.randrange(horizon + 1) for label in custodians},
            deadline=self.now + interval,
        )

    def arm(self, actor: Actor) -> None:
        b = actor.bundle
        while True:
            actor.model.armed_at = self.now
            outcome, answer = self.call(
                "arm",
                lambda: self.server.engine.arm(
                    manifest=b.manifest,
                    notice=b.notice,
                    custodians=b.custodians,
                    dossier=io.BytesIO(b.dossier),
                    policy=actor.policy,
                    contacts=Contacts(
                        owner=[OWNER],
                        custodians={
                            label: f"mailto:{label}@example.org" for label in actor.custodians
                        },
                        recipients=["mailto:press@example.org", "https://hooks.example.org/r"],
                    ),
                    server_envelopes={"server": b.server_envelope}
                    if actor.model.server_share
                    else {},
                    password=PASSWORD if actor.passwords else None,
                    duress_password=DURESS_PASSWORD if actor.passwords else None,
                    duress_key=public_key_text(b.duress.signing.public_key()),
                    client="sim-cli",
                ),
            )
            if outcome == "ok":
                return
            if outcome == "refused":
                self.violation(actor, f"arming a valid bundle was refused: {answer}")
            # crashed: did it land? (a restarted client asks until it gets an answer)
            landed = "crash"
            while landed == "crash":
                landed, _ = self.call("status", lambda: self.server.engine.status(b.switch))
            if landed == "ok":
                return

    # --- one step -------------------------------------------------------------------------

    def step(self, kind: str, index: int, who: str) -> None:
        if kind == "worker":
            self.worker()
        elif kind == "fault":
            self.fault()
        elif kind == "quiet":
            self.quiet = True
        elif kind == "operator":
            self.call("release-held", self.server.engine.release_held)
            self.operator_due = False
        elif kind == "owner":
            self.owner_turn(index)
        elif kind == "custodian":
            self.custodian_turn(index, who)
        elif kind == "custodian-once":  # told by mail: looks once, outside their own rhythm
            self.custodian_acts(self.actors[index], who)
        elif kind == "canary":
            self.canary_turn(index, who)
        elif kind == "flood" and self.hostile is not None:
            self.hostile.flood(index)

    def worker(self) -> None:
        if self.now >= self.worker_down_until:
            # the real worker loops every second; passes with nothing due are mostly skipped
            switch, outbox = self.due()
            if (switch is not None and switch <= self.now) or self.rng.random() < 0.1:
                self.call("tick", self.server.engine.tick)
            if (outbox is not None and outbox <= self.now) or self.rng.random() < 0.1:
                self.call("dispatch", lambda: self.server.engine.dispatch(self.sender))
        due = self.next_due()
        gap = self.rng.choice([6 * HOUR, DAY, 7 * DAY])
        late = self.rng.choice([0, 1, 60, 600])
        at = self.now + gap if due is None else min(self.now + gap, max(self.now + 1, due + late))
        self.schedule(max(at, self.worker_down_until), "worker")

    def due(self) -> tuple[int | None, int | None]:
        """The earliest instant a switch (not held), and a message, need the worker."""
        look = self.look()
        hostile = self.hostile.switches if self.hostile is not None else set()
        times = [
            t
            for sid, (_, held, _, t) in look.switches.items()
            if not held and t is not None and sid not in hostile  # a quarantined one stays due
        ]
        return min(times, default=None), look.outbox_due

    def next_due(self) -> int | None:
        times = [t for t in self.due() if t is not None]
        return min(times) if times else None

    def fault(self) -> None:
        kind = _choose(
            self.rng,
            {
                "db-restart": 4,
                "mail-outage": 3,
                "mail-recovers": 2,
                "worker-down": 2,
                "clock-back-hour": 2,
                "clock-forward-year": 0.3,
            },
        )
        self.stats.faults[kind] += 1
        if kind == "db-restart":
            self.server.kill()
        elif kind == "mail-outage":
            self.sender.failing = self.rng.choice([0.5, 0.9, 1.0])
        elif kind == "mail-recovers":
            self.sender.failing = 0.05
        elif kind == "worker-down":
            self.worker_down_until = self.now + self.rng.choice([HOUR, DAY, 10 * DAY])
        else:
            shift = YEAR if kind == "clock-forward-year" else -HOUR
            self.clock.now += shift
            self.queue = [(at + shift, *rest) for at, *rest in self.queue]  # type: ignore[misc]
            heapq.heapify(self.queue)
            for actor in self.actors:
                actor.active_until += shift
            self.worker_down_until += shift
            self.call("tick", self.server.engine.tick)  # the worker sees the new time at once
        self.schedule(self.now + int(self.rng.expovariate(1 / (20 * DAY))) + 1, "fault")

    # --- the owner ------------------------------------------------------------------------

    def owner_turn(self, index: int) -> None:
        actor = self.actors[index]
        if self.now > actor.active_until:
            return  # gone quiet for good
        actor.turns += 1
        rng, p = self.rng, actor.policy
        if actor.canary_plan and rng.random() < 0.5:
            self.add_canary(index, actor, duress=actor.persona == "coerced" and rng.random() < 0.5)
        duress = (actor.persona == "coerced" and rng.random() < 0.3) or rng.random() < 0.01
        action, extra = "checkin", dict[str, Any]()
        roll = rng.random()
        if actor.persona == "pauser" and roll < 0.3:
            action = "pause" if actor.seen != "paused" else "resume"
            if action == "pause":
                extra["until"] = self.now + max(1, int(p.max_pause * rng.uniform(0.05, 1.2)))
        elif actor.persona == "aborter" and roll < 0.5:
            action = "abort"
        elif actor.persona == "releaser" and roll < 0.1:
            action = "release"  # through the waiting period, or at once (issue 19)
            extra["skip_waiting"] = rng.random() < 0.5
        elif actor.persona == "disarmer" and roll < 0.2 and not actor.model.disarms:
            action = "disarm"
        elif (actor.persona == "tuner" and roll < 0.3) or roll > 0.97:
            action, extra = "settings", self.new_settings(actor)
        elif roll < 0.05:
            action = "status"
        elif roll < 0.07:
            action = "revoke"
            extra["custodian"] = rng.choice(list(actor.custodians))
        elif duress and roll < 0.3:
            action = rng.choice(["pause", "abort", "disarm", "release", "settings"])
            if action == "pause":
                extra["until"] = self.now + p.max_pause // 2 + 1
            if action == "settings":
                extra = self.new_settings(actor)
        self.owner_act(actor, action, extra, duress)
        # the owner's rhythm
        if actor.persona == "late" and rng.random() < 0.6:
            late = int(rng.uniform(0, p.grace + 1.2 * p.waiting + HOUR))
            nxt = max(self.now + 60, actor.deadline + late)
        else:
            nxt = self.now + max(60, int(p.interval * rng.uniform(0.2, 0.95)))
        if actor.persona == "aborter" and actor.seen == "triggered":
            nxt = self.now + max(60, p.waiting // 3)
        self.schedule(nxt, "owner", index)

    def owner_act(self, actor: Actor, action: str, extra: dict[str, Any], duress: bool) -> None:
        model, now = actor.model, self.now
        by_password = actor.passwords and self.rng.random() < 0.4
        if by_password:
            password = DURESS_PASSWORD if duress else PASSWORD
            fn: Callable[[], Any] = lambda: self.server.engine.password_action(  # noqa: E731
                actor.switch, password, None, action, params=extra, client="sim-phone"
            )
        else:
            key = actor.bundle.duress if duress else actor.bundle.owner
            fn = lambda: self.signed(actor, key, action, **extra)  # noqa: E731
        outcome, answer = self.call(f"owner-{action}{'-duress' if duress else ''}", fn)
        if isinstance(answer, Locked):  # others' wrong guesses never lock the owner out
            self.violation(actor, f"the owner's {action} was locked out: {answer}")
        if isinstance(answer, dict) and answer.get("deadline"):
            actor.deadline = int(answer["deadline"])
        if isinstance(answer, dict) and isinstance(answer.get("policy"), dict):
            shown = answer["policy"]  # what the owner believes in force: their rhythm
            actor.policy = dataclasses.replace(
                actor.policy,
                interval=shown["interval"],
                grace=shown["grace"],
                waiting=shown["waiting"],
                reminders=tuple(shown["reminders"]),
            )
        if duress:
            if outcome != "refused" or isinstance(answer, Conflict):  # a refusal still triggers
                model.duress.append(now)
                if outcome != "crash":
                    model.duress_certain.append(now)
            # while the decoy stands (no real action since), the owner never sees the truth
            shown = answer.get("cause") if isinstance(answer, dict) else None
            if actor.decoy == "standing" and shown == "duress":
                self.violation(actor, f"a duress {action} showed the owner the duress cause")
            self.duress_used(actor, outcome)
            return
        if outcome != "refused" and action != "status" and actor.decoy is not None:
            actor.decoy = "unknown"  # a real action ended the decoy (or may have)
        certain = outcome == "ok"
        if outcome == "refused":
            return
        if action == "checkin" or action == "resume":
            (model.alive if certain else model.alive_maybe).append(now)
        elif action == "pause":
            if certain:
                model.pauses.append((now, int(extra["until"])))
            else:
                model.alive_maybe.append(int(extra["until"]))
            actor.pause_pending = int(extra["until"])
        elif action == "abort":
            model.abort(now, certain)
        elif action == "settings":
            self.settings_taken(actor, extra, answer if certain else None)
        elif action == "release" and extra.get("skip_waiting"):
            model.deliberate.append(now)
        elif action == "release":
            model.asked.append(now)
        elif action == "disarm":
            model.disarms.append(now)
        elif action == "revoke" and certain:
            model.revoked.add(extra["custodian"])
            model.votes.discard(extra["custodian"])

    def new_settings(self, actor: Actor) -> dict[str, int]:
        """Settings an owner might ask for: shorter, a little longer, much longer (past
        max_pause: pending for the cooling-off), or back to those armed with."""
        p, armed = actor.policy, actor.model.policy
        kind = self.rng.choice(["shorter", "longer", "much-longer", "much-longer", "armed"])
        if kind == "shorter":
            values = (max(HOUR, p.interval // 2), p.grace // 2, p.waiting // 2)
        elif kind == "longer":  # within max_pause of what the custodians were told
            values = (p.interval + p.max_pause // 3, p.grace, p.waiting)
        elif kind == "much-longer":
            more = 2 * p.max_pause
            values = self.rng.choice(
                [(p.interval + more, p.grace, p.waiting), (p.interval, p.grace, p.waiting + more)]
            )
        else:
            values = (armed.interval, armed.grace, armed.waiting)
        return dict(zip(("interval", "grace", "waiting"), values, strict=True))

    def settings_taken(self, actor: Actor, extra: dict[str, int], answer: Any) -> None:
        """A real settings change landed (``answer``) or may have (None). In force at once
        only if within max_pause of what the custodians may have been told."""
        model, now = actor.model, self.now
        policy = dataclasses.replace(model.policy, reminders=actor.policy.reminders, **extra)
        if answer is None:
            model.change_settings(now, policy, "maybe")
            return
        if answer.get("settings_pending") is not None:
            model.change_settings(now, policy, "pending")
            return
        span, waiting = model.told_spans(now)
        if (
            policy.interval + policy.grace + policy.waiting > span + policy.max_pause
            or policy.waiting > waiting + policy.max_pause
        ):
            self.violation(
                actor,
                f"settings {extra} took effect at once, more than max_pause "
                f"({policy.max_pause}s) beyond what the custodians were told (span {span}s, "
                f"waiting {waiting}s)",
            )
        model.change_settings(now, policy, "now")

    def duress_used(self, actor: Actor, outcome: str) -> None:
        if actor.decoy is None:
            actor.decoy = "unknown" if outcome == "crash" else "standing"

    def add_canary(self, index: int, actor: Actor, duress: bool) -> None:
        name, trigger, persona = actor.canary_plan.pop(0)
        interval = self.rng.choice([max(DAY, actor.policy.interval), 7 * DAY, 30 * DAY])
        grace = self.rng.choice([0, HOUR, DAY])
        extra = {
            "name": name,
            "interval": interval,
            "grace": grace,
            "on_miss": "trigger" if trigger else "alert",
        }
        key = actor.bundle.duress if duress else actor.bundle.owner
        outcome, answer = self.call(
            f"owner-canary-add{'-duress' if duress else ''}",
            lambda: self.signed(actor, key, "canary-add", **extra),
        )
        if duress and outcome != "refused":
            actor.model.duress.append(self.now)
            if outcome == "ok":
                actor.model.duress_certain.append(self.now)
            self.duress_used(actor, outcome)
        elif outcome != "refused" and actor.decoy is not None:
            actor.decoy = "unknown"  # a real action: the decoy ends (or may have)
        if outcome == "refused":
            return
        cmodel = CanaryModel(
            name, interval, grace, trigger, self.now, self.now, self.now, outcome == "ok"
        )
        actor.model.canaries.append(cmodel)
        if not isinstance(answer, dict):
            return  # the links were lost with the crash: this person never checks in
        silent_from = self.now + self.rng.randrange(max(1, actor.active_until - self.now) + 1)
        canary = SimCanary(
            name, cmodel, persona, answer["token"], answer["duress_token"], silent_from
        )
        actor.canaries.append(canary)
        self.schedule(self.now + int(interval * self.rng.uniform(0.3, 0.9)), "canary", index, name)

    # --- custodians and protected people --------------------------------------------------

    def custodian_turn(self, index: int, label: str) -> None:
        actor = self.actors[index]
        self.custodian_acts(actor, label)
        if not self.quiet and actor.seen not in ("released", "disarmed"):
            # custodians look now and then on their own; mail brings them sooner (told())
            base = max(actor.policy.interval, 30 * DAY)
            self.schedule(
                self.now + int(base * self.rng.uniform(0.5, 3)), "custodian", index, label
            )

    def told(self, message: Delivered) -> None:
        """A message reached someone: custodians act on what they are told, within a day.
        The owner's mail never speaks of duress while the decoy stands."""
        to, data = message.to, message.data
        event = str(data.get("event", ""))
        text = f"{message.subject}\n{message.text}".lower()
        if to == OWNER and any(tell in text for tell in BETRAYS_DURESS):
            for actor in self.actors:
                if actor.switch == data.get("switch") and actor.decoy == "standing":
                    # raised from observe(): the dispatcher would take an exception here
                    # for a failed delivery
                    self.pending.append(
                        (actor, f"the owner's mail betrays duress: {message.subject}")
                    )
        if self.quiet or not event.startswith("custodians-") or not to.startswith("mailto:"):
            return
        label = to.removeprefix("mailto:").split("@")[0]
        for index, actor in enumerate(self.actors):
            if actor.switch == data.get("switch") and label in actor.custodians:
                if event == "custodians-submit":
                    actor.told_submit.add(label)
                self.schedule(self.now + self.rng.randrange(DAY), "custodian-once", index, label)

    def custodian_acts(self, actor: Actor, label: str) -> None:
        engine, persona, model = self.server.engine, actor.custodians[label], actor.model
        words = actor.bundle.mnemonics[label]
        code = _credential(words, actor.switch, label)
        if (
            persona in ("voter", "withdrawer")
            and self.now >= actor.vote_at[label]
            and not self.quiet
        ):
            # a vote the model says an abort spent, or their own view says is gone (a late
            # check-in cleared it): told so by mail, they vote again
            voted = label in model.votes and actor.voted_seen.get(label, True)
            if not voted and label not in actor.withdrawn:
                outcome, _ = self.call(
                    "custodian-vote", lambda: engine.custodian(actor.switch, code, "vote")
                )
                if outcome != "refused":
                    model.vote(label, self.now, outcome == "ok")
                    actor.voted_seen[label] = True
            elif persona == "withdrawer" and label in model.votes:
                outcome, _ = self.call(
                    "custodian-withdraw", lambda: engine.custodian(actor.switch, code, "withdraw")
                )
                if outcome == "ok":
                    model.votes.discard(label)
                    actor.withdrawn.add(label)
        outcome, view = self.call("custodian-status", lambda: engine.custodian(actor.switch, code))
        state = view.get("state") if isinstance(view, dict) else None
        if isinstance(view, dict):  # an abort cleared it: told so, they vote again
            actor.voted_seen[label] = bool(view["voted"])
        if persona == "lost" or label in actor.submitted:
            return
        if persona == "wrong-first" and label not in actor.wrong_tried:
            actor.wrong_tried.add(label)
            other = (
                next(b for b in self.pool if b.switch != actor.switch)
                if len(self.pool) > 1
                else None
            )
            wrong = other.mnemonics[label] if other and self.rng.random() < 0.5 else _garble(words)
            outcome, _ = self.call(
                "custodian-wrong-share", lambda: engine.submit_share(actor.switch, wrong)
            )
            if outcome == "ok":
                self.violation(actor, f"a wrong share from {label} was accepted")
        # told to submit by mail, or seen on the status page (a revoked custodian cannot
        # look, yet their share still counts); in the quiet phase, word reaches everyone
        if label in actor.told_submit or (self.quiet and actor.seen == "releasing"):
            state = "releasing"
        if state == "releasing" or (persona == "eager" and state in ("armed", "overdue")):
            outcome, answer = self.call(
                "custodian-share", lambda: engine.submit_share(actor.switch, words)
            )
            if outcome == "ok":
                if state != "releasing" and isinstance(answer, dict) and answer["state"] == "armed":
                    self.violation(actor, f"{label}'s share was kept before any release was due")
                if state == "releasing":
                    actor.submitted.add(label)

    def canary_turn(self, index: int, name: str) -> None:
        actor = self.actors[index]
        canary = next(c for c in actor.canaries if c.name == name)
        if (self.now >= canary.silent_from and canary.persona == "silent") or self.quiet:
            return
        if self.now > actor.active_until:
            return
        duress = canary.persona == "duress" and self.rng.random() < 0.3
        token = canary.duress_token if duress else canary.token
        assert token is not None
        outcome, _ = self.call(
            f"canary-checkin{'-duress' if duress else ''}",
            lambda: self.server.engine.canary_checkin(token, client="sim-phone"),
        )
        c = canary.model
        if outcome == "ok":
            c.last = max(c.last, self.now)
            c.checkins.append(self.now)
        elif outcome == "crash":
            c.checkins_maybe.append(self.now)
        if outcome != "refused":
            c.last_maybe = max(c.last_maybe, self.now)
            if duress:
                c.duress_at.append(self.now)
                if outcome == "ok":
                    c.duress_certain.append(self.now)
        late = self.rng.random() < 0.15
        factor = (
            self.rng.uniform(1.0, 1.0 + (c.grace / c.interval) + 0.3)
            if late
            else self.rng.uniform(0.3, 0.95)
        )
        self.schedule(self.now + max(60, int(c.interval * factor)), "canary", index, name)

    # --- the invariants -------------------------------------------------------------------

    def observe(self) -> None:
        """After every step: each switch's true state against the model; the audit chains.

        The database is read again only if a statement since the last read may have
        changed it (``Changes``); otherwise the last read stands for it, as it holds the
        same rows. Only audit entries not yet checked are read, and checked on the hash
        of the last one checked."""
        if self.pending:
            self.violation(*self.pending[0])
        look = self.look()
        fresh, self.unchecked = self.unchecked, {}
        # the very rows checked last time (no statement since could have changed them):
        # all that follows from them was found then, but for what the clock alone moves
        again = look is self.checked and not fresh
        self.checked = look
        held = False
        for actor in self.actors:
            row = look.switches.get(actor.switch)
            if row is None:
                continue
            phase, is_held, cause, _ = row
            held |= is_held
            if again:
                self.check_pause(actor, phase)
                continue
            entries = fresh.get(actor.switch, [])
            self.check_chain_grows(actor, entries)
            self.check_switch(actor, phase, cause, look.releases.get(actor.switch), entries)
        if held and not self.operator_due:
            self.operator_due = True
            self.schedule(self.now + self.rng.choice([0, HOUR, DAY]), "operator")

    def look(self) -> Look:
        """What the database holds now, read in one transaction unless nothing may have
        changed since the last read: each switch's phase, held flag, cause and next event;
        the releases not yet seen; the earliest message due. The audit entries written
        since the last read are kept for observe() to check."""
        if self.looked_at == self.server.changes.count:
            return self.last_look
        seen = {a.switch for a in self.actors if a.released_seen}
        switches, releases = {}, {}
        # on the driver's own connection: these reads are the simulation's, not the
        # service's, and SQLAlchemy's work per statement was most of their cost. One
        # connection for all of them, kept between reads (a checkout and return from the
        # pool cost more than the two reads); kills and restarts are the service's, the
        # observer's connection outlives them
        if self.observer is None:
            self.observer = self.server.store.engine.raw_connection()
        connection = self.observer
        try:
            cursor = connection.cursor()
            dialect = self.server.store.engine.dialect
            rows = _raw(cursor, dialect, _LOOK)
            audit = _raw(cursor, dialect, _NEW_AUDIT, after=self.audit_id)
            cursor.close()
            connection.commit()
        except BaseException:
            self.close_observer()
            raise
        for sid, phase, held, state, next_event_at, _, identity, statement, at in rows:
            cause = _cause(state) if phase in TRIGGERED_LIKE else None
            switches[sid] = (phase, bool(held), cause, next_event_at)
            if at is not None and sid not in seen:
                releases[sid] = Release(identity, statement, at)
        for audit_id, *values in audit:
            self.audit_id = max(self.audit_id, audit_id)
            entry = dict(zip(CHAINED, values, strict=True))
            self.unchecked.setdefault(entry["switch"], []).append(entry)
        outbox_due = rows[0][5] if rows else None  # (no switch: no message either)
        self.last_look = Look(switches, releases, outbox_due)
        self.looked_at = self.server.changes.count
        return self.last_look

    def check_chain_grows(self, actor: Actor, entries: list[dict[str, Any]]) -> None:
        """The new entries extend the chain already checked: seq by seq, each linked to the
        one before by its hash (the whole chain is checked again, signed, at the end)."""
        for entry in entries:
            fields = {f: entry[f] for f in ENTRY_FIELDS}
            if (
                entry["seq"] != actor.audit_count + 1
                or entry["prev"] != actor.audit_head
                or entry_hash(actor.audit_head, fields) != entry["hash"]
            ):
                self.violation(actor, f"the audit chain breaks at seq {entry['seq']}: {entry}")
            actor.audit_count, actor.audit_head = entry["seq"], entry["hash"]

    def check_switch(
        self,
        actor: Actor,
        phase: str,
        cause: str | None,
        release: Any,
        chain: list[dict[str, Any]] | None,
    ) -> None:
        model = actor.model
        self.check_pause(actor, phase)
        if phase in TRIGGERED_LIKE and (
            actor.seen not in TRIGGERED_LIKE or cause != actor.seen_cause
        ):
            justified = model.justified_trigger(self.now)
            if cause not in justified:
                self.violation(
                    actor,
                    f"{phase} (cause {cause}) with no such cause held; the model has {justified}",
                )
        released = ("releasing", "released")
        if (
            phase in released
            and actor.seen not in released
            and cause not in model.justified_release(self.now)
        ):
            self.violation(actor, f"{phase} (cause {cause}) before its waiting period ran out")
        if release is not None and not actor.released_seen:
            actor.released_seen = True
            statement = json.loads(release.statement)
            justified = model.justified_release(release.published_at)
            if statement.get("cause") not in justified:
                self.violation(
                    actor,
                    f"released at {release.published_at} for cause {statement.get('cause')}; "
                    f"the model justifies {justified}",
                )
            recipient = actor.bundle.manifest["dossier"]["recipient"]
            if age_recipient_of(release.identity) != recipient:
                self.violation(actor, "the published key is not the dossier's")
        if phase == "disarmed" and not actor.disarmed_checked:
            actor.disarmed_checked = True
            entries = chain if chain is not None else []
            at = max((e["at"] for e in entries if e["kind"] == "disarmed"), default=self.now)
            self.check_disarmed(actor, at)
        actor.seen, actor.seen_cause = phase, cause

    def check_pause(self, actor: Actor, phase: str) -> None:
        """A pause the owner asked for has ended by the time it was seen to."""
        if actor.pause_pending and phase != "paused" and self.now >= actor.pause_pending:
            actor.model.pause_ended_seen = max(actor.model.pause_ended_seen, self.now)
            actor.pause_pending = 0

    def check_disarmed(self, actor: Actor, at: int) -> None:
        model, p = actor.model, actor.model.policy  # (the cooling-off never changes)
        due = model.next_due(lenient=False)
        ok = [
            d
            for d in model.disarms
            if d + p.cooling_off <= at
            and due > d + p.cooling_off
            and not model.cause_events_between(d, at)
        ]
        if not ok:
            self.violation(
                actor,
                f"disarmed at {at}: disarms {model.disarms}, cooling-off {p.cooling_off}, next "
                f"check-in due {due}, causes "
                f"{[model.cause_events_between(d, at) for d in model.disarms]}",
            )

    # --- the end --------------------------------------------------------------------------

    def quiet_phase(self) -> None:
        """Faults stop and every owner has gone quiet: each switch must reach its end."""
        self.quiet = True
        self.crash_p, self.sender.failing, self.worker_down_until = 0.0, 0.0, 0
        self.quiet_at = quiet_at = self.now
        limit = (
            quiet_at
            + 2 * MAX_BACKOFF
            + 3 * DAY
            + max(
                p.interval + p.grace + p.waiting + p.max_pause + p.cooling_off + p.duress_delay
                for a in self.actors
                for p in a.model.every_policy()
            )
        )
        last: list[str] = []
        while True:
            self.call("tick", self.server.engine.tick)
            if any(self.rows_held()):  # the operator answers the breaker's alert at once
                self.call("release-held", self.server.engine.release_held)
            self.observe()
            for actor in self.actors:
                if actor.seen == "releasing":
                    for label in actor.custodians:
                        self.custodian_acts(actor, label)
            self.call("dispatch", lambda: self.server.engine.dispatch(self.sender))
            self.stats.steps += 1
            self.observe()
            due = self.next_due()
            ends = [a.seen for a in self.actors]
            if (
                due is None
                and ends == last
                and all(end in ("released", "disarmed", "releasing") for end in ends)
            ):
                break
            last = ends
            nxt = (self.now + DAY) if due is None else due + self.rng.randint(0, JITTER)
            self.clock.now = max(self.now + 1, nxt)
            if self.now > limit:
                break

    def rows_held(self) -> list[bool]:
        return [held for _, held, _, _ in self.look().switches.values() if held]

    def final(self, actor: Actor, mail: list[Delivered]) -> None:
        """The end of a lifecycle; ``mail``: the release messages its switch caused."""
        model, engine = actor.model, self.server.engine
        self.stats.switch_seconds += self.now - model.armed_at
        phase = actor.seen
        self.stats.outcomes[f"{phase}:{actor.seen_cause or '-'}"] += 1
        with self.server.store.connection() as c:
            release = c.execute(_RELEASE, {"switch": actor.switch}).one_or_none()
            leftovers = c.execute(_LEFTOVERS, {"switch": actor.switch}).scalar_one()
        if phase == "released":
            assert release is not None
            if not engine.dossier_path(actor.switch).exists():
                self.violation(actor, "released, but the dossier is gone from the release page")
            grace, waiting = model.grace(lenient=False), model.waiting(lenient=False)
            bound = max(self.quiet_at + grace, model.missed_from(lenient=False)) + waiting
            bound += 10 * JITTER
            if release.published_at > bound:
                self.violation(actor, f"released at {release.published_at}, later than {bound}")
            for to in ("mailto:press@example.org", "https://hooks.example.org/r"):
                got = [m for m in mail if m.to == to]
                if len({(m.id, m.subject, m.text) for m in got}) > 1:
                    self.violation(actor, f"{to} got two different release messages")
                if not got and not any(
                    i.startswith(f"release-{actor.switch}") for i in self.sender.permanent
                ):
                    self.violation(actor, f"{to} never got the release message")
        elif phase == "releasing":
            if model.shares_available() >= model.threshold:
                self.violation(
                    actor,
                    f"stuck releasing with {model.shares_available()} shares available "
                    f"of {model.threshold} needed",
                )
        elif phase == "disarmed":
            if leftovers:
                self.violation(actor, "disarmed, yet the server still holds a share")
            if engine.dossier_path(actor.switch).exists():  # test_replayed_lifecycles.py
                self.violation(actor, "disarmed, yet the dossier is still on disk")
        else:
            self.violation(actor, f"never reached an end: still {phase} after the quiet phase")
        if mail and phase != "released":
            self.violation(actor, "a recipient got a release message for an unreleased switch")
        server_key = public_key_text(self.server.keys.signing.public_key())
        verified: list[Any] = []
        for owner in (False, True):
            export = engine.audit_export(actor.switch, owner=owner)
            if export in verified:
                continue  # the very document already verified (no decoy: one log for both)
            try:
                verify_log(export, server_key)
            except AfterwordError as exc:
                self.violation(actor, f"the exported audit log (owner={owner}) fails: {exc}")
            verified.append(export)


def signed_request(engine: Engine, switch: str, key: OwnerKey, action: str, **extra: Any) -> Any:
    """An owner action as the CLI sends it: a fresh challenge, signed with ``key``."""
    nonce = engine.challenge(switch)["nonce"]
    request = owner_request(key, switch, action, nonce, **extra)
    return engine.owner_request(switch, request, client="sim-cli")


def _garble(words: str) -> str:
    """The share with one word replaced: the checksum (or the commitment) refuses it."""
    parts = words.split()
    parts[3] = "academic" if parts[3] != "academic" else "acid"
    return " ".join(parts)
