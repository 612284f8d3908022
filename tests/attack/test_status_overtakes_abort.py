"""A FALSE release (an outsider who slows A's relays for minutes; or none, if the owner is
quicker than A's outbox): the owner aborts at A, then checks that the abort got
everywhere with a status look at B and C, and the look makes B and C ignore the abort.

``in_order`` orders every request by its counter, looks included. The look (n+1) is taken
directly at B and C and becomes their highest request; A's relay of the abort (n) then
comes "older than one taken since" and is ignored. The look changes nothing, so B and C
stay triggered, release after the waiting period, hand over to each other (K = 2), and
publish. The status answers the owner got showed ``triggered`` at B and C, which is what
a not-yet-relayed abort looks like too.

Steps (A, B, C; K = 2; a release-now with a waiting period taken everywhere):
1. The outsider slows A's relays to B and C (the links A-B, A-C cut for ten minutes).
2. ``afterword abort --server A`` (n): A is armed again and queues its relay of the abort.
3. ``afterword status --server B --server C`` (n+1): both take the look.
4. A's relay of the abort arrives: ignored at B and C. They publish.

Fix suggested: order a relayed request only against requests that can supersede it. A
look (status, audit, drill, canary-add as a look) must not move the counter a relayed
abort/pause/release/settings is compared with: keep ``request_counter`` for the
state-changing requests only (and the nonce for replays), or, per action, the highest
counter of the requests that would undo it (an abort is stale only after a later
release-now).

Fixed: looks are never ordered (``engine/owner.LOOKS``): the status moves no number.
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import press_mail, release_asked_everywhere, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR)


def test_a_status_look_after_an_abort_does_not_undo_it(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, policy=POLICY)
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        release_asked_everywhere(fed, owner, T0)
        fed.world.cut = {fed.world.link(0, 1), fed.world.link(0, 2)}
        assert signed(owner.signing, a, fed.switch, "abort")["state"] == "armed"  # n
        signed(owner.signing, b, fed.switch, "status")  # n+1: did the abort get there?
        signed(owner.signing, c, fed.switch, "status")
        fed.world.run(T0 + 1500)
        fed.world.cut = set()
        fed.world.run(T0 + 6 * HOUR)
        published = press_mail(fed)
        assert not published and fed.states() == ["armed"] * 3, (
            f"the owner aborted in time at A, which relayed the abort, yet: states "
            f"{fed.states()}, {len(published)} published; B's log: {fed.kinds(1)}"
        )
    finally:
        close(fed)
