"""A LOST release that the owner's own CLI causes (no attacker; a network blip between the
owner and one server). ``afterword release --server A --server B``: one ``Signer``, one
counter n for the command. A takes the release (n). B's answer is lost (a timeout, a 502
from its proxy, the laptop's Wi-Fi dropping for a second): ``answers[B]`` is an error. The
CLI then runs ``_taken_from_peers``: it asks B for its ``status``, signed by the same
``Signer``, so numbered n too. B takes the look (the direct path takes a counter equal to
the highest) and keeps n as the highest request acted on. When A's relay of the release
(n) reaches B, ``in_order(..., relayed=True)`` ignores it: "a peer's copy of a request
taken here already". But what B took under n was a look, not the release. B never
triggers; A begins releasing, its handoff is answered 425 for ever, K = 2 is never
reached. The CLI even shows B as an error, or (if A's relay had already come) as
releasing; the owner has no way to know.

Steps (servers A, B; K = 2):
1. The owner's release request n reaches A; A triggers and queues its relay to B.
2. The same command's request to B is lost on the way (here: never sent).
3. ``_taken_from_peers`` signs ``status`` with counter n for B; B takes it.
4. A's relay of release n reaches B: ignored. Nothing is ever published.

Fix suggested: a request's counter must name one request, not one command: sign the
follow-up ``status`` (and every retry of another action) with a fresh counter *and*
stop a look from shadowing an action (see test_status_overtakes_release_now.py: order
relayed copies against the highest *state-changing* request only). At the least,
``in_order`` must not treat "the same counter" as "the same request": compare the
request's action and body (or a digest of them), not just its number.

Fixed: looks are never ordered, and the CLI numbers every request anew
(``cli/servers.Signer``).
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.engine import Engine
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, signed
from tests.engine.federation import T0, close, federation
from tests.owner_request import next_counter

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_the_clis_status_probe_does_not_lose_the_release(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, servers=2, threshold=2, policy=POLICY)
    try:
        a, b = (n.engine for n in fed.world.nodes)
        fed.world.run(T0 + 600)
        counter = next_counter()  # one Signer, one number for the command

        def send(engine: Engine, action: str) -> dict:
            return signed(owner.signing, engine, fed.switch, action, counter=counter)

        assert send(a, "release")["state"] == "triggered"
        # B's copy of the release is lost on the way; the CLI asks B how it is
        send(b, "status")
        fed.world.run(T0 + 8 * HOUR)
        published = press_mail(fed)
        assert published, (
            f"the owner asked for the release and never took it back, yet nothing was "
            f"published: states {fed.states()}; B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
