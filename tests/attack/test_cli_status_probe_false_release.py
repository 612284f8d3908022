"""A FALSE release the owner's own CLI sets up (no hostile server; a network blip between
the owner and two servers, and A's relays slow for a few minutes). ``afterword abort
--server A --server B --server C`` signs one counter n for the whole command (one
``Signer``). A takes the abort. The requests to B and C are lost (a timeout). The CLI then
runs ``_taken_from_peers``: it asks C for its ``status``, signed with the same counter n,
and this time C answers. C takes the look (direct: a counter equal to the highest is
taken), keeps n as the highest request acted on, and relays the look to B, which takes it
too (n is past B's highest). When A's relay of the abort (n) reaches B and C,
``in_order(..., relayed=True)`` ignores it as "a copy of a request taken here already":
the same number, a different request. B and C stay triggered, begin releasing after the
waiting period, hand their shares to each other, K = 2, and publish. The owner aborted
in time, and A, which took the abort, relayed it to both.

Steps (servers A, B, C; K = 2; the owner asked for a release with a waiting period, which
every server took):
1. The outsider slows A's relays to B and C (here: the links A-B and A-C cut for 10 min).
2. ``afterword abort``: A takes abort n; the CLI's requests to B and C time out.
3. ``_taken_from_peers``: ``status`` n at C (taken), relayed by C to B (taken).
4. The links heal; A's relay of abort n reaches B and C: ignored. They publish.
(Without the outsider, it is a race between A's outbox and the CLI's follow-up look,
which a slow A loses.)

Fix suggested: one counter per signed request, never per command (the follow-up look and
any retry sign a fresh one), and in ``in_order`` never let an equal counter stand for
"the same request" unless it is the same request (same action and body: compare a digest
kept beside ``request_counter``). Also: a relayed *look* must not raise
``request_counter`` in a way that makes a relayed abort stale (order against the highest
state-changing request).

Fixed: looks are never ordered, and the CLI numbers every request anew
(``cli/servers.Signer``).
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.engine import Engine
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, release_asked_everywhere, signed
from tests.engine.federation import T0, close, federation
from tests.owner_request import next_counter

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_the_clis_status_probe_does_not_undo_an_abort(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, policy=POLICY)
    try:
        a, _b, c = (n.engine for n in fed.world.nodes)
        release_asked_everywhere(fed, owner, T0)  # with its waiting period, everywhere
        fed.world.cut = {fed.world.link(0, 1), fed.world.link(0, 2)}  # A's relays slow
        counter = next_counter()  # one Signer, one number for the command

        def send(engine: Engine, action: str) -> dict:
            return signed(owner.signing, engine, fed.switch, action, counter=counter)

        assert send(a, "abort")["state"] == "armed"
        # the abort's requests to B and C timed out; the CLI asks C how it is
        send(c, "status")
        fed.world.run(T0 + 1500)  # C's relay of the look reaches B
        fed.world.cut = set()  # A's relays go through
        fed.world.run(T0 + 6 * HOUR)
        published = press_mail(fed)
        assert not published and fed.states() == ["armed"] * 3, (
            f"the owner aborted in time at A, which relayed the abort to B and C, yet: "
            f"states {fed.states()}, {len(published)} published; B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
