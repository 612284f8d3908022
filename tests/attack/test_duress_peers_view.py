"""Attack (a coercer watching the owner): after a duress check-in every server triggers and,
after the waiting period, releases. Released switches stop asking their peers how they
are, so in the owner's `status --json` the peers' "last_seen" stops moving, while on a
switch checked in for real it moves every ``peer_every``. The coercer who looks at the
status an hour after the check-in sees the difference: promise 4 broken."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from tests.attack.helpers import everywhere, signed
from tests.engine.federation import T0, close, federation

HOUR = 3600


def test_the_peers_view_after_a_duress_release_equals_the_real_one(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress, peer_every=600)
    forced = federation(tmp_path / "forced", owner, duress=duress, peer_every=600)
    try:
        for world in (real, forced):
            world.world.now = T0 + 1800
        everywhere(real, real.checkin(owner, T0 + 1800))
        everywhere(forced, forced.checkin(owner, T0 + 1800, duress=True))
        for world in (real, forced):
            world.world.run(T0 + 1800 + 50 * 60, step=60)
        assert forced.states() == ["released"] * 3  # the truth, the custodians' view
        seen_real = signed(owner.signing, real.world.nodes[0].engine, real.switch, "status")
        seen_forced = signed(duress, forced.world.nodes[0].engine, forced.switch, "status")
        assert seen_forced["state"] == seen_real["state"] == "armed"
        last_real = {p["last_seen"] for p in seen_real["peers"].values()}
        last_forced = {p["last_seen"] for p in seen_forced["peers"].values()}
        assert last_forced == last_real, (last_forced, last_real, real.world.now)
    finally:
        close(real)
        close(forced)


def test_a_server_seized_after_a_duress_release_is_reported_as_for_real(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """The coercer seizes (switches off) one server after the coerced check-in and waits
    for the "a server of your switch is silent" mail that an honest switch sends the
    owner: it comes in the real world, never in the duress one."""
    duress = Ed25519PrivateKey.generate()
    kw = {"peer_every": 600, "peer_silence": 2 * HOUR}
    real = federation(tmp_path / "real", owner, duress=duress, **kw)
    forced = federation(tmp_path / "forced", owner, duress=duress, **kw)
    try:
        for world in (real, forced):
            world.world.now = T0 + 1800
        everywhere(real, real.checkin(owner, T0 + 1800))
        everywhere(forced, forced.checkin(owner, T0 + 1800, duress=True))
        for world in (real, forced):
            world.world.run(T0 + 1800 + 20 * 60, step=60)
            world.world.dead.add(world.world.nodes[2].url)  # seized
        for k in range(1, 4):  # the owner (coerced, or not) checks in every 50 minutes
            for world, duressed in ((real, False), (forced, True)):
                world.world.run(T0 + 1800 + k * 50 * 60, step=60)
                everywhere(world, world.checkin(owner, world.world.now, duress=duressed), [0, 1])
        told = [
            len([m for m in world.world.mail if "is silent" in m.subject and "owner" in m.to])
            for world in (real, forced)
        ]
        assert told[0] == told[1], (
            f"silent-server mails to the owner: real {told[0]}, duress {told[1]}"
        )
    finally:
        close(real)
        close(forced)
