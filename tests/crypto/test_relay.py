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
    doc = sign_relay(KEYS[1], SWITCH, 3, checkin, "armed", to=KEYS[0].public_key)
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
    doc = {**sign_relay(KEYS[1], SWITCH, 3, None, to=KEYS[0].public_key), **change}
    with pytest.raises(error, match=words):
        load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)


def test_a_relay_for_another_switch_or_with_a_state_made_up_is_refused() -> None:
    other = sign_relay(KEYS[1], "OTHERSWITCHID7QW2XDN4V6M3PZ", 1, None, to=KEYS[0].public_key)
    with pytest.raises(FormatError, match="is for switch"):
        load_relay(other, SWITCH, ROSTER, KEYS[0].public_key)
    with pytest.raises(FormatError, match="state must be one of"):
        sign_relay(KEYS[1], SWITCH, 1, None, "asleep", to=KEYS[0].public_key)


def test_a_handoff_carries_envelopes_from_a_peer_and_nothing_else() -> None:
    doc = sign_handoff(
        KEYS[2], SWITCH, [b"age-envelope-1", b"age-envelope-2"], 3, to=KEYS[0].public_key, at=1
    )
    handoff = load_handoff(doc, SWITCH, ROSTER, KEYS[0].public_key)
    assert handoff.sender == ROSTER.servers[2]
    assert handoff.envelopes == (b"age-envelope-1", b"age-envelope-2")
    for envelopes in ([], ["x"] * 17):
        forged = sign_handoff(KEYS[2], SWITCH, [b"e"], 1, to=KEYS[0].public_key, at=1)
        forged = {**forged, "envelopes": envelopes}
        with pytest.raises(AfterwordError):
            load_handoff(forged, SWITCH, ROSTER, KEYS[0].public_key)
    stranger = sign_handoff(KeyPair.generate(), SWITCH, [b"e"], 1, to=KEYS[0].public_key, at=1)
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
    genuine = sign_relay(KEYS[1], SWITCH, 1, None, to=KEYS[0].public_key)
    altered = {**genuine, field: doc}
    if altered == genuine:
        return
    with pytest.raises(AfterwordError):  # a signed relay altered anywhere
        load_relay(altered, SWITCH, ROSTER, KEYS[0].public_key)


# --- the log-consistency fields: "held" and "proof" (docs/federation.md, section 6) ---------

NOTE = "s1.example/afterword/K7QW2XDN4V6M3PZJ5HB8RCTY2E\n3\nAAAA\n\n\u2014 s1 AAAA\n"


def _signed(body: dict[str, Any], keys: KeyPair = KEYS[1]) -> dict[str, Any]:
    """A relay body as a (possibly hostile) peer signs it, whatever it holds."""
    from afterword.crypto.signing import SERVER_KEY, sign_document

    base = {"afterword": "relay/1", "switch": SWITCH, "counter": 1, "checkin": None, "at": 1}
    base["to"] = KEYS[0].public_key
    return sign_document({**base, **body}, keys.signing, key_field=SERVER_KEY)


def test_a_relay_says_which_size_it_holds_and_proves_from_the_size_asked() -> None:
    from afterword.crypto.relay import LogProof

    proof = LogProof(5, (bytes(range(32)), b"\xff" * 32))
    doc = sign_relay(
        KEYS[1],
        SWITCH,
        3,
        None,
        "armed",
        NOTE,
        7,
        None,
        held=12,
        proof=proof,
        to=KEYS[0].public_key,
    )
    assert doc["held"] == 12 and doc["proof"]["from"] == 5 and len(doc["proof"]["hashes"]) == 2
    relay = load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)
    assert (relay.held, relay.proof, relay.checkpoint, relay.at) == (12, proof, NOTE, 7)
    empty = LogProof(9, ())  # the same size: nothing to prove, still said
    doc = sign_relay(
        KEYS[1], SWITCH, 3, None, "armed", NOTE, 7, held=0, proof=empty, to=KEYS[0].public_key
    )
    assert load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key).proof == empty


def test_a_relay_of_an_older_sender_without_the_fields_still_loads() -> None:
    """Compat: the relays of a server before consistency proofs carry neither field."""
    for doc in (
        sign_relay(KEYS[1], SWITCH, 3, None, "armed", NOTE, 7, to=KEYS[0].public_key),
        _signed({}),
    ):
        relay = load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)
        assert relay.held is None and relay.proof is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"held": -1}, "held must be a whole number"),
        ({"held": "12"}, "held must be a whole number"),
        ({"held": True}, "held must be a whole number"),
        ({"proof": {"from": 1, "hashes": []}}, "proof comes only with a checkpoint"),
        ({"checkpoint": NOTE, "proof": []}, "proof must be"),
        ({"checkpoint": NOTE, "proof": {"from": 1}}, "proof must be"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": [], "x": 1}}, "proof must be"),
        ({"checkpoint": NOTE, "proof": {"from": -2, "hashes": []}}, "counter must be"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": "AAAA"}}, "at most 128 hashes"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": ["A" * 44] * 129}}, "at most 128"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": ["not base64!"]}}, "base64"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": ["AAAA"]}}, "32 bytes"),
        ({"checkpoint": NOTE, "proof": {"from": 1, "hashes": [7]}}, "32 bytes"),
    ],
)
def test_a_malformed_proof_or_size_is_refused_with_a_reason(
    body: dict[str, Any], words: str
) -> None:
    """A peer (hostile, or broken) signs a relay whose new fields are garbage: refused as
    malformed before anything in it is used, never a crash."""
    with pytest.raises(FormatError, match=words):
        load_relay(_signed(body), SWITCH, ROSTER, KEYS[0].public_key)


@given(
    held=st.integers(0, 2**53 - 1),
    old=st.integers(0, 2**53 - 1),
    hashes=st.lists(st.binary(min_size=32, max_size=32), max_size=128),
)
def test_any_proof_a_server_signs_loads_back_as_it_was(
    held: int, old: int, hashes: list[bytes]
) -> None:
    from afterword.crypto.relay import LogProof

    proof = LogProof(old, tuple(hashes))
    doc = sign_relay(
        KEYS[2], SWITCH, 1, None, None, NOTE, 1, held=held, proof=proof, to=KEYS[0].public_key
    )
    relay = load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)
    assert (relay.held, relay.proof) == (held, proof)


@given(proof=JSON, held=JSON)
def test_anything_in_the_new_fields_is_refused_with_a_reason_or_loads(
    proof: object, held: object
) -> None:
    for body in ({"checkpoint": NOTE, "proof": proof}, {"held": held}):
        try:
            relay = load_relay(_signed(body), SWITCH, ROSTER, KEYS[0].public_key)
        except FormatError:
            continue
        assert relay.proof is None or all(len(h) == 32 for h in relay.proof.hashes)


def test_a_relay_or_handoff_sent_to_another_server_is_refused_there() -> None:
    """Each names its receiver under the signature: what KEYS[1] sent to KEYS[2], played
    to KEYS[0] by KEYS[2] (a hostile peer) or by anyone who kept it, is refused."""
    to_other = KEYS[2].public_key
    relay = sign_relay(KEYS[1], SWITCH, 3, None, "armed", at=9, to=to_other)
    handoff = sign_handoff(KEYS[1], SWITCH, [b"e"], 3, to=to_other, at=9)
    assert load_relay(relay, SWITCH, ROSTER, to_other).at == 9  # where it was sent
    assert load_handoff(handoff, SWITCH, ROSTER, to_other).at == 9
    for load, doc in ((load_relay, relay), (load_handoff, handoff)):
        with pytest.raises(SignatureError, match="addressed to another server"):
            load(doc, SWITCH, ROSTER, KEYS[0].public_key)
    unaddressed = _signed({"to": None})
    with pytest.raises(SignatureError, match="addressed to another server"):
        load_relay(unaddressed, SWITCH, ROSTER, KEYS[0].public_key)


def test_a_relay_without_its_senders_clock_is_refused() -> None:
    from afterword.crypto.signing import SERVER_KEY, sign_document

    body = {"afterword": "relay/1", "switch": SWITCH, "counter": 1, "checkin": None}
    doc = sign_document({**body, "to": KEYS[0].public_key}, KEYS[1].signing, SERVER_KEY)
    with pytest.raises(FormatError, match="must be a whole number"):
        load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key)
