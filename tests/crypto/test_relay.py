"""What servers of one switch tell each other (crypto/relay.py): a relay of the owner's
check-in and a handoff of shares, each signed by a server on the owner's roster and by
no one else; altered, foreign or malformed ones are refused with a reason, never a crash."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import KeyPair
from afterword.crypto.relay import load_handoff, load_relay, sign_handoff, sign_relay
from afterword.crypto.servers import Server, ServerRoster
from afterword.errors import AfterwordError, FormatError, SignatureError

SWITCH = "K7QW2XDN4V6M3PZJ5HB8RCTY2E"
KEYS = [KeyPair.generate() for _ in range(3)]
ROSTER = ServerRoster(
    SWITCH,
    tuple(
        Server(f"https://s{i}.example", k.public_key, k.age_recipient) for i, k in enumerate(KEYS)
    ),
)
OWNER = KeyPair.generate()


def test_a_relay_loads_for_its_peers_and_names_its_sender() -> None:
    checkin = sign_checkin(OWNER.signing, SWITCH, 1_800_000_000, 3)
    doc = sign_relay(KEYS[1], SWITCH, 3, checkin, "armed")
    relay = load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)
    assert (relay.sender, relay.counter, relay.checkin, relay.state) == (
        ROSTER.servers[1], 3, checkin, "armed",
    )  # fmt: skip
    with pytest.raises(SignatureError, match="not signed by a server on this switch's roster"):
        load_relay(doc, SWITCH, ROSTER, KEYS[1].public_key)  # its own, come back


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"counter": 4}, SignatureError, "does not verify"),
        ({"state": "released"}, SignatureError, "does not verify"),
        ({"server_key": KeyPair.generate().public_key}, SignatureError, "not signed by a server"),
        ({"switch": "OTHER"}, SignatureError, "does not verify"),
        ({"extra": 1}, FormatError, "unknown fields: extra"),
    ],
)
def test_an_altered_relay_is_refused(change: dict[str, Any], error: type, words: str) -> None:
    doc = {**sign_relay(KEYS[1], SWITCH, 3, None), **change}
    with pytest.raises(error, match=words):
        load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)


def test_a_relay_for_another_switch_or_with_a_state_made_up_is_refused() -> None:
    other = sign_relay(KEYS[1], "OTHERSWITCHID7QW2XDN4V6M3PZ", 1, None)
    with pytest.raises(FormatError, match="is for switch"):
        load_relay(other, SWITCH, ROSTER, KEYS[0].public_key)
    with pytest.raises(FormatError, match="state must be one of"):
        sign_relay(KEYS[1], SWITCH, 1, None, "asleep")


def test_a_handoff_carries_envelopes_from_a_peer_and_nothing_else() -> None:
    doc = sign_handoff(KEYS[2], SWITCH, [b"age-envelope-1", b"age-envelope-2"], 3)
    handoff = load_handoff(doc, SWITCH, ROSTER, KEYS[0].public_key)
    assert handoff.sender == ROSTER.servers[2]
    assert handoff.envelopes == (b"age-envelope-1", b"age-envelope-2")
    for envelopes in ([], ["x"] * 17):
        forged = sign_handoff(KEYS[2], SWITCH, [b"e"], 1)
        forged = {**forged, "envelopes": envelopes}
        with pytest.raises(AfterwordError):
            load_handoff(forged, SWITCH, ROSTER, KEYS[0].public_key)
    stranger = sign_handoff(KeyPair.generate(), SWITCH, [b"e"], 1)
    with pytest.raises(SignatureError, match="not signed by a server"):
        load_handoff(stranger, SWITCH, ROSTER, KEYS[0].public_key)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(doc=JSON, field=st.sampled_from(["counter", "checkin", "state", "switch", "signature"]))
def test_anything_a_stranger_sends_is_refused_with_a_reason(doc: object, field: str) -> None:
    for load in (load_relay, load_handoff):
        with pytest.raises(AfterwordError):
            load(doc, SWITCH, ROSTER, KEYS[0].public_key)
    genuine = sign_relay(KEYS[1], SWITCH, 1, None)
    altered = {**genuine, field: doc}
    if altered == genuine:
        return
    with pytest.raises(AfterwordError):  # a signed relay altered anywhere
        load_relay(altered, SWITCH, ROSTER, KEYS[0].public_key)
