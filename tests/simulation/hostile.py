"""Hostile neighbours: attacker-armed switches on the same server as the honest ones, and
floods of wrong guesses at the honest ones (issue 15, "hold the promises against
adversaries").

Each batch, the attacker (with bundles of their own, sealed for this server):

- arms with a malformed but signed roster: its threshold says fewer (or more) shares
  release than the server's share was split for. Arming must refuse it.
- arms a switch that passes every check at arming, then has its server share swapped for
  one of another secret (a switch armed before arming checked, or one no check at arming
  can catch): its release raises, and the engine must quarantine it alone.
- arms a crowd of throwaway switches timed to trigger at the very instant a victim (an
  honest switch) falls due, to drag the victim into the mass-trigger breaker or delay it.
- floods the victim with wrong passwords, forged signed requests, wrong custodian codes
  and shares that do not match, from attacker networks, with crafted User-Agents (one
  reads "x; 10.20.30.0/24", as if naming another network).

None of it is checked against the model: these switches are not actors. What is checked
is that the honest switches keep every promise exactly as strictly as without neighbours,
that arming refuses the lying roster, that no guess is ever accepted, and (sim.py) that
no honest owner is ever locked out by someone else's guesses."""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from afterword.crypto.keys import OwnerKey
from afterword.engine import Contacts
from afterword.store.models import ServerEnvelopeRow, SwitchRow
from afterword.switch.policy import Policy
from tests.owner_request import owner_request
from tests.simulation.world import PoolBundle

if TYPE_CHECKING:
    from tests.simulation.sim import Simulation

HOUR, DAY = 3600, 86400
ATTACKER = "mailto:attacker@evil.test"
# what client_of() builds for a request: the caller's network, then their User-Agent
AGENTS = (
    "x; 10.20.30.0/24",
    "10.20.30.0/24",
    "sim-phone",
    "unknown",
    "Mozilla/5.0 (X11; Linux x86_64)",
    "\nowner checked in",
    "a" * 80,
)
BURSTS = 4  # bursts of guesses at one switch in a batch, at most
NETWORKS = ("198.51.100.0/24", "203.0.113.0/24", "2001:db8:6::/48")


class Neighbours:
    def __init__(self, sim: Simulation, bundles: list[PoolBundle]) -> None:
        by_threshold = sorted(bundles, key=lambda b: b.threshold)
        # the poisoned one releases on the server's share alone (threshold 1), so its
        # release runs, and raises; the liar's roster needs a threshold to lie about
        self.poisoned = by_threshold[0]
        self.liar = next(b for b in by_threshold if b.threshold > 1)
        self.other_secret = next(b for b in bundles if b is not self.poisoned)
        self.crowd = [b for b in bundles if b not in (self.poisoned, self.liar)]
        self.sim = sim
        self.forger = OwnerKey.generate()
        self.switches: set[str] = set()
        self.bursts: dict[int, int] = {}  # actor index -> bursts so far this batch

    def move_in(self) -> None:
        """Arm the attacker's switches, timed to a victim's deadline; schedule the floods."""
        sim = self.sim
        self.switches = set()
        self.bursts = {}
        victim = sim.rng.randrange(len(sim.actors))
        actor = sim.actors[victim]
        due = max(sim.now + 1, actor.deadline + actor.policy.grace)
        sim.stats.actions["hostile-roster-lie"] += 1
        lie = self.liar.owner.sign({**self.liar.custodians, "threshold": 1})
        outcome, answer = self.arm(self.liar, due, roster=lie)
        if outcome == "ok":
            sim.violation(None, f"arming accepted a signed roster that lies: {answer}")
        if self.arm(self.poisoned, due)[0] == "ok":
            with sim.server.store.connection() as c:
                c.execute(
                    sa.update(ServerEnvelopeRow)
                    .where(ServerEnvelopeRow.switch_id == self.poisoned.switch)
                    .values(envelope=self.other_secret.server_envelope)
                )
            self.switches.add(self.poisoned.switch)
        for bundle in self.crowd:
            if self.arm(bundle, due)[0] == "ok":
                self.switches.add(bundle.switch)
        for index in range(len(sim.actors)):
            chosen = index == victim or sim.rng.random() < 0.3
            if chosen:
                sim.schedule(sim.now + sim.rng.randrange(HOUR, DAY), "flood", index)

    def move_out(self) -> None:
        """At a batch's end: count what became of the attacker's switches (the poisoned one
        must have been quarantined, if its release ran)."""
        with self.sim.server.store.connection() as c:
            rows = c.execute(
                sa.select(SwitchRow.id, SwitchRow.phase, SwitchRow.quarantined_at).where(
                    SwitchRow.id.in_(sorted(self.switches))
                )
            ).all()
        for sid, phase, quarantined in rows:
            what = "quarantined" if quarantined is not None else phase
            role = "poisoned" if sid == self.poisoned.switch else "crowd"
            self.sim.stats.actions[f"hostile-{role}-{what}"] += 1

    def arm(self, b: PoolBundle, due: int, roster: dict[str, Any] | None = None) -> tuple[str, Any]:
        """Arm ``b`` to trigger at ``due`` and release at once; a crash is retried as the
        attacker's client would (unless the switch is there by then)."""
        sim = self.sim
        policy = Policy(interval=max(1, due - sim.now), grace=0, waiting=0, reminders=())
        while True:
            outcome, answer = sim.call(
                "hostile-arm",
                lambda: sim.server.engine.arm(
                    manifest=b.manifest,
                    notice=b.notice,
                    custodians=roster or b.custodians,
                    dossier=io.BytesIO(b.dossier),
                    policy=policy,
                    contacts=Contacts(owner=[ATTACKER], custodians={}, recipients=[ATTACKER]),
                    server_envelopes={"server": b.server_envelope},
                    client=f"{NETWORKS[0]} {AGENTS[0]}",
                ),
            )
            if outcome != "crash":
                return outcome, answer
            landed = "crash"
            while landed == "crash":
                landed, _ = sim.call("status", lambda: sim.server.engine.status(b.switch))
            if landed == "ok":
                return "ok", None

    def flood(self, index: int) -> None:
        """A burst of wrong guesses at actor ``index``'s switch, from attacker networks with
        crafted User-Agents; every one must be refused."""
        sim = self.sim
        actor = sim.actors[index]
        if sim.now > actor.active_until:
            return
        switch, rng = actor.switch, sim.rng
        self.bursts[index] = self.bursts.get(index, 0) + 1
        network = rng.choice(NETWORKS)  # a burst comes from one network: past the lockouts
        for _ in range(rng.randint(5, 25)):
            client = f"{network} {rng.choice(AGENTS)}"
            door = rng.choice(["password", "request", "custodian", "share"])
            fn = functools.partial(self.guess, switch, door, client)
            outcome, answer = sim.call(f"flood-{door}", fn)
            if outcome == "ok":
                sim.violation(actor, f"a wrong guess at the {door} door was accepted: {answer}")
        if self.bursts[index] < BURSTS:
            sim.schedule(sim.now + rng.choice([HOUR, DAY, 7 * DAY]), "flood", index)

    def guess(self, switch: str, door: str, client: str) -> Any:
        """One wrong guess at ``door`` of ``switch``, as a request from ``client``."""
        engine = self.sim.server.engine
        if door == "password":
            wrong = self.sim.rng.choice(["the real passwor", "", "the duress password "])
            return engine.password_action(switch, wrong, None, "checkin", client=client)
        if door == "request":
            return self.forged(switch, client)
        if door == "custodian":
            return engine.custodian(switch, "0" * 24, "vote", client)
        return engine.submit_share(switch, "academic acid acne " * 6, client)

    def forged(self, switch: str, client: str) -> Any:
        engine = self.sim.server.engine
        nonce = engine.challenge(switch)["nonce"]
        request = owner_request(self.forger, switch, "checkin", nonce)
        return engine.owner_request(switch, request, client=client)
