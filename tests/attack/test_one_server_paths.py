"""Attack: the release paths that start at one server and are never relayed. On a switch
whose shares are held one per server (K = 2 of 3), a server that starts releasing alone
hands its share to peers that are armed; they refuse it (409) forever, and nothing is
published:

- the owner's deliberate release (`afterword release-now --server A`);
- a duress signal given through the signed owner request (`afterword status --server A`
  unlocked with the duress passphrase: "a real look too ... triggers" under duress);
both lost releases (promises 2 and 4: "every server triggers")."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from tests.attack.helpers import everywhere, signed
from tests.engine.federation import PEER_WAIT, POLICY, T0, close, federation

LONG = 3 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT)


def test_a_deliberate_release_at_one_server_is_published(tmp_path: Path, owner: OwnerKey) -> None:
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        said = signed(owner.signing, w.nodes[0].engine, fed.switch, "release", skip_waiting=True)
        assert said["state"] == "releasing"
        end = w.now + LONG
        while w.now < end:  # the owner, who released on purpose, is alive and checks in
            w.run(w.now + POLICY.interval // 2)
            everywhere(fed, fed.checkin(owner, w.now))
        published = [m for m in w.mail if m.to == "mailto:press@example.org"]
        assert published, fed.states()
    finally:
        close(fed)


def test_a_duress_signed_request_at_one_server_triggers_every_server(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    fed = federation(tmp_path, owner, duress=duress)
    try:
        w = fed.world
        w.now = T0 + 600
        signed(duress, w.nodes[0].engine, fed.switch, "checkin")  # answered as a real one
        w.run(T0 + 900)
        assert fed.states() == ["triggered"] * 3, fed.states()
    finally:
        close(fed)
