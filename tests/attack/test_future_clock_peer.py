"""What held: a hostile peer with a clock far ahead poisons only its own ``heard_at``.

C signs relays and a handoff with ``at`` near the largest value allowed, to A and to B.
``peers.heard_at`` is kept per sender (the signature says who), so A's standing at B and
B's at A are untouched: each still hears the other, and neither is reported. C gains
nothing: its own later relays are no sign of life any more, and once it falls silent for
real it is reported as any silent peer. (Passes on a657f9a.)
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import MAX_COUNTER, sign_handoff, sign_relay
from afterword.errors import AfterwordError
from afterword.switch.policy import Policy
from tests.engine.federation import T0, close, federation

HOUR = 3600
LONG = Policy(interval=20 * 86400, grace=600, waiting=600)
SILENCE = 6 * HOUR


def test_a_peer_from_the_far_future_harms_only_itself(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, policy=LONG, peer_silence=SILENCE)
    try:
        a, b, c = (n.engine for n in fed.world.nodes)
        a_url, b_url, c_url = (n.url for n in fed.world.nodes)
        fed.world.run(T0 + HOUR)
        for victim in (a, b):
            victim.take_relay(
                fed.switch,
                sign_relay(c.keys, fed.switch, 0, None, "armed", at=MAX_COUNTER - 1,
                           to=victim.keys.public_key),
            )  # fmt: skip
            with contextlib.suppress(AfterwordError):  # refused (no share), seen all the same
                victim.take_handoff(
                    fed.switch,
                    sign_handoff(c.keys, fed.switch, [b"x"], 0, to=victim.keys.public_key,
                                 at=MAX_COUNTER),
                )  # fmt: skip
        fed.world.dead.add(c_url)  # and now C is switched off
        fed.world.run(T0 + HOUR + 3 * SILENCE, step=120)
        for me, _other, other_url in ((a, b, b_url), (b, a, a_url)):
            seen = me.status(fed.switch)["peers"][other_url]
            assert seen["last_seen"] >= fed.world.now - 2 * HOUR, seen
        for i in (0, 1):
            audit = fed.world.nodes[i].engine.audit_export(fed.switch)["entries"]
            silent = [e["detail"] for e in audit if e["kind"] == "peer-silent"]
            assert silent and all(c_url in d for d in silent), silent
    finally:
        close(fed)
