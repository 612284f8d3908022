"""Several engines, one switch, in virtual time: the servers of a federated switch joined
by a network the test drives (links cut, relays swallowed; with a ``Network`` of faults,
requests dropped, delayed, duplicated and so reordered), each engine with its own
database, key and clock. What tests/engine/test_federation.py and the simulation
(tests/simulation/test_federated.py) build on.
"""

from __future__ import annotations

import heapq
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.crypto.servers import Server, sign_roster
from afterword.crypto.signing import Document, public_key_text
from afterword.delivery import Message, PermanentError, TransientError
from afterword.engine import Config, Conflict, Contacts, Engine, Forbidden, ServerKeys, TooEarly
from afterword.store import Store
from afterword.store.models import OutboxRow, SwitchRow
from afterword.switch.policy import Policy
from tests.conftest import arm_bundle

T0 = 1_800_000_000
POLICY = Policy(interval=3600, grace=600, waiting=600)
PEER_WAIT = 120


class Clock:
    """One server's wall clock: the shared virtual time, plus this server's offset."""

    def __init__(self, world: World, offset: int = 0) -> None:
        self.world, self.offset = world, offset

    def __call__(self) -> int:
        return self.world.now + self.offset


@dataclass
class Node:
    url: str
    engine: Engine


@dataclass
class Network:
    """What a request between two servers may meet, each a probability per attempt (all
    0 by default: every request arrives at once, as before). A peer request is HTTP: the
    sender waits for the answer, so a request it saw fail it sends again (the outbox's
    backoff), and a request it saw succeed, the peer took.

    - ``drop``: lost on the way; the sender times out (a ``TransientError``) and retries.
    - ``delay``: slower than the sender's timeout: it times out and retries, and the
      request itself arrives up to ``max_delay`` seconds later, after others sent since
      (reordered) and beside the retry (duplicated). Its answer reaches nobody.
    - ``duplicate``: taken now, and a copy arrives again up to ``max_delay`` later.
    - ``ack_lost``: taken now, but the answer is lost: the sender retries (a duplicate).
    """

    rng: random.Random = field(default_factory=lambda: random.Random(0))
    drop: float = 0.0
    delay: float = 0.0
    duplicate: float = 0.0
    ack_lost: float = 0.0
    max_delay: int = 0
    struck: Counter[str] = field(default_factory=Counter)  # what happened, by kind

    def strikes(self, kind: str) -> bool:
        chance: float = getattr(self, kind)
        if chance and self.rng.random() < chance:
            self.struck[f"net-{kind}"] += 1
            return True
        return False

    def later(self) -> int:
        return self.rng.randint(1, max(1, self.max_delay))


@dataclass
class World:
    """The servers of one switch, and the network between them."""

    nodes: list[Node] = field(default_factory=list)
    now: int = T0
    cut: set[frozenset[str]] = field(default_factory=set)  # links that drop (retried)
    swallow: set[tuple[str, str]] = field(default_factory=set)  # (from, to): lost for good
    refused: list[str] = field(default_factory=list)  # what receivers refused, and why
    mail: list[Message] = field(default_factory=list)
    mailed: list[tuple[int, str, Message]] = field(default_factory=list)  # (when, by, what)
    dead: set[str] = field(default_factory=set)  # servers that are down: no worker, no answer
    network: Network = field(default_factory=Network)
    # the kinds of request ``swallow`` loses ("relays", "handoffs")
    swallows: tuple[str, ...] = ("relays", "handoffs")
    # requests on their way: (arrival, order, origin, message), taken in arrival order
    in_flight: list[tuple[int, int, str, Message]] = field(default_factory=list)
    sent: int = 0
    # called with (origin, target url, kind, the request's document, the peer's answer)
    # for every peer request a peer took
    taken: Callable[[str, str, str, Any, dict[str, Any]], None] | None = None
    # called with (origin, kind, the request's document) before a peer takes it; what it
    # returns is taken instead (a hostile sender's rewriting of its own requests)
    alter: Callable[[str, str, Any], Any] | None = None

    def node(self, url: str) -> Node:
        return next(n for n in self.nodes if url.startswith(n.url + "/") or url == n.url)

    def link(self, a: int, b: int) -> frozenset[str]:
        return frozenset({self.nodes[a].url, self.nodes[b].url})

    def run(self, until: int, step: int = 30) -> None:
        """The workers of every server, ticking and delivering, up to ``until``."""
        while self.now < until:
            self.now = min(until, self.now + step)
            self.pass_once()

    def pass_once(self) -> None:
        """What is due now: the requests that arrive, then each live server's worker pass."""
        self.arrive()
        for node in self.nodes:
            if node.url in self.dead:
                continue
            node.engine.tick()
            node.engine.dispatch(_Sender(self, node.url))

    def arrive(self) -> None:
        """The late requests whose time has come, in arrival order. One that finds its
        link cut or its peer down is lost (its sender already counted it failed)."""
        while self.in_flight and self.in_flight[0][0] <= self.now:
            _, _, origin, message = heapq.heappop(self.in_flight)
            target = self.node(message.to.removeprefix("peer:"))
            if frozenset({origin, target.url}) in self.cut or target.url in self.dead:
                continue
            try:  # the answer goes to a sender that stopped listening
                _take(self, origin, message)
            except Forbidden as exc:
                self.refused.append(exc.message)
            except (Conflict, TooEarly):
                continue

    def send_later(self, origin: str, message: Message) -> None:
        self.sent += 1
        at = self.now + self.network.later()
        heapq.heappush(self.in_flight, (at, self.sent, origin, message))

    def next_due(self) -> int | None:
        """The earliest virtual instant anything is due: a late request's arrival, or a
        live server's switch or outbox (its own clock's instants, less its offset)."""
        times = [self.in_flight[0][0]] if self.in_flight else []
        for node in self.nodes:
            if node.url in self.dead:
                continue
            offset = node.engine.ctx.clock.offset if isinstance(node.engine.ctx.clock, Clock) else 0
            with node.engine.store.engine.connect() as c:
                for column in (SwitchRow.next_event_at, OutboxRow.next_attempt_at):
                    at = c.execute(select(func.min(column))).scalar()
                    if at is not None:
                        times.append(int(at) - offset)
        return min(times, default=None)

    def run_events(self, until: int) -> None:
        """The workers, woken only when something is due (and at ``until``): the same
        passes as ``run`` makes, without the idle ones in between."""
        while self.now < until:
            due = self.next_due()
            self.now = until if due is None else min(until, max(self.now + 1, due))
            self.pass_once()


class _Sender:
    def __init__(self, world: World, origin: str) -> None:
        self.world, self.origin = world, origin

    def send(self, message: Message) -> None:
        if not message.to.startswith("peer:"):
            self.world.mail.append(message)
            self.world.mailed.append((self.world.now, self.origin, message))
            return
        url = message.to.removeprefix("peer:")
        target = self.world.node(url)
        if frozenset({self.origin, target.url}) in self.world.cut:
            raise TransientError(f"{target.url} unreachable", message_id=message.id)
        kind = url.rsplit("/", 1)[1]
        if (self.origin, target.url) in self.world.swallow and kind in self.world.swallows:
            return  # the peer never hears of it, and the sender thinks it did
        if target.url in self.world.dead:
            raise TransientError(f"{target.url} is down", message_id=message.id)
        net = self.world.network
        if net.strikes("drop"):
            raise TransientError(f"{target.url}: timed out (lost)", message_id=message.id)
        if net.strikes("delay"):
            self.world.send_later(self.origin, message)
            raise TransientError(f"{target.url}: timed out (slow)", message_id=message.id)
        if net.strikes("duplicate"):
            self.world.send_later(self.origin, message)
        try:
            _take(self.world, self.origin, message)
        except Forbidden as exc:
            self.world.refused.append(exc.message)
            raise PermanentError(exc.message, message_id=message.id) from None
        except TooEarly as exc:  # a handoff to a peer not releasing yet: later
            raise TransientError(exc.message, message_id=message.id) from None
        except Conflict as exc:  # refused for good (a vote the peer's state refuses)
            raise PermanentError(exc.message, message_id=message.id) from None
        if net.strikes("ack_lost"):
            raise TransientError(f"{target.url}: timed out (answer lost)", message_id=message.id)


def _take(world: World, origin: str, message: Message) -> dict[str, Any]:
    """The peer takes a request (a relay, a handoff, a custodian's vote passed on), as its
    HTTP endpoint would."""
    url = message.to.removeprefix("peer:")
    target = world.node(url)
    switch, kind = url.split("/switches/")[1].split("/")
    doc = json.loads(message.text)
    if world.alter is not None:
        doc = world.alter(origin, kind, doc)
    if kind == "custodian":
        answer = target.engine.custodian(switch, doc["code"], doc["action"], "127.0.0.9 peer")
    else:
        take = target.engine.take_relay if kind == "relays" else target.engine.take_handoff
        answer = take(switch, doc, client="127.0.0.9 peer")
    if world.taken is not None:
        world.taken(origin, target.url, kind, doc, answer)
    return answer


@dataclass
class Federation:
    world: World
    sealed: SealResult
    roster: Document
    duress: Ed25519PrivateKey
    counter: int = 0

    @property
    def switch(self) -> str:
        return self.sealed.switch

    def checkin(
        self, owner: OwnerKey, at: int, *, duress: bool = False, counter: int | None = None
    ) -> Document:
        """The owner's next signed check-in (or one of the given ``counter``)."""
        if counter is None:
            self.counter += 1
            counter = self.counter
        key = self.duress if duress else owner.signing
        return sign_checkin(key, self.switch, self.world.now, counter)

    def states(self) -> list[str]:
        return [n.engine.status(self.switch)["state"] for n in self.world.nodes]

    def kinds(self, index: int) -> list[str]:
        audit = self.world.nodes[index].engine.audit_export(self.switch)
        return [e["kind"] for e in audit["entries"]]


def federation(
    tmp_path: Path,
    owner: OwnerKey,
    *,
    servers: int = 3,
    threshold: int = 2,
    offsets: dict[int, int] | None = None,
    policy: Policy = POLICY,
    duress: Ed25519PrivateKey | None = None,
    postgres: str | None = None,
    peer_wait: int = PEER_WAIT,
    **config: int,
) -> Federation:
    """A switch sealed with ``servers`` server custodians (any ``threshold`` of them open
    it), armed on each of them with one roster the owner signed. ``postgres``: the URL of
    a database the first server uses (the others use SQLite); ``peer_wait``: how long each
    server waits for its peers' answer before it counts a silence; ``config``: more
    settings of every server's ``Config`` (``peer_silence=...``)."""
    world = World()
    keys = []
    for i in range(servers):
        folder = tmp_path / f"server{i}"
        key = ServerKeys.load_or_create(folder)
        url = f"http://127.0.0.1:{9100 + i}"
        store = Store(postgres if postgres and i == 0 else f"sqlite:///{folder / 'a.db'}")
        store.migrate()
        clock = Clock(world, (offsets or {}).get(i, 0))
        settings = Config(folder, url, min_duration=1, peer_wait=peer_wait, **config)  # type: ignore[arg-type]
        world.nodes.append(Node(url, Engine(store, key, settings, clock)))
        keys.append(key)
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "evidence.txt").write_text("the ledger, page 4")
    custodians = [Custodian(f"s{i}", k.age_recipient) for i, k in enumerate(keys)]
    sealed = seal_bundle(
        [tmp_path / "src" / "evidence.txt"], tmp_path / "bundle", owner, custodians, threshold
    )
    roster = sign_roster(
        owner.signing,
        sealed.switch,
        [
            Server(n.url, k.public_key, k.age_recipient)
            for n, k in zip(world.nodes, keys, strict=True)
        ],
    )
    forced = duress or Ed25519PrivateKey.generate()
    for i, node in enumerate(world.nodes):
        envelope = (sealed.bundle / "shares" / f"s{i}.age").read_bytes()
        status = arm_bundle(
            node.engine,
            sealed.bundle,
            server_envelopes={f"s{i}": envelope},
            policy=policy,
            contacts=Contacts(["mailto:owner@example.org"], {}, ["mailto:press@example.org"]),
            servers=roster,
            duress_key=public_key_text(forced.public_key()),
        )
        assert status["state"] == "armed"
    return Federation(world, sealed, roster, forced)


def close(fed: Federation) -> None:
    for node in fed.world.nodes:
        node.engine.store.close()


def answers(fed: Federation, doc: Document, to: list[int]) -> Iterator[dict[str, Any]]:
    for i in to:
        yield fed.world.nodes[i].engine.signed_checkin(fed.switch, doc, client="10.1.2.3 cli")
