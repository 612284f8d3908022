"""Attack (an outsider on the network, no hostile server): the owner's release-now and
the abort that followed it reach the other servers in the wrong order, and they released.
Fixed: every signed request carries the owner's counter, and a relayed copy is taken only
past the highest request acted on (``engine/owner.in_order``), so the release-now, older
than the abort B and C took, moves nothing. What the attacker found, as it was:

Relayed owner requests (``relay/1`` ``request``, ``federation.take_request``) are taken
once each (their nonce spent), within 7 days of the nonce's expiry, in whatever order they
arrive: nothing orders one signed request against another (check-ins have their counter,
requests have nothing). The owner reaches only A (B and C are blocked from where the
owner is: the CLI says so, but the abort at A took, and the docs promise A relays both),
asks for the release with the waiting period, and minutes later aborts it at A. A
relays both to B and C. The outsider drops A's relay of the release-now to B and C (A's
outbox retries it with backoff) until the abort's relay went through: B and C take the
abort while armed (it moves nothing there), then the release-now, and trigger (cause
owner; no check-in stops that). After the waiting period they begin releasing (which
nothing stops), hand their shares to each other, K = 2, and publish: the owner aborted
in time and every server heard the abort.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterword.crypto.keys import OwnerKey
from afterword.delivery import TransientError
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_an_abort_that_overtakes_its_release_now_does_not_release(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, policy=POLICY)
    try:
        a = fed.world.nodes[0].engine
        a_url = fed.world.nodes[0].url
        aborted: set[str] = set()  # the peers A's relay of the abort reached

        def action(doc: Any) -> str | None:
            request = doc.get("request") if isinstance(doc, dict) else None
            return None if request is None else request.get("action")

        def alter(origin: str, kind: str, doc: Any) -> Any:
            if origin == a_url and kind == "relays" and action(doc) == "release":
                target = next(
                    n.url for n in fed.world.nodes if n.engine.keys.public_key == doc["to"]
                )
                if target not in aborted:  # the outsider drops it: A retries later
                    raise TransientError("dropped on the way")
            return doc

        def taken(origin: str, to: str, kind: str, doc: Any, answer: Any) -> None:
            if origin == a_url and action(doc) == "abort":
                aborted.add(to)

        fed.world.alter = alter
        fed.world.taken = taken
        fed.world.run(T0 + 600)
        signed(owner.signing, a, fed.switch, "release")  # with the waiting period
        fed.world.run(T0 + 900)
        assert fed.states()[0] == "triggered"
        signed(owner.signing, a, fed.switch, "abort")  # the owner changes their mind
        fed.world.run(T0 + 4 * HOUR)
        published = press_mail(fed)
        assert not published and fed.states() == ["armed"] * 3, (
            f"the owner aborted the release-now in time, and every server took the abort "
            f"({sorted(aborted)}), yet: states {fed.states()}, {len(published)} published; "
            f"B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
