"""A LOST duress release (no hostile server; one routine outage): a duress request relayed
late is outranked by a later real request, and the peers drop it. The same loss the
check-ins had (``duress_counter`` fixed it for them: "a duress check-in outranked by a
later real one was lost"), back again for requests through ``owner.in_order``.

Steps (servers A, B, C; K = 2):
1. B and C are down (an upgrade, a reboot) for ten minutes.
2. Meanwhile the coercer makes the owner look at the switch at A with the passphrase the
   owner gives: the duress one. A takes the duress look (request n): it triggers, silently,
   and queues its relay to B and C, which fail and wait out the outbox's backoff.
3. B and C are back. Later, free, the owner runs ``afterword status --server B --server C``
   (request n+1, the real key) before A's outbox retries: B and C keep n+1 as the highest.
4. A's relay of the duress look (n) arrives: ``take_request`` ignores it (``in_order``:
   older than one taken since). B and C never trigger; A's handoffs are answered 425 for
   ever; nothing is published. The owner was coerced and the switch promised to release.

Fix suggested: as for check-ins, a duress request must never be dropped for being old: keep
the highest duress request taken apart (``duress_request_counter``), and take a relayed
duress-signed request whose nonce is unspent here as a trigger even when it is behind
(acting on it as a look, so it undoes nothing newer). More generally, only a later
request that *supersedes* it should make a relayed copy stale; a look supersedes nothing.

Fixed: looks are never ordered, and a duress request a later real one outranked is still
taken as a duress look (``federation.take_request``).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_a_duress_look_relayed_late_still_triggers_the_peers(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    fed = federation(tmp_path, owner, policy=POLICY, duress=duress)
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        fed.world.run(T0 + 600)
        fed.world.dead = {fed.world.nodes[1].url, fed.world.nodes[2].url}
        signed(duress, a, fed.switch, "status")  # request n, the duress key: triggers A
        fed.world.run(T0 + 1200)
        assert a.status(fed.switch)["state"] == "triggered"  # the truth
        fed.world.dead = set()
        signed(owner.signing, b, fed.switch, "status")  # request n+1, real, the owner free
        signed(owner.signing, c, fed.switch, "status")
        fed.world.run(T0 + 10 * HOUR)
        published = press_mail(fed)
        assert published, (
            f"the owner was coerced (a duress look at A), yet nothing was published: "
            f"states {fed.states()}; B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
