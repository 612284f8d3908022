"""A protected person's check-in relayed between the servers of a switch
(crypto/canary_relay.py, in the ``canary`` field of a ``relay/1``): it opens only with
the receiver's key, the normal and the duress link's are the same size, and anything
malformed is refused with a reason."""

from __future__ import annotations

import json
import secrets

import pytest

from afterword.crypto.canary_relay import (
    SEALED,
    open_canary_checkin,
    seal_canary_checkin,
    sealed_file,
)
from afterword.crypto.keys import KeyPair
from afterword.crypto.relay import load_relay, sign_relay
from afterword.errors import FormatError
from tests.crypto.test_relay import KEYS, ROSTER, SWITCH

AT = 1_800_000_000


def test_it_opens_for_its_receiver_with_what_the_sender_said() -> None:
    token = secrets.token_hex(16)
    sealed = seal_canary_checkin(KEYS[0].age_recipient, SWITCH, token, AT, True)
    opened = open_canary_checkin(KEYS[0].decrypt(sealed_file(sealed)), SWITCH)
    assert (opened.token, opened.at, opened.in_time, opened.switch) == (token, AT, True, SWITCH)
    assert len(opened.nonce) == 32
    again = seal_canary_checkin(KEYS[0].age_recipient, SWITCH, token, AT, False)
    assert open_canary_checkin(KEYS[0].decrypt(sealed_file(again)), SWITCH).nonce != opened.nonce
    with pytest.raises(Exception):  # noqa: B017 (age's own error: another key)
        KEYS[1].decrypt(sealed_file(sealed))
    with pytest.raises(FormatError, match="another switch"):
        open_canary_checkin(KEYS[0].decrypt(sealed_file(sealed)), "Q" * 26)


def test_every_sealed_check_in_is_the_same_size_in_a_relay_that_loads() -> None:
    sizes = set()
    for in_time in (True, False):
        for _ in range(20):  # age's random header stanza: padded away
            sealed = seal_canary_checkin(
                KEYS[0].age_recipient, SWITCH, secrets.token_hex(16), AT, in_time
            )
            sizes.add(len(sealed))
    assert sizes == {SEALED}
    doc = sign_relay(KEYS[1], SWITCH, 0, None, canary=sealed, to=KEYS[0].public_key)
    assert load_relay(doc, SWITCH, ROSTER, KEYS[0].public_key).canary == sealed
    old = sign_relay(
        KEYS[1], SWITCH, 0, None, to=KEYS[0].public_key
    )  # a relay from before: no canary
    assert load_relay(old, SWITCH, ROSTER, KEYS[0].public_key).canary is None


@pytest.mark.parametrize(
    ("plaintext", "words"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a canary-checkin/1"),
        (
            json.dumps(
                {"afterword": "canary-checkin/1", "switch": SWITCH, "token": "x",
                 "nonce": "0" * 32, "at": AT, "in_time": 1}
            ).encode(),
            "not a link token",
        ),
        (
            json.dumps(
                {"afterword": "canary-checkin/1", "switch": SWITCH, "token": "a" * 32,
                 "nonce": "0" * 32, "at": AT, "in_time": True}
            ).encode(),
            "in_time is 0 or 1",
        ),
    ],
)  # fmt: skip
def test_a_malformed_check_in_is_refused(plaintext: bytes, words: str) -> None:
    with pytest.raises(FormatError, match=words):
        open_canary_checkin(plaintext, SWITCH)


def test_wrong_padding_is_refused() -> None:
    sealed = seal_canary_checkin(KEYS[0].age_recipient, SWITCH, "a" * 32, AT, True)
    with pytest.raises(FormatError, match="bytes"):
        sealed_file(sealed[:-1])
    with pytest.raises(FormatError, match="padding"):
        sealed_file(sealed[:-1] + b"\x01")
    with pytest.raises(FormatError, match="32 hexadecimal"):
        seal_canary_checkin(KeyPair.generate().age_recipient, SWITCH, "short", AT, True)
