"""Attack (one hostile peer of K-1 = 1, plus an outsider who cuts one honest server off):
the owner checks in on time at A and at the hostile H; honest B is cut off from the owner
and from A, and H withholds its relays to B. B asks its peers, hears nothing, and begins
releasing for a missed check-in, as designed; its peers are supposed to refuse it their
shares. H does not: it hands B its share, and B publishes while the owner checks in on
time elsewhere. Promise 1 ("no server publishes while the owner checks in anywhere in
time; K-1 hostile servers cannot release") broken by one hostile server and a cut link."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_handoff
from afterword.crypto.shares import ShareEnvelope
from tests.attack.helpers import everywhere
from tests.engine.federation import PEER_WAIT, POLICY, T0, close, federation


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="a design limit, documented in docs/federation.md: a server cut off from the "
    "owner and from every honest peer cannot tell 'the owner is silent and the others are "
    "gone' (where promise 2 wants it to release) from 'a hostile peer withholds what it "
    "heard'; with K-1 hostile or cut-off servers, one hostile peer's share completes it",
)
def test_a_hostile_peer_completes_an_isolated_servers_release(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        _, b, h = (n.engine for n in w.nodes)
        w.cut.add(w.link(0, 1))  # the outsider: A and B cannot reach each other
        w.swallow.add((w.nodes[2].url, w.nodes[1].url))  # H tells B nothing
        blob = (fed.sealed.bundle / "shares" / "s2.age").read_bytes()
        share = ShareEnvelope.from_json(json.loads(h.keys.decrypt(blob)))
        sealed = [share.encrypt(b.keys.age_recipient)]
        end = T0 + 3 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT)
        while w.now < end:  # the owner checks in every half interval, at A and H
            w.run(w.now + POLICY.interval // 2)
            everywhere(fed, fed.checkin(owner, w.now), to=[0, 2])
            if b.status(fed.switch)["state"] == "releasing":
                to, at = b.keys.public_key, w.now  # the owner's newest counter, as H has it
                handoff = sign_handoff(h.keys, fed.switch, sealed, fed.counter, to=to, at=at)
                b.take_handoff(fed.switch, handoff, client="10.7.7.7 h")
        published = [m for m in w.mail if m.to == "mailto:press@example.org"]
        assert published == [], fed.states()
    finally:
        close(fed)
