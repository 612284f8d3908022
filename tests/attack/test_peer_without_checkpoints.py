"""Attack: a hostile server that sends no checkpoint was never checked nor reported.

``compare_heads`` returns at once for a relay without a checkpoint, before the
``peer-unproven`` clock (``_unproven``) is ever consulted. A hostile server C simply
sends its first hourly heads as an honest server does (its peers take a base of its log),
then leaves the ``checkpoint`` (and ``held``, ``proof``) out of every relay it signs: its
relays still load (they look like check-in relays), so it is never silent either, and
its peers never compare its log again, and never report it, however
long (docs/federation.md, section 6, "A peer that never proves ... is not trusted
forever ... reported once (peer-unproven)"; "A server from before proofs is reported so
too: its log cannot be checked"). C could rewrite its log at will. Now a live peer
whose hourly relays bring no head for ``peer_silence`` is reported unproven
(``peers.head_seen``).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.switch.policy import Policy
from tests.engine.federation import T0, answers, close, federation

HOUR = 3600
LONG = Policy(interval=20 * 86400, grace=600, waiting=600)
SILENCE = 6 * HOUR  # every server's peer_silence, for a short test


def test_a_peer_that_never_sends_its_head_is_reported(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, policy=LONG, peer_silence=SILENCE)
    try:
        c_url = fed.world.nodes[2].url
        c_keys = fed.world.nodes[2].engine.keys

        def alter(origin: str, kind: str, doc: Any) -> Any:
            if origin != c_url or kind != "relays" or fed.world.now < T0 + 2 * HOUR:
                return doc
            canary = doc.get("canary")
            return sign_relay(
                c_keys, doc["switch"], doc["counter"], doc.get("checkin"), doc.get("state"),
                None, doc.get("at", 0), doc.get("request"),
                None if canary is None else base64.b64decode(canary),
            to=doc["to"], )  # fmt: skip

        fed.world.alter = alter
        while fed.world.now < T0 + 4 * SILENCE:  # the owner checks in: every log grows
            list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
            fed.world.run(fed.world.now + 2 * HOUR, step=60)
        reported = {
            i: [k for k in fed.kinds(i) if k in ("peer-unproven", "peer-forked", "peer-silent")]
            for i in (0, 1)
        }
        assert reported[0] and reported[1], (
            f"C sent no log head for {4 * SILENCE // HOUR}h; reports on A, B: {reported}"
        )
    finally:
        close(fed)
