"""Attack (an outsider, a hostile peer): promise 5 says forged relays and check-ins are
refused *and logged*. Only a ``Forbidden`` is logged; a refusal raised as a
``FormatError`` (400) leaves no trace in the switch's log:

- the owner's genuine check-in for another of their switches, sent by an outsider to
  this switch's /checkins (a cross-switch replay);
- a peer's relay carrying the owner's check-in for another switch;
- a peer's relay that names another switch, or carries a state that is none;
- a peer's handoff carrying no envelope, or too many.
Each is refused, and the owner's audit log shows nothing of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.crypto.relay import sign_handoff, sign_relay
from afterword.crypto.signing import sign_document
from afterword.errors import AfterwordError
from tests.engine.federation import T0, Federation, close, federation


@pytest.fixture
def fed(tmp_path: Path, owner: OwnerKey) -> Federation:
    made = federation(tmp_path, owner)
    yield made  # type: ignore[misc]
    close(made)


def refusals(fed: Federation) -> int:
    return sum(k.endswith("-refused") for k in fed.kinds(0))


def test_cross_switch_and_malformed_peer_documents_are_refused_and_logged(
    fed: Federation, owner: OwnerKey
) -> None:
    target = fed.world.nodes[0].engine
    peer = fed.world.nodes[1].engine.keys
    other_switch = sign_checkin(owner.signing, "another-switch-of-the-owner", T0, 99)
    body = {"afterword": "relay/1", "switch": fed.switch, "counter": 1, "checkin": None}
    cases = [
        ("checkin", other_switch),
        ("relay", sign_relay(peer, fed.switch, 99, other_switch, to=target.keys.public_key)),
        (
            "relay",
            sign_relay(peer, "another-switch-of-the-owner", 1, None, to=target.keys.public_key),
        ),
        ("relay", sign_document({**body, "state": "exploded"}, peer.signing, "server_key")),
        ("handoff", sign_handoff(peer, fed.switch, [], 0, to=target.keys.public_key, at=T0)),
        (
            "handoff",
            sign_handoff(peer, fed.switch, [b"x"] * 17, 0, to=target.keys.public_key, at=T0),
        ),
    ]
    take = {
        "checkin": target.signed_checkin,
        "relay": target.take_relay,
        "handoff": target.take_handoff,
    }
    unlogged = []
    for kind, doc in cases:
        before = refusals(fed)
        with pytest.raises(AfterwordError):
            take[kind](fed.switch, doc, client="10.6.6.6 mallory")
        if refusals(fed) == before:
            unlogged.append(kind)
    assert unlogged == [], f"refused but not logged: {unlogged}"
