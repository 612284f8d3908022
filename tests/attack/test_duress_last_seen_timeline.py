"""Attack (a coercer watching the owner's ``status --json``): the peers' ``last_seen``
moves at moments it never moves after a real check-in.

``_peers_view`` hides each peer's *state* under duress (the decoy's stands for all), but
``last_seen`` is the true instant this server last took a fresh message from that peer.
After a duress check-in every server triggers and, after the waiting period, begins
releasing: each hands its shares to every peer (``handoff/1``, a fresh ``at``, so
``see_peer`` moves ``last_seen``), answers the peers' handoffs, and so on. After a real
check-in nothing is sent then: a peer is heard from at its hourly ask only. The coercer
polls status once a minute (the same owner-visible answer otherwise) and sees every
peer's ``last_seen`` jump, together, at check-in + waiting: the duress check-in is told
from a real one, and the coercer knows the release is under way.

Fixed: the owner is shown a peer's ``shown_seen``, moved at this server's hourly asks
alone (``peers._ask``), which come alike in both worlds.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from tests.attack.helpers import everywhere, signed
from tests.engine.federation import T0, close, federation


def test_the_peers_last_seen_timeline_under_duress_equals_the_real_one(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress)
    forced = federation(tmp_path / "forced", owner, duress=duress)
    try:
        for fed in (real, forced):
            fed.world.run(T0 + 1800, step=60)
        everywhere(real, real.checkin(owner, T0 + 1800))
        everywhere(forced, forced.checkin(owner, T0 + 1800, duress=True))
        timelines: dict[str, list[tuple[int, tuple]]] = {"real": [], "forced": []}
        for minute in range(1, 50):
            for name, fed, key in (("real", real, owner.signing), ("forced", forced, duress)):
                fed.world.run(T0 + 1800 + minute * 60, step=60)
                seen = signed(key, fed.world.nodes[0].engine, fed.switch, "status")
                view = tuple(
                    sorted((u, p["state"], p["last_seen"]) for u, p in seen["peers"].items())
                )
                if not timelines[name] or timelines[name][-1][1] != view:
                    timelines[name].append((fed.world.now, view))
        assert forced.states() != ["armed"] * 3  # the truth: it is releasing, or released
        assert timelines["forced"] == timelines["real"], (
            "the owner's status (peers) over 49 minutes after the check-in differs:\n"
            f"real:   {timelines['real']}\nforced: {timelines['forced']}"
        )
    finally:
        close(real)
        close(forced)
