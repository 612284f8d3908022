"""Attack (a hostile owner of another switch on the same server): the hostile owner arms a
federated switch whose peers never answer (down, a tarpit, or 404: all retried for ever),
and checks in as fast as they like. Every signed check-in, with a new counter, enqueues a
relay per peer with an id of its own, none ever delivered, none ever given up, no limit.
The dispatcher leases the oldest due messages first, 50 a pass, so the victim's mail on
the same server (here the submit notices of a deliberate release) waits behind the whole
backlog: promise 5 ("one hostile switch on a server cannot delay another switch") broken.
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.engine import Contacts
from tests.attack.helpers import signed
from tests.conftest import arm_bundle
from tests.engine.federation import POLICY, close, federation


def test_a_hostile_switchs_relays_do_not_delay_another_switchs_mail(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner)  # the hostile owner's switch, on servers 0, 1, 2
    try:
        w = fed.world
        server = w.nodes[0].engine
        w.dead |= {w.nodes[1].url, w.nodes[2].url}  # its peers never answer
        for _ in range(300):  # 600 relays, each of its own id, each retried for ever
            server.signed_checkin(fed.switch, fed.checkin(owner, w.now), client="10.6.6.6 x")
        w.now += 1
        victim = OwnerKey.generate()
        lone = seal_bundle(
            [tmp_path / "src" / "evidence.txt"],
            tmp_path / "lone",
            victim,
            [Custodian("server", server.keys.age_recipient), Custodian("carol", "paper")],
            2,
        )
        arm_bundle(
            server,
            lone.bundle,
            policy=POLICY,
            contacts=Contacts([], {"carol": "mailto:carol@example.org"}, []),
        )
        signed(victim.signing, server, lone.switch, "release")  # carol must be told now
        passes = 0
        while not any(m.to == "mailto:carol@example.org" for m in w.mail) and passes < 200:
            server.dispatch(_Drop(w))
            passes += 1
        assert passes <= 2, f"the victim's notice waited {passes} dispatch passes"
    finally:
        close(fed)


class _Drop:
    """The network of the server: its peers are down; mail goes out."""

    def __init__(self, world) -> None:  # type: ignore[no-untyped-def]
        self.world = world

    def send(self, message) -> None:  # type: ignore[no-untyped-def]
        from afterword.delivery import TransientError

        if message.to.startswith("peer:"):
            raise TransientError("peer down", message_id=message.id)
        self.world.mail.append(message)
