"""The signed check-in (crypto/checkin.py): one document for every server of a switch,
verifiable with the owner's public key alone; a replay moves nothing, a forgery or an
altered copy is refused, and a duress check-in differs only in the key that signed it."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from afterword.crypto.checkin import CheckIn, is_newer, load_checkin, sign_checkin
from afterword.crypto.signing import parse_public_key, public_key_text
from afterword.errors import AfterwordError, FormatError, SignatureError

SWITCH = "K7QW2XDN4V6M3PZJ5HB8RCTY2E"
OWNER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
DURESS = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS = (public_key_text(OWNER.public_key()), public_key_text(DURESS.public_key()))
STRANGER = public_key_text(Ed25519PrivateKey.generate().public_key())


def test_a_check_in_loads_with_the_owner_key_alone_and_says_who_signed() -> None:
    doc = sign_checkin(OWNER, SWITCH, 1_800_000_000, 7)
    assert load_checkin(doc, SWITCH, KEYS) == CheckIn(SWITCH, 1_800_000_000, 7, KEYS[0])
    forced = sign_checkin(DURESS, SWITCH, 1_800_000_000, 7)
    assert load_checkin(forced, SWITCH, KEYS).signer == KEYS[1]


def test_a_duress_check_in_differs_only_in_its_key_and_signature() -> None:
    real = sign_checkin(OWNER, SWITCH, 1_800_000_000, 7)
    forced = sign_checkin(DURESS, SWITCH, 1_800_000_000, 7)
    assert set(real) == set(forced)
    assert {k for k in real if real[k] != forced[k]} == {"signature"}  # no signer named
    assert len(rfc8785.dumps(real)) == len(rfc8785.dumps(forced))


def test_any_ed25519_and_rfc8785_tool_can_check_it() -> None:
    """Checked here without afterword's code: the signature covers the canonical JSON
    of the document without its signature."""
    doc = sign_checkin(OWNER, SWITCH, 1_800_000_000, 1)
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    raw = base64.b64decode(doc["signature"] + "=" * (-len(doc["signature"]) % 4))
    key = base64.b64decode(KEYS[0].removeprefix("ed25519:") + "==")
    Ed25519PublicKey.from_public_bytes(key[:32]).verify(raw, rfc8785.dumps(unsigned))


def test_a_replay_or_a_late_copy_moves_nothing() -> None:
    seen = load_checkin(sign_checkin(OWNER, SWITCH, 1_800_000_000, 5), SWITCH, KEYS)
    assert is_newer(seen, 4)
    assert not is_newer(seen, 5)  # the same one again
    assert not is_newer(seen, 9)  # an older one, arriving after newer ones


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"at": 1_800_000_001}, SignatureError, "does not verify"),
        ({"counter": 8}, SignatureError, "does not verify"),
        ({"switch": "OTHERSWITCH"}, SignatureError, "does not verify"),
        ({"signature": "AAAA"}, SignatureError, "does not verify"),
        ({"owner_key": STRANGER}, FormatError, "unknown fields: owner_key"),
        ({"afterword": "request/1"}, FormatError, "expected an afterword checkin"),
        ({"server": "https://a.example"}, FormatError, "unknown fields: server"),
    ],
)  # fmt: skip
def test_an_altered_check_in_is_refused(
    change: dict[str, Any], error: type[AfterwordError], words: str
) -> None:
    doc = {**sign_checkin(OWNER, SWITCH, 1_800_000_000, 7), **change}
    with pytest.raises(error) as refused:
        load_checkin(doc, SWITCH, KEYS)
    assert words in refused.value.message


def test_a_check_in_for_another_switch_or_by_a_stranger_is_refused() -> None:
    with pytest.raises(FormatError, match="is for switch 'OTHERSWITCH'"):
        load_checkin(sign_checkin(OWNER, "OTHERSWITCH", 1_800_000_000, 7), SWITCH, KEYS)
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureError, match="does not verify with this switch's owner key"):
        load_checkin(sign_checkin(stranger, SWITCH, 1_800_000_000, 7), SWITCH, KEYS)
    with pytest.raises(FormatError, match="must be a JSON object"):
        load_checkin([1], SWITCH, KEYS)


@pytest.mark.parametrize(
    ("at", "counter"), [(-1, 1), (1.5, 1), (True, 1), (1, 0), (1, -3), (1, "2"), (2**41, 1)]
)
def test_only_whole_numbers_in_range_are_signed(at: Any, counter: Any) -> None:
    with pytest.raises(FormatError, match="must be a whole number"):
        sign_checkin(OWNER, SWITCH, at, counter)


@given(
    at=st.integers(0, 2**40),
    counter=st.integers(1, 2**53 - 1),
    field=st.sampled_from(["at", "counter"]),
    other=st.integers(0, 2**53 - 1),
)
def test_a_check_in_loads_as_signed_or_not_at_all(
    at: int, counter: int, field: str, other: int
) -> None:
    doc = sign_checkin(OWNER, SWITCH, at, counter)
    assert load_checkin(doc, SWITCH, KEYS) == CheckIn(SWITCH, at, counter, KEYS[0])
    altered = {**doc, field: other}
    if altered == doc:
        return
    with pytest.raises(AfterwordError):
        load_checkin(altered, SWITCH, KEYS)


def test_parsed_keys_are_kept_by_their_text_so_a_changed_key_is_never_stale() -> None:
    """``parse_public_key`` keeps what it parsed: a switch whose owner key changed is
    checked against the new key at once, and a key that does not parse is refused every
    time, not once."""
    doc = sign_checkin(OWNER, SWITCH, 1_800_000_000, 7)
    assert load_checkin(doc, SWITCH, KEYS).signer == KEYS[0]  # the owner key, now kept
    with pytest.raises(SignatureError):  # the same switch, its key changed
        load_checkin(doc, SWITCH, (STRANGER, KEYS[1]))
    assert load_checkin(doc, SWITCH, (STRANGER, KEYS[0])).signer == KEYS[0]
    assert parse_public_key(KEYS[0]) is parse_public_key(KEYS[0])
    assert (
        parse_public_key(KEYS[0]).public_bytes_raw() != parse_public_key(KEYS[1]).public_bytes_raw()
    )
    for _ in range(2):
        with pytest.raises(FormatError, match="not 32 bytes"):
            parse_public_key("ed25519:" + base64.b64encode(bytes(31)).decode())
