"""Several engines, one switch, in virtual time: the servers of a federated switch joined
by a network the test drives (links cut, relays swallowed), each engine with its own
database, key and clock. What tests/engine/test_federation.py and the simulation build on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.crypto.servers import Server, sign_roster
from afterword.crypto.signing import Document, public_key_text
from afterword.delivery import Message, PermanentError, TransientError
from afterword.engine import Config, Conflict, Contacts, Engine, Forbidden, ServerKeys, TooEarly
from afterword.store import Store
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
class World:
    """The servers of one switch, and the network between them."""

    nodes: list[Node] = field(default_factory=list)
    now: int = T0
    cut: set[frozenset[str]] = field(default_factory=set)  # links that drop (retried)
    swallow: set[tuple[str, str]] = field(default_factory=set)  # (from, to): lost for good
    refused: list[str] = field(default_factory=list)  # what receivers refused, and why
    mail: list[Message] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)  # servers that are down: no worker, no answer

    def node(self, url: str) -> Node:
        return next(n for n in self.nodes if url.startswith(n.url + "/") or url == n.url)

    def link(self, a: int, b: int) -> frozenset[str]:
        return frozenset({self.nodes[a].url, self.nodes[b].url})

    def run(self, until: int, step: int = 30) -> None:
        """The workers of every server, ticking and delivering, up to ``until``."""
        while self.now < until:
            self.now = min(until, self.now + step)
            for node in self.nodes:
                if node.url in self.dead:
                    continue
                node.engine.tick()
                node.engine.dispatch(_Sender(self, node.url))


class _Sender:
    def __init__(self, world: World, origin: str) -> None:
        self.world, self.origin = world, origin

    def send(self, message: Message) -> None:
        if not message.to.startswith("peer:"):
            self.world.mail.append(message)
            return
        url = message.to.removeprefix("peer:")
        target = self.world.node(url)
        if frozenset({self.origin, target.url}) in self.world.cut:
            raise TransientError(f"{target.url} unreachable", message_id=message.id)
        if (self.origin, target.url) in self.world.swallow:
            return  # the peer never hears of it, and the sender thinks it did
        if target.url in self.world.dead:
            raise TransientError(f"{target.url} is down", message_id=message.id)
        switch, kind = url.split("/switches/")[1].split("/")
        body = json.loads(message.text)
        try:
            if kind == "custodian":  # a custodian's vote, passed on
                target.engine.custodian(switch, body["code"], body["action"], "127.0.0.9 peer")
            else:
                take = target.engine.take_relay if kind == "relays" else target.engine.take_handoff
                take(switch, body, client="127.0.0.9 peer")
        except Forbidden as exc:
            self.world.refused.append(exc.message)
            raise PermanentError(exc.message, message_id=message.id) from None
        except TooEarly as exc:  # a handoff to a peer not releasing yet: later
            raise TransientError(exc.message, message_id=message.id) from None
        except Conflict as exc:  # refused for good (a vote the peer's state refuses)
            raise PermanentError(exc.message, message_id=message.id) from None


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
    **config: int,
) -> Federation:
    """A switch sealed with ``servers`` server custodians (any ``threshold`` of them open
    it), armed on each of them with one roster the owner signed. ``postgres``: the URL of
    a database the first server uses (the others use SQLite); ``config``: settings of
    every server's ``Config`` (``peer_silence=...``)."""
    world = World()
    keys = []
    for i in range(servers):
        folder = tmp_path / f"server{i}"
        key = ServerKeys.load_or_create(folder)
        url = f"http://127.0.0.1:{9100 + i}"
        store = Store(postgres if postgres and i == 0 else f"sqlite:///{folder / 'a.db'}")
        store.migrate()
        clock = Clock(world, (offsets or {}).get(i, 0))
        settings = Config(folder, url, min_duration=1, peer_wait=PEER_WAIT, **config)  # type: ignore[arg-type]
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
