"""Attack: a hostile server freezes the log head it shows its peers, and is never checked
again nor reported.

The fix for ``test_peer_without_checkpoints.py`` reports a live peer that sends *no* head
for ``peer_silence`` (``peers.head_seen``). But nothing asks that the head a peer sends
ever grows. The hostile server C sends honest heads for two hours (its peers take a base
of its log), then puts that same signed checkpoint, unchanged, in every hourly relay it
signs, with a fresh ``at`` and no proof. ``compare_heads`` sees a relay newer than the last
(``head_seen`` refreshed), a head of the same size and root as the base (``_proved``:
"newer.size == base.size", so proved, and any unproven clock cleared). Meanwhile C takes
every check-in the owner makes (its relays say so: their counter grows), so its true log
grows by many entries, none of which any peer ever fixes: C can rewrite all of them at
will, for ever, and neither A nor B reports anything. docs/federation.md says such a
server "cannot escape comparison", and that unproven entries stay open at most
``peer_silence``.

Fixed: a head that did not grow while the peer's relays carry newer check-ins is no sign
of its heads (``peers.head_counter``, ``compare_heads``), so after ``peer_silence`` the
peer is reported unproven.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from afterword.crypto.checkpoint import parse_checkpoint, parse_note
from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_relay
from afterword.switch.policy import Policy
from tests.engine.federation import T0, answers, close, federation

HOUR = 3600
LONG = Policy(interval=20 * 86400, grace=600, waiting=600)
SILENCE = 6 * HOUR  # every server's peer_silence, for a short test


def test_a_peer_that_freezes_its_log_head_is_reported(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner, policy=LONG, peer_silence=SILENCE)
    try:
        c_url = fed.world.nodes[2].url
        c_keys = fed.world.nodes[2].engine.keys
        frozen: list[str] = []
        counters: list[int] = []

        def alter(origin: str, kind: str, doc: Any) -> Any:
            if origin != c_url or kind != "relays":
                return doc
            counters.append(doc["counter"])
            if fed.world.now < T0 + 2 * HOUR or doc.get("checkpoint") is None:
                if doc.get("checkpoint") is not None:
                    frozen[:] = [doc["checkpoint"]]
                return doc
            canary = doc.get("canary")
            return sign_relay(
                c_keys, doc["switch"], doc["counter"], doc.get("checkin"), doc.get("state"),
                frozen[0], doc["at"], doc.get("request"),
                None if canary is None else base64.b64decode(canary),
                held=doc.get("held"), proof=None, to=doc["to"],
            )  # fmt: skip

        fed.world.alter = alter
        while fed.world.now < T0 + 4 * SILENCE:  # the owner checks in: every log grows
            list(answers(fed, fed.checkin(owner, fed.world.now), [0]))
            fed.world.run(fed.world.now + 2 * HOUR, step=60)
        assert frozen, "C sent a head before it froze it"
        shown = parse_checkpoint(parse_note(frozen[0])[0]).size
        true_size = len(fed.kinds(2))
        assert true_size > shown + 10, (shown, true_size)  # C's real log went on growing
        assert max(counters) >= 10  # and C's own relays said it took those check-ins
        reported = {
            i: [k for k in fed.kinds(i) if k in ("peer-unproven", "peer-forked", "peer-silent")]
            for i in (0, 1)
        }
        assert reported[0] and reported[1], (
            f"C showed the head of {shown} entries for {(4 * SILENCE - 2 * HOUR) // HOUR}h "
            f"while its log grew to {true_size} (it relayed check-in {max(counters)}); "
            f"reports on A, B: {reported}"
        )
    finally:
        close(fed)
