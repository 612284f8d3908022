"""Attack (no attacker needed): the owner's signed actions other than a check-in go to one
server (`afterword pause/disarm --server URL`) and are never relayed. On a federated
switch the other servers never hear of them:

- a pause taken at A is ignored by B and C, which count the owner silent and release
  (K = 2) while the owner is inside the pause A accepted: a false release;
- a disarm completed at A (custodians told "disarmed", A's share deleted) leaves B and C
  armed; the owner, told the switch is retired, stops checking in, and B and C release.
"""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import everywhere, signed
from tests.engine.federation import PEER_WAIT, POLICY, T0, answers, close, federation

QUICK = Policy(interval=3600, grace=600, waiting=600, cooling_off=2 * 3600)


def test_a_pause_at_one_server_is_not_a_pause_at_the_others(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        w.now = T0 + 1800
        list(answers(fed, fed.checkin(owner, w.now), [0, 1, 2]))
        w.run(T0 + 1900)
        pause_ends = w.now + 6 * POLICY.interval
        said = signed(owner.signing, w.nodes[0].engine, fed.switch, "pause", until=pause_ends)
        assert said["state"] == "paused"
        w.run(pause_ends - 60)  # inside the pause the owner was granted
        published = [m for m in w.mail if m.to == "mailto:press@example.org"]
        assert published == [], fed.states()
    finally:
        close(fed)


def test_a_disarm_at_one_server_leaves_the_others_to_release(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, policy=QUICK)
    try:
        w = fed.world
        said = signed(owner.signing, w.nodes[0].engine, fed.switch, "disarm")
        assert said["state"] == "disarming"
        # the owner keeps checking in through the cooling-off, as the switch demands
        while fed.states()[0] != "disarmed":
            w.run(w.now + POLICY.interval // 2)
            everywhere(fed, fed.checkin(owner, w.now))
        # retired, says A; the owner stops checking in
        w.run(w.now + 3 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT))
        published = [m for m in w.mail if m.to == "mailto:press@example.org"]
        assert published == [], (fed.states(), len(published))
    finally:
        close(fed)
