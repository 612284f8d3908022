"""Attack: a duress check-in that reaches one server only is outranked, on the others, by
a later real check-in (a higher counter), so its relay is ignored there as a replay. The
peers never trigger; the one server that did is releasing alone, short of K, forever:
promise 4 (every server triggers) and promise 2 (no lost release) broken."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from tests.attack.helpers import everywhere
from tests.engine.federation import PEER_WAIT, POLICY, T0, answers, close, federation


def test_a_duress_check_in_outranked_by_a_later_real_one_triggers_only_one_server(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, duress=Ed25519PrivateKey.generate())
    try:
        w = fed.world
        # the coerced owner reaches server A only (B and C unreachable from A for a while)
        w.cut |= {w.link(0, 1), w.link(0, 2)}
        w.now = T0 + 600
        list(answers(fed, fed.checkin(owner, w.now, duress=True), [0]))  # counter 1
        w.run(T0 + 900)
        # later the owner checks in for real everywhere (counter 2); the network heals
        everywhere(fed, fed.checkin(owner, w.now))
        w.cut.clear()
        end = w.now + 3 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT)
        while w.now < end:  # the owner keeps checking in for real, as the coerced do
            w.run(w.now + POLICY.interval // 2)
            everywhere(fed, fed.checkin(owner, w.now))
        # the duress signal must trigger every server (promise 4) and the release must
        # complete (promise 2). It does neither:
        assert fed.states() == ["released"] * 3, fed.states()
    finally:
        close(fed)
