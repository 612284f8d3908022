"""Attack (no hostile server, two clock faults at different times): C's clock jumps days
ahead, C begins releasing and hands its share to A and B, who refuse (409: retried). The
owner's next check-in stops C's release, as designed, but C's handoffs stay in its outbox,
retried for ever. Later B's clock jumps too; the moment B begins releasing, C's old handoff
gets through, B holds K = 2 shares and publishes, while the owner checks in on time and A
and C are armed. Promise 1 ("no server publishes while the owner checks in in time",
"even with clocks wrong") broken with no hostile server at all."""

from __future__ import annotations

from pathlib import Path

from afterword.crypto.keys import OwnerKey
from tests.attack.helpers import everywhere
from tests.engine.federation import PEER_WAIT, POLICY, T0, close, federation

DAY = 24 * 3600


def test_a_stopped_releases_handoff_does_not_complete_a_later_one(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        _, b, c = (n.engine for n in w.nodes)
        w.now = T0 + 600
        everywhere(fed, fed.checkin(owner, w.now), to=[0])
        w.run(T0 + 900)
        c.clock.offset = 3 * DAY  # type: ignore[attr-defined]
        w.run(T0 + 900 + 2 * PEER_WAIT + POLICY.grace + POLICY.waiting + 300)
        assert fed.states() == ["armed", "armed", "releasing"]
        everywhere(fed, fed.checkin(owner, w.now), to=[0])  # stops C, as designed
        w.run(w.now + 120)
        assert fed.states() == ["armed", "armed", "armed"]
        b.clock.offset = 3 * DAY  # type: ignore[attr-defined]  # later, B's clock jumps
        end = w.now + 2 * DAY
        while w.now < end:  # the owner checks in at A every 50 minutes: always in time
            w.run(w.now + 50 * 60)
            everywhere(fed, fed.checkin(owner, w.now), to=[0])
        published = [m for m in w.mail if m.to == "mailto:press@example.org"]
        assert published == [], fed.states()
    finally:
        close(fed)
