"""Attack: a handoff its sender withdrew is played again, later, to a peer that releases
alone, and completed K there: a false release with no hostile server at all. Fixed: a
handoff signed before a relay in which its sender said it was not releasing is refused
(``federation._withdrawn``). What the attacker found, as it was:

A withdrawn handoff (``repo.withdraw_handoffs``, when a lone canary release is stopped) is
only deleted from the *sender's* outbox. Every copy already sent is still a valid
``handoff/1``: addressed to its receiver (``to``), signed, and naming the counter the
owner's check-in had. The receiver refuses a handoff only if it holds a newer owner
check-in (``handoff.counter < row.checkin_counter``); ``at`` is used for nothing but
``see_peer``. A canary stop does not move the owner's counter, so as long as the owner
does not check in between (an owner who checks in weekly, a protected person checked
every few hours), the old handoff stays good for ever.

The outsider on the network only records what B sent C while B was (wrongly, alone)
releasing: C refused it then (425, not releasing). Later C is the one cut off from where
the protected person checks in, alarms alone, begins releasing short of K (a lone release
that her next relayed in-time check-in would stop), and the outsider plays B's old handoff
to C: C now holds its own share and B's, K = 2, and publishes. Mother checked in in time
at A throughout, the owner is well, and no server is hostile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.errors import AfterwordError
from afterword.switch.policy import Policy
from tests.attack.helpers import add_mother, press_mail
from tests.engine.federation import T0, close, federation

HOUR = 3600
OWNER = Policy(interval=7 * 24 * HOUR, grace=600, waiting=600)  # the owner: weekly
EVERY, GRACE = 2 * HOUR, 600  # mother: every two hours


@pytest.mark.parametrize(
    "replay",
    [
        pytest.param(False, id="control-no-replay"),
        pytest.param(True, id="replayed"),
    ],
)
def test_a_withdrawn_handoff_played_again_completes_a_lone_release(
    tmp_path: Path, owner: OwnerKey, replay: bool
) -> None:
    """Without the replay (control, passes) C's lone release publishes nothing."""
    fed = federation(tmp_path, owner, policy=OWNER)
    try:
        a, _b, c = (n.engine for n in fed.world.nodes)
        _a_url, b_url, _c_url = (n.url for n in fed.world.nodes)
        tokens = add_mother(fed, owner, EVERY, GRACE)
        recorded: list[dict] = []

        def alter(origin: str, kind: str, doc: Any) -> Any:
            # the outsider on the wire between B and C records what B hands over
            if origin == b_url and kind == "handoffs" and doc.get("to") == c.keys.public_key:
                recorded.append(doc)
            return doc

        fed.world.alter = alter

        # 1. A-B cut while mother checks in at A: B alarms alone and begins releasing,
        #    C refuses B's handoff (not releasing), the outsider keeps a copy.
        fed.world.cut.add(fed.world.link(0, 1))
        fed.world.now = T0 + EVERY - 1200
        a.canary_checkin(tokens["token"], client="10.9.9.9 phone")
        fed.world.run(T0 + EVERY + GRACE + OWNER.waiting + 900)
        assert fed.states() == ["armed", "releasing", "armed"], fed.states()
        assert recorded, "B's handoff to C was on the wire"

        # 2. The link heals; her relayed in-time check-in stops B, which withdraws its
        #    handoffs. Nothing published.
        fed.world.cut.clear()
        for _ in range(4):
            fed.world.run(fed.world.now + 1800)
            a.canary_checkin(tokens["token"], client="10.9.9.9 phone")
        assert fed.states() == ["armed", "armed", "armed"], fed.states()
        assert "canary-stopped" in fed.kinds(1)

        # 3. Now A-C is cut while she goes on checking in at A, in time: C alarms alone
        #    and begins releasing, short of K; the outsider plays B's old handoff to C.
        fed.world.cut.add(fed.world.link(0, 2))
        replayed = 0
        end = fed.world.now + 2 * EVERY + GRACE + OWNER.waiting + 1800
        while fed.world.now < end:
            fed.world.run(fed.world.now + 600)
            if fed.world.now % 1800 < 600:
                a.canary_checkin(tokens["token"], client="10.9.9.9 phone")
            if replay and c.status(fed.switch)["state"] == "releasing":
                try:
                    c.take_handoff(fed.switch, recorded[-1], client="10.6.6.6 outsider")
                    replayed += 1
                except AfterwordError:
                    pass
        published = press_mail(fed)
        assert not published, (
            f"mother checked in in time at A throughout and the owner is well, yet C "
            f"published after {replayed} replay(s) of B's withdrawn handoff; states "
            f"{fed.states()}, C's log: {fed.kinds(2)[-8:]}"
        )
    finally:
        close(fed)
