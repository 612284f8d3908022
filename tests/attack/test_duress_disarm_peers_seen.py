"""Attack (a coercer watching the owner's ``status --json``): after a forced disarm, the
peers' ``last_seen`` goes on moving in the duress world and stops in the real one.

``shown_seen`` moves at this server's hourly asks, and the asks come in every *true* phase
but disarmed (``peers.ASKED``). A real disarm ends in ``disarmed`` on every server: nobody
asks any more, and the owner's view of the peers freezes at the last ask. A duress disarm
shows the owner the same decoy (``disarmed``, on time), but the truth is triggered, then
released, and released switches go on asking (the fix of the earlier "frozen last_seen
after a duress release"): the owner's view of the peers moves every hour.

Steps:
1. The coercer makes the owner disarm (``afterword disarm``), with the passphrase the owner
   gives: the duress one.
2. The coercer waits out the cooling-off; ``status --json`` says ``disarmed`` in both worlds.
3. A few hours later the coercer looks again: real, every peer's ``last_seen`` is where it
   was at the disarm's end; duress, it is an hour old at most. Duress told, release known.

Fix suggested: the owner's view must follow the decoy's phase, not the truth's: when the
owner is shown ``disarmed`` (``owner_view(state)``), freeze ``shown_seen`` as a real
disarmed switch would (stop moving it at the instant the decoy's disarm completed), while
the asks themselves (the truth's) go on. More generally: derive every owner-visible field
of the peers from the decoy's timeline, never from the truth's asks.

Fixed: the owner's view of the peers stands still once the switch shown is disarmed, and
shows them disarmed (``peers._ask``, ``views``).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from afterword.switch.policy import Policy
from tests.attack.helpers import signed
from tests.engine.federation import T0, close, federation

HOUR = 3600
POLICY = Policy(interval=7 * 24 * HOUR, grace=600, waiting=HOUR, cooling_off=2 * HOUR)


def test_the_peers_view_after_a_forced_disarm_equals_a_real_one(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress, policy=POLICY)
    forced = federation(tmp_path / "forced", owner, duress=duress, policy=POLICY)
    try:
        for fed in (real, forced):
            fed.world.run(T0 + 1800, step=60)
        signed(owner.signing, real.world.nodes[0].engine, real.switch, "disarm")
        signed(duress, forced.world.nodes[0].engine, forced.switch, "disarm")
        views: dict[str, list] = {"real": [], "forced": []}
        for hour in (3, 5, 7):
            for name, fed, key in (("real", real, owner.signing), ("forced", forced, duress)):
                fed.world.run(T0 + 1800 + hour * HOUR, step=60)
                seen = signed(key, fed.world.nodes[0].engine, fed.switch, "status")
                views[name].append(
                    (
                        seen["state"],
                        sorted((u, p["state"], p["last_seen"]) for u, p in seen["peers"].items()),
                    )
                )
        assert real.states() == ["disarmed"] * 3, real.states()
        assert forced.states() != ["disarmed"] * 3  # the truth: triggered, or released
        assert views["forced"] == views["real"], (
            "the owner's status after the disarm completed differs:\n"
            f"real:   {views['real']}\nforced: {views['forced']}"
        )
    finally:
        close(real)
        close(forced)
