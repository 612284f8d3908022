"""One switch on several servers, whole lifecycles in virtual time, over a faulty network.

Each lifecycle is drawn from a seeded RNG: 3 or 5 servers, any 2 or 3 of them (K) open
the dossier (one share each, no human custodian), a policy, a ``peer_wait``, a clock
offset per server, and up to N-K servers that die for good at some instant. The owner
checks in, signed (``checkin/1``), to a random subset of the servers at random gaps
(now and then later than the interval), then falls silent for good; sometimes one of
the check-ins is signed by the duress key, at one server, and the freed owner may go on
checking in for real afterwards. Meanwhile the network (tests/engine/federation.py's
``World`` and ``Network``) drops, delays, duplicates and so reorders requests, links are
cut and healed, relays are lost for good on a link for a while, and servers crash (skip
their ticks and answer nothing) and come back. At the quiet instant ``E`` (after the
owner's last act) the faults stop but for delays and duplicates; the world then runs on
to the bound of "never lost", and the lifecycle is checked (:meth:`Lifecycle.check`).

The bounds, with I, G, W the policy's interval, grace and waiting, ``pw`` the peer wait,
all in virtual time (each server's offset cancels: every duration is counted on one clock):

- **never early, per server (exact)**: a server's copy reaches ``releasing`` for a missed
  check-in no sooner than ``c + I + pw + G + (pw if G else 0) + W``, ``c`` the instant it
  last took a check-in (the owner's own or a relayed one; or armed). From switch/state.py
  and machine/schedule.py: the deadline is ``c + I``; at it the server asks its peers
  (``asked_at >= deadline``) and counts the silence at ``silent_at = asked_at + pw``, so
  it is overdue from ``t1 >= c + I + pw``; with grace, ``grace_ends = t1 + G`` is a new
  ``trigger_due`` and it asks again and waits ``pw`` once more (with none, ``trigger_due``
  is the deadline already asked about: it triggers in the same tick); ``release_at =
  since + W``. ``peer_wait`` only ever delays.
- **never early, across servers**: a publication at ``P`` needs K servers releasing
  (a handoff is taken only by a releasing server, and sent only by one). So if a check-in
  at ``t`` was taken, before its own release and by ``P``, by at least N-K+1 servers
  (directly or relayed), one of the K took it, and ``P >= t + I + G + W``. That is the
  issue's bound, "the owner's last real check-in + I + G + W", whenever that check-in
  reached N-K+1 servers; a check-in K servers never heard of (its only servers crashed
  or cut off past everyone's deadline) cannot hold them, which is counted, not failed
  (``stale-minority``). Checked for lifecycles no duress check-in reached.
- **never lost**: with at least K servers alive for good, and every fault over at ``E``
  (drops, cuts, lost relays and crashes stop; delays up to ``D`` and duplicates go on, and
  a request arrives within ``D`` of its first attempt), every alive server ends released
  and the recipient has the release by ``R + min(MAX_BACKOFF, R - armed + 60) + D + 10``,
  where ``R = E + 2I + 2G + 3pw + D + W + 10`` bounds every alive server's ``releasing``:
  after ``E`` a server takes its last newer check-in by ``E + I + G + pw + D`` (its next
  ask, at its deadline or grace end, is answered within ``D`` by every alive peer with
  the highest it holds), then releases within ``I + 2pw + G + W`` (the first bound).
  A handoff is first tried when its sender releases (``>= armed``) and retried
  (engine/outbox.py ``_BACKOFF``: 30 s doubling, per attempt counted, up to MAX_BACKOFF)
  until its peer is releasing too: the wait between two attempts is at most the time
  since the first plus 60 s, hence the second term; then mail goes out at once.
- **never a second message**: per recipient, one release message id across all servers,
  and every copy of it has the same subject; the bodies differ only by the server's
  own URL (its release page: ``{public_url}/r/ID``), which is checked too.
- **duress**: a duress check-in that landed anywhere triggers (cause duress) every server
  alive at the end, and the server's answer to it equals, field for field, the answer a
  twin of that server (a copy of its database taken just before) gives the owner's real
  check-in with the same counter.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import public_key_text
from afterword.engine import Engine, ServerKeys
from afterword.engine.outbox import MAX_BACKOFF
from afterword.errors import AfterwordError
from afterword.store import Store
from afterword.switch.policy import Policy
from tests.engine.federation import Clock, Federation, Network, close, federation

PRESS = "mailto:press@example.org"
TRIGGERED = ("triggered", "releasing", "released")


class Violation(AssertionError):
    pass


@dataclass
class FedStats:
    lifecycles: int = 0
    virtual_seconds: int = 0
    wall_seconds: float = 0.0
    shapes: Counter[str] = field(default_factory=Counter)  # "3of5", ...
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    checks: Counter[str] = field(default_factory=Counter)

    def merge(self, other: FedStats) -> None:
        self.lifecycles += other.lifecycles
        self.virtual_seconds += other.virtual_seconds
        self.wall_seconds += other.wall_seconds
        for mine, theirs in (
            (self.shapes, other.shapes),
            (self.faults, other.faults),
            (self.outcomes, other.outcomes),
            (self.checks, other.checks),
        ):
            mine.update(theirs)

    def summary(self) -> dict[str, Any]:
        return {
            "lifecycles": self.lifecycles,
            "virtual_days": round(self.virtual_seconds / 86400, 1),
            "wall_seconds": round(self.wall_seconds, 1),
            "shapes": dict(sorted(self.shapes.items())),
            "faults": dict(sorted(self.faults.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "checks": dict(sorted(self.checks.items())),
        }


@dataclass
class Landed:
    """One check-in the owner signed: when, its counter, which servers took it."""

    at: int
    counter: int
    duress: bool
    took: list[int]


@dataclass
class Plan:
    servers: int
    threshold: int
    policy: Policy
    peer_wait: int
    offsets: dict[int, int]
    dies: dict[int, int]  # server index -> when it dies for good (seconds after arming)
    gaps: list[int]  # the owner's check-ins, as gaps after arming
    duress_at: int | None  # the index of the check-in signed by the duress key
    freed: bool  # after duress, the owner goes on checking in for real
    network: dict[str, float]
    max_delay: int
    fault_rate: float  # faults (cut, crash, lost relays) per interval
    # a clean network: no faults but delays (up to 60 s) and duplicates, servers dead
    # only from the start, the owner never late: every check-in reaches every server
    # before its deadline, so the bound holds as it is written (see check)
    clean: bool = False


def draw(rng: random.Random) -> Plan:
    servers = rng.choice([3, 5])
    threshold = rng.choice([2, 3])
    interval = rng.choice([1800, 3600, 7200])
    policy = Policy(
        interval=interval,
        grace=rng.choice([0, 300, 1800]),
        waiting=rng.choice([0, 600, 3600]),
        reminders=(),
    )
    offsets = {
        i: rng.choice([0, 0, 0, 7, -45, 900, -900, 3 * 86400, -86400]) for i in range(servers)
    }
    dead = rng.sample(range(servers), rng.randint(0, servers - threshold))
    turns = rng.choice([0, 1, 3, 6, 10])
    gaps = [
        int(interval * (rng.uniform(1.0, 1.3) if rng.random() < 0.08 else rng.uniform(0.05, 0.9)))
        for _ in range(turns)
    ]
    horizon = sum(gaps) + interval
    dies = {i: rng.randrange(horizon) if rng.random() < 0.6 else 0 for i in dead}
    duress = rng.random() < 0.4 and turns > 0
    plan = Plan(
        servers=servers,
        threshold=threshold,
        policy=policy,
        peer_wait=rng.choice([60, 120, 600]),
        offsets=offsets,
        dies=dies,
        gaps=gaps,
        duress_at=rng.randrange(turns) if duress else None,
        freed=rng.random() < 0.5,
        network={
            "drop": rng.choice([0.0, 0.05, 0.2]),
            "delay": rng.choice([0.0, 0.1, 0.3]),
            "duplicate": rng.choice([0.0, 0.1, 0.3]),
            "ack_lost": rng.choice([0.0, 0.05, 0.2]),
        },
        max_delay=rng.choice([5, 60, 300]),
        fault_rate=rng.choice([0.0, 0.5, 2.0]),
    )
    if rng.random() < 0.3:
        plan = dataclasses.replace(
            plan,
            clean=True,
            fault_rate=0.0,
            dies={i: 0 for i in dies},
            gaps=[min(gap, int(0.8 * interval)) for gap in gaps],
            network={**plan.network, "drop": 0.0},
            max_delay=min(plan.max_delay, 60),
        )
    return plan


class Lifecycle:
    """One plan played on a fresh federation, then checked."""

    def __init__(self, seed: int, index: int, plan: Plan, folder: Path, owner: OwnerKey) -> None:
        self.seed, self.index, self.plan, self.folder, self.owner = seed, index, plan, folder, owner
        self.rng = random.Random(f"{seed}-{index}-run")
        self.stats = FedStats()
        self.landed: list[Landed] = []
        self.signed: list[tuple[int, int]] = []  # the owner's real check-ins: (at, counter)
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.fed: Federation = federation(
            folder,
            owner,
            servers=plan.servers,
            threshold=plan.threshold,
            offsets=plan.offsets,
            policy=plan.policy,
            duress=Ed25519PrivateKey.generate(),
            peer_wait=plan.peer_wait,
        )
        self.world = self.fed.world
        net = plan.network
        self.world.network = Network(
            self.rng,
            drop=net["drop"],
            delay=net["delay"],
            duplicate=net["duplicate"],
            ack_lost=net["ack_lost"],
            max_delay=plan.max_delay,
        )
        self.world.swallows = ("relays",)  # a handoff lost for good: see the test's docstring
        self.armed = self.world.now
        self.counter = 0
        self.crashed: dict[int, int] = {}  # server -> back at (virtual)
        self.cuts: dict[frozenset[str], int] = {}
        self.swallowed: dict[tuple[str, str], int] = {}
        self.quiet_at = 0
        self.twins = 0
        # when each server was first handed the duress check-in (a relay carrying it)
        self.duress_key = public_key_text(self.fed.duress.public_key())
        self.duress_reached: dict[int, int] = {}
        self.world.taken = self.took_request

    def where(self) -> str:
        p = self.plan
        return (
            f"seed {self.seed}, lifecycle {self.index} ({p.threshold} of {p.servers}, "
            f"{p.policy.interval}/{p.policy.grace}/{p.policy.waiting} s, peer_wait "
            f"{p.peer_wait}, offsets {p.offsets}, dies {p.dies})"
        )

    def fail(self, what: str) -> None:
        raise Violation(f"{self.where()}: {what}")

    # --- playing it -----------------------------------------------------------------------

    def url(self, i: int) -> str:
        return self.world.nodes[i].url

    def took_request(
        self, origin: str, target: str, kind: str, doc: Any, answer: dict[str, Any]
    ) -> None:
        checkin = doc.get("checkin") if kind == "relays" else None
        if isinstance(checkin, dict) and checkin.get("owner_key") == self.duress_key:
            index = next(i for i, n in enumerate(self.world.nodes) if n.url == target)
            self.duress_reached.setdefault(index, self.world.now)

    def forever_dead(self, i: int) -> bool:
        return i in self.plan.dies

    def run_to(self, at: int) -> None:
        """Run the world to ``at``, stopping wherever a fault starts or ends on the way."""
        while True:
            ends = [*self.crashed.values(), *self.cuts.values(), *self.swallowed.values()]
            ends += [self.armed + t for t in self.plan.dies.values()]
            ends = [t for t in ends if self.world.now < t < at]
            if not ends:
                break
            self.world.run_events(min(ends))
            self.update_dead()
        self.world.run_events(at)
        self.world.now = max(self.world.now, at)
        self.update_dead()

    def update_dead(self) -> None:
        """The world's faults as they stand now (a death still to come at the quiet
        instant comes then: the bound of never lost counts from a world that stays)."""
        now = self.world.now
        quiet = bool(self.quiet_at) and now >= self.quiet_at
        dead = {self.url(i) for i, t in self.plan.dies.items() if quiet or self.armed + t <= now}
        dead |= {self.url(i) for i, back in self.crashed.items() if back > now}
        self.world.dead = dead
        self.world.cut = {link for link, until in self.cuts.items() if until > now}
        self.world.swallow = {pair for pair, until in self.swallowed.items() if until > now}

    def play(self) -> None:
        started = time.perf_counter()
        p, rng = self.plan, self.rng
        events: list[tuple[int, str, int]] = []
        at = self.armed
        for turn, gap in enumerate(p.gaps):
            at += gap
            events.append((at, "checkin", turn))
        last_owner = at
        self.quiet_at = last_owner + rng.randrange(p.policy.interval)
        if p.fault_rate:
            t = self.armed
            while True:
                t += int(rng.expovariate(p.fault_rate / p.policy.interval)) + 1
                if t >= self.quiet_at:
                    break
                events.append((t, "fault", 0))
        events.sort()
        for at, kind, turn in events:
            self.run_to(at)
            if kind == "checkin":
                self.checkin(turn)
            else:
                self.fault()
            self.update_dead()
        self.run_to(self.quiet_at)
        # the quiet: every fault over, but for delays and duplicates
        self.crashed.clear()
        self.cuts.clear()
        self.swallowed.clear()
        self.world.network.drop = 0.0
        self.update_dead()
        self.run_to(self.lost_bound())
        self.stats.virtual_seconds += self.world.now - self.armed
        self.stats.wall_seconds += time.perf_counter() - started

    def fault(self) -> None:
        p, rng, now = self.plan, self.rng, self.world.now
        kind = rng.choice(["cut", "crash", "lose-relays"])
        lasts = int(rng.choice([0.05, 0.3, 1.0, 2.0]) * p.policy.interval) + 1
        a, b = rng.sample(range(p.servers), 2)
        if kind == "cut":
            self.cuts[self.world.link(a, b)] = now + lasts
        elif kind == "crash":
            self.crashed[a] = max(self.crashed.get(a, 0), now + lasts)
        else:
            self.swallowed[(self.url(a), self.url(b))] = now + lasts
        self.stats.faults[kind] += 1

    def checkin(self, turn: int) -> None:
        p, rng = self.plan, self.rng
        duress = turn == p.duress_at
        if p.duress_at is not None and turn > p.duress_at and not p.freed:
            return  # coerced, then silent
        chosen = rng.sample(range(p.servers), 1 if duress else rng.randint(1, p.servers))
        self.counter += 1
        key = self.fed.duress if duress else self.owner.signing
        doc = sign_checkin(key, self.fed.switch, self.world.now, self.counter)
        if not duress:  # (landed or not: a server that refused it may still relay it)
            self.signed.append((self.world.now, self.counter))
        took = []
        for i in chosen:
            if self.url(i) in self.world.dead:
                self.stats.outcomes["checkin-unreachable"] += 1
                continue
            engine = self.world.nodes[i].engine
            twin = self.twin_answer(i) if duress else None
            try:
                said = engine.signed_checkin(self.fed.switch, doc, client="10.1.2.3 cli")
            except AfterwordError as exc:
                self.stats.outcomes[f"checkin-refused-{type(exc).__name__}"] += 1
                continue
            took.append(i)
            self.answers.append((i, said))
            if twin is not None:
                self.compare_twin(said, twin)
        self.stats.outcomes["checkin-landed" if took else "checkin-lost"] += 1
        if took:
            self.landed.append(Landed(self.world.now, self.counter, duress, took))

    def twin_answer(self, i: int) -> dict[str, Any] | None:
        """What server ``i`` answers the owner's real check-in with this counter, on a
        copy of its database and folder as they are now (its twin in a world without
        duress). None if the real one would be refused there too."""
        node = self.world.nodes[i]
        source = self.folder / f"server{i}"
        twin = self.folder / f"twin{i}-{self.twins}"
        self.twins += 1
        shutil.copytree(source, twin, ignore=shutil.ignore_patterns("a.db*"))
        with sqlite3.connect(source / "a.db") as src, sqlite3.connect(twin / "a.db") as dst:
            src.backup(dst)
        store = Store(f"sqlite:///{twin / 'a.db'}")
        try:
            clock = node.engine.ctx.clock
            assert isinstance(clock, Clock)
            config = dataclasses.replace(node.engine.ctx.config, data_dir=twin)
            engine = Engine(store, ServerKeys.load_or_create(twin), config, clock)
            doc = sign_checkin(self.owner.signing, self.fed.switch, self.world.now, self.counter)
            try:
                return engine.signed_checkin(self.fed.switch, doc, client="10.1.2.3 cli")
            except AfterwordError:
                return None
        finally:
            store.close()
            shutil.rmtree(twin, ignore_errors=True)

    def compare_twin(self, said: dict[str, Any], twin: dict[str, Any]) -> None:
        self.stats.checks["duress-answer-vs-twin"] += 1
        if json.dumps(said, sort_keys=True) != json.dumps(twin, sort_keys=True):
            self.fail(f"the duress check-in's answer {said} is not the real one's {twin}")

    # --- what happened --------------------------------------------------------------------

    def lost_bound(self) -> int:
        p, pol = self.plan, self.plan.policy
        i, g, w, pw, d = pol.interval, pol.grace, pol.waiting, p.peer_wait, p.max_delay
        releasing = self.quiet_at + 2 * i + 2 * g + 3 * pw + d + w + 10
        return releasing + min(MAX_BACKOFF, releasing - self.armed + 60) + d + 10

    def logs(self) -> list[list[dict[str, Any]]]:
        logs = []
        for node in self.world.nodes:
            entries = node.engine.audit_export(self.fed.switch)["entries"]
            logs.append([dict(e) for e in entries])
        return logs

    def check(self) -> None:
        p = self.plan
        logs = self.logs()
        alive = [i for i in range(p.servers) if not self.forever_dead(i)]
        duress_landed = any(c.duress for c in self.landed)
        # a duress check-in a server refused (its copy was releasing) is relayed all the
        # same, and triggers the peers it reaches: no bound on missed check-ins holds then
        duress_heard = duress_landed or any(e["kind"] == "duress" for log in logs for e in log)
        releasing: dict[int, int] = {}  # server -> virtual instant its copy released
        published: dict[int, int] = {}
        rearms: dict[int, list[int]] = {}  # server -> virtual instants it took a check-in
        causes: dict[int, str] = {}
        for s, log in enumerate(logs):
            off = p.offsets[s]
            last = None
            rearms[s] = []
            for e in log:
                kind, at = e["kind"], int(e["at"]) - off
                if kind in ("armed", "checked-in") and s not in releasing:
                    last = at
                    if kind == "checked-in":
                        rearms[s].append(at)
                elif kind == "triggered" and s not in releasing:
                    causes[s] = "duress" if "cause duress" in e["detail"] else "missed"
                elif kind == "releasing" and s not in releasing:
                    releasing[s] = at
                    if causes.get(s) == "missed":
                        self.check_server_early(s, at, last)
                elif kind == "released" and s not in published:
                    published[s] = at
        self.check_federation_early(releasing, published, rearms, duress_heard)
        self.check_lost(alive, releasing, published)
        self.check_messages()
        self.check_no_fork(logs)
        if duress_landed:
            self.check_duress(alive, causes, rearms, logs)
        self.stats.lifecycles += 1
        self.stats.shapes[f"{p.threshold}of{p.servers}"] += 1
        self.stats.outcomes["released" if published else "not-released"] += 1
        self.stats.outcomes["with-duress" if duress_heard else "without-duress"] += 1
        self.stats.faults.update(self.world.network.struck)
        self.stats.faults["refused-by-peers"] += len(self.world.refused)
        self.stats.faults["dead-for-good"] += len(p.dies)
        self.stats.faults["clock-offsets"] += sum(1 for o in p.offsets.values() if o)

    def check_server_early(self, s: int, at: int, last: int | None) -> None:
        pol, pw = self.plan.policy, self.plan.peer_wait
        assert last is not None
        due = last + pol.interval + pw + pol.grace + (pw if pol.grace else 0) + pol.waiting
        self.stats.checks["server-never-early"] += 1
        if at < due:
            self.fail(f"server {s} released at {at}, before {due}: its last check-in was at {last}")

    def check_federation_early(
        self,
        releasing: dict[int, int],
        published: dict[int, int],
        rearms: dict[int, list[int]],
        duress_heard: bool,
    ) -> None:
        if duress_heard:
            return
        p, pol = self.plan, self.plan.policy
        need = 1 if p.clean else p.servers - p.threshold + 1
        stale = False
        for s, at in published.items():
            for c in self.landed:
                if p.clean:  # as the issue writes it: the owner's check-ins, wherever
                    bound = c.at + pol.interval + pol.grace + pol.waiting
                    self.stats.checks["federation-never-early-clean"] += 1
                    if at < bound:
                        self.fail(
                            f"server {s} published at {at}, before {bound}: the owner "
                            f"checked in at {c.at} (counter {c.counter}) at servers {c.took}"
                        )
                    continue
                holders = [
                    h
                    for h in range(p.servers)
                    if any(c.at <= t <= min(at, releasing.get(h, at)) for t in rearms[h])
                    or (h in c.took and c.at <= min(at, releasing.get(h, at)))
                ]
                if len(holders) < need:
                    stale = stale or c is self.landed[-1]
                    continue
                bound = c.at + pol.interval + pol.grace + pol.waiting
                self.stats.checks["federation-never-early"] += 1
                if at < bound:
                    self.fail(
                        f"server {s} published at {at}, before {bound}: the check-in at "
                        f"{c.at} (counter {c.counter}) was held by servers {holders}"
                    )
        self.stats.outcomes["stale-minority"] += stale

    def check_lost(
        self, alive: list[int], releasing: dict[int, int], published: dict[int, int]
    ) -> None:
        bound = self.lost_bound()
        self.stats.checks["never-lost"] += 1
        states = self.fed.states()
        not_released = [i for i in alive if states[i] != "released"]
        if not_released:
            self.fail(
                f"servers {not_released} are {[states[i] for i in not_released]} at "
                f"{self.world.now} (the bound {bound}); releasing at {releasing}"
            )
        first = min(
            (at for at, _, m in self.world.mailed if m.to == PRESS and _released(m)), default=None
        )
        if first is None or first > bound:
            self.fail(f"the recipient's release came at {first}, after the bound {bound}")
        self.stats.outcomes["release-within-bound"] += 1
        self.stats.outcomes["published-by-all-alive"] += len(published) >= len(alive)

    def check_no_fork(self, logs: list[list[dict[str, Any]]]) -> None:
        """Every server here is honest: however the network lost, delayed, duplicated and
        reordered the heads and the consistency proofs of its peers' logs, none of them
        is ever reported for rewriting its log (docs/federation.md, section 6)."""
        for s, log in enumerate(logs):
            for e in log:
                if e["kind"] == "peer-forked":
                    self.fail(f"server {s} reported an honest peer forked: {e['detail']}")
        self.stats.checks["no-false-fork"] += 1

    def check_messages(self) -> None:
        copies = [(origin, m) for _, origin, m in self.world.mailed if _released(m)]
        by_to: dict[str, set[str]] = {}
        for _, m in copies:
            by_to.setdefault(m.to, set()).add(m.id)
        self.stats.checks["one-message-id"] += 1
        for to, ids in by_to.items():
            if len(ids) > 1:
                self.fail(f"{to} got {len(ids)} different release messages: {sorted(ids)}")
        by_id: dict[str, list[tuple[str, Any]]] = {}
        for origin, m in copies:
            by_id.setdefault(m.id, []).append((origin, m))
        for mid, same in by_id.items():
            subjects = {m.subject for _, m in same}
            if len(subjects) > 1:
                self.fail(f"release message {mid} has different subjects: {subjects}")
            bodies = {m.text.replace(origin, "SERVER") for origin, m in same}
            if len(bodies) > 1:
                self.fail(f"release message {mid}'s bodies differ beyond the URL: {bodies}")
            if len({origin for origin, _ in same}) > 1:
                self.stats.outcomes["copies-from-several-servers"] += 1

    def phase_at(self, log: list[dict[str, Any]], server: int, at: int) -> str:
        """What server's copy was at virtual instant ``at``, by its log."""
        phase = "armed"
        for e in log:
            if int(e["at"]) - self.plan.offsets[server] > at:  # (the same second: before)
                break
            if e["kind"] in ("armed", "checked-in", "aborted", *TRIGGERED):
                phase = "armed" if e["kind"] in ("checked-in", "aborted") else e["kind"]
        return phase

    def check_duress(
        self,
        alive: list[int],
        causes: dict[int, str],
        rearms: dict[int, list[int]],
        logs: list[list[dict[str, Any]]],
    ) -> None:
        self.stats.checks["duress-triggers-all"] += 1
        first = next(c for c in self.landed if c.duress)
        missed = [i for i in alive if causes.get(i) != "duress"]
        if missed and all(self.forever_dead(i) for i in first.took):
            self.stats.outcomes["duress-died-with-its-servers"] += 1  # may not have left
            return
        # (a duress check-in outrun by a real one signed after it still triggers: the
        # servers keep the highest duress counter apart, switches.duress_counter)
        # a server whose copy had triggered already (the owner was late: a missed
        # check-in) when the duress check-in reached it: that release goes on as it is,
        # for its own cause. One it never reached: with relays lost for good and links
        # cut (fault_rate), it may not have (counted); without, it must have.
        for c in self.landed:
            if c.duress:
                for i in c.took:
                    self.duress_reached.setdefault(i, c.at)
        unreached = [i for i in missed if i not in self.duress_reached]
        if self.plan.fault_rate:
            self.stats.outcomes["duress-lost-to-faults"] += bool(unreached)
            missed = [i for i in missed if i not in unreached]
        late = [
            i
            for i in missed
            if i not in unreached and self.phase_at(logs[i], i, self.duress_reached[i]) in TRIGGERED
        ]
        self.stats.outcomes["duress-after-a-trigger"] += bool(late)
        missed = [i for i in missed if i not in late]
        if missed:
            landed = [(c.counter, c.at, c.duress, c.took) for c in self.landed]
            self.fail(
                f"a duress check-in landed, yet servers {missed} triggered for "
                f"{[causes.get(i) for i in missed]} (never reached: {unreached}); check-ins "
                f"(counter, at, duress, took): {landed}"
            )


def _released(m: Any) -> bool:
    return bool(m.data.get("event") == "released")


def run_seed(seed: int, lifecycles: int, root: Path) -> FedStats:
    """``lifecycles`` lifecycles drawn from ``seed``, each in its own folder; raises
    ``Violation`` at the first broken promise."""
    rng = random.Random(seed)
    owner = OwnerKey.generate()
    total = FedStats()
    for index in range(lifecycles):
        plan = draw(rng)
        folder = root / f"life{index}"
        life = Lifecycle(seed, index, plan, folder, owner)
        try:
            life.play()
            life.check()
        finally:
            total.merge(life.stats)
            close(life.fed)
            shutil.rmtree(folder, ignore_errors=True)
    return total
