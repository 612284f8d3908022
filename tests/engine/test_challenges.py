"""Check-in challenges: a nonce proves itself (MAC, switch, expiry) without a database."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from afterword.engine.challenges import NONCE_TTL, Challenges
from afterword.engine.keys import ServerKeys

NOW = 1_800_000_000
KEYS = ServerKeys.generate()
CHALLENGES = Challenges(KEYS)


def test_a_nonce_is_good_for_its_switch_until_it_expires() -> None:
    nonce = CHALLENGES.issue("SWITCHA", NOW + NONCE_TTL)
    assert len(nonce) == 48
    assert CHALLENGES.expiry("SWITCHA", nonce, NOW) == NOW + NONCE_TTL
    assert CHALLENGES.expiry("SWITCHA", nonce, NOW + NONCE_TTL) == NOW + NONCE_TTL
    assert CHALLENGES.expiry("SWITCHA", nonce, NOW + NONCE_TTL + 1) is None  # expired
    assert CHALLENGES.expiry("SWITCHB", nonce, NOW) is None  # another switch's
    assert CHALLENGES.expiry("SWITCHA", nonce, NOW - 1) is None  # from a clock set back
    assert Challenges(ServerKeys.generate()).expiry("SWITCHA", nonce, NOW) is None
    assert Challenges(KEYS).expiry("SWITCHA", nonce, NOW) == NOW + NONCE_TTL  # same key


def test_nonces_differ_and_cannot_be_extended() -> None:
    nonces = {CHALLENGES.issue("SWITCHA", NOW + NONCE_TTL) for _ in range(100)}
    assert len(nonces) == 100
    raw = bytearray(base64.urlsafe_b64decode(next(iter(nonces))))
    raw[7] += 1  # one second later: the MAC no longer matches
    assert CHALLENGES.expiry("SWITCHA", base64.urlsafe_b64encode(raw).decode(), NOW) is None


@given(st.binary(min_size=36, max_size=36), st.integers(0, 47))
def test_a_changed_nonce_is_refused(raw: bytes, flip: int) -> None:
    good = CHALLENGES.issue("SWITCHA", NOW + 60)
    forged = base64.urlsafe_b64encode(raw).decode()
    assert forged == good or CHALLENGES.expiry("SWITCHA", forged, NOW) is None
    changed = good[:flip] + ("A" if good[flip] != "A" else "B") + good[flip + 1 :]
    assert CHALLENGES.expiry("SWITCHA", changed, NOW) is None


@given(st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text())))
def test_anything_else_quoted_as_a_nonce_is_refused_without_an_error(value: object) -> None:
    assert CHALLENGES.expiry("SWITCHA", value, NOW) is None
