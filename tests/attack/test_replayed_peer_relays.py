"""Attack: a hostile server replays an honest peer's old relays to the other peers.

Found by an attacker: a ``relay/1`` named its sender (its signature) but not its
receiver, and carried no freshness the receiver checked, so ``repo.see_peer`` took a
relay played again as a sign of life: ``last_seen = now``, its ``state``, its ``held``.
The hostile server C kept the first hourly relay A sent it and played it to B again and
again: A was down (seized, switched off) for days, B never reported it (``peer-silent``),
and B's ``status`` showed A alive. Now each relay names its receiver (``to``) and carries
the sender's clock (``at``): one addressed to C is refused at B, and one addressed to B,
kept by whoever saw it pass and played again, is no sign of life (``peers.heard_at``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afterword.crypto.keys import OwnerKey
from afterword.engine.errors import Forbidden
from afterword.switch.policy import Policy
from tests.engine.federation import T0, close, federation

HOUR = 3600
LONG = Policy(interval=20 * 86400, grace=600, waiting=600)  # no check-in needed meanwhile
SILENCE = 6 * HOUR  # every server's peer_silence, for a short test


def _capture(fed: Any, sender: int) -> dict[str, list[dict]]:
    """The relays ``sender`` sent, by receiver URL, as a hostile peer (C) or anyone on
    the wire keeps them."""
    kept: dict[str, list[dict]] = {}
    origin_url = fed.world.nodes[sender].url

    def taken(origin: str, to: str, kind: str, doc: dict, answer: dict) -> None:
        if origin == origin_url and kind == "relays":
            kept.setdefault(to, []).append(doc)

    fed.world.taken = taken
    return kept


def test_a_peer_down_for_days_is_reported_while_a_hostile_peer_replays_it(
    tmp_path: Path, owner: OwnerKey
) -> None:
    fed = federation(tmp_path, owner, policy=LONG, peer_silence=SILENCE)
    try:
        a_url, b_url, c_url = (n.url for n in fed.world.nodes)
        b = fed.world.nodes[1].engine
        kept = _capture(fed, 0)
        fed.world.run(T0 + 2 * HOUR)
        assert kept.get(b_url) and kept.get(c_url), kept.keys()
        fed.world.dead.add(a_url)  # A is seized and switched off
        refused = 0
        while fed.world.now < T0 + 2 * HOUR + 3 * SILENCE:
            fed.world.run(fed.world.now + HOUR)
            try:  # C plays to B what A sent to C: refused, and logged
                b.take_relay(fed.switch, kept[c_url][-1], client="127.0.0.9 peer")
            except Forbidden as exc:
                assert "addressed to another server" in exc.message
                refused += 1
            for doc in kept[b_url]:  # and what A sent to B, kept on the wire: no life
                b.take_relay(fed.switch, doc, client="127.0.0.9 peer")
        silent = [k for k in fed.kinds(1) if k == "peer-silent"]
        seen = b.status(fed.switch)["peers"][a_url]
        assert silent, f"A down for {3 * SILENCE // HOUR}h, B never reported it: B shows {seen}"
        assert refused and fed.kinds(1).count("relay-refused") >= refused
        # the owner's view moves at B's hourly asks, to a peer heard within two of them
        # (engine/peers._ask): A is shown as seen at B's asks up to two hours after A fell
        # silent, and never after, whatever C replays
        assert seen["last_seen"] <= T0 + 4 * HOUR, seen
    finally:
        close(fed)
