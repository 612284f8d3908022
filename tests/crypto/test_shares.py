"""SLIP-39 split/combine, commitments, envelopes and paper cards."""

from __future__ import annotations

import hashlib
import itertools
import os

import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto.shares import (
    CARD_BEGIN,
    ShareEnvelope,
    combine_shares,
    commitment,
    normalize_mnemonic,
    paper_qr,
    parse_share_text,
    read_share,
    split_secret,
)
from afterword.errors import ShareError


@settings(max_examples=25, deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32),
    n=st.integers(min_value=1, max_value=6),
    data=st.data(),
)
def test_any_k_of_n_rebuilds_and_fewer_do_not(secret: bytes, n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(min_value=1, max_value=n))
    mnemonics = split_secret(secret, k, n)
    assert len(mnemonics) == n
    subset = data.draw(st.permutations(mnemonics))[:k]
    assert combine_shares(subset) == secret
    if k > 1:
        with pytest.raises(ShareError, match="not enough shares"):
            combine_shares(subset[: k - 1])


def test_every_pair_of_a_2_of_4_split() -> None:
    secret = os.urandom(32)
    mnemonics = split_secret(secret, 2, 4)
    assert len(set(mnemonics)) == 4
    for pair in itertools.combinations(mnemonics, 2):
        assert combine_shares(pair) == secret


def test_more_than_k_shares_are_accepted() -> None:
    secret = os.urandom(32)
    assert combine_shares(split_secret(secret, 2, 3)) == secret


@pytest.mark.parametrize(("k", "n"), [(0, 3), (4, 3), (2, 17), (1, 0)])
def test_impossible_splits_are_refused(k: int, n: int) -> None:
    with pytest.raises(ShareError):
        split_secret(os.urandom(32), k, n)


def test_mixed_sets_are_refused() -> None:
    a = split_secret(os.urandom(32), 2, 3)
    b = split_secret(os.urandom(32), 2, 3)
    with pytest.raises(ShareError, match="do not belong together"):
        combine_shares([a[0], b[1]])


def test_commitment_is_sha256_of_normalised_words() -> None:
    (m,) = split_secret(os.urandom(32), 1, 1)
    expected = hashlib.sha256(m.encode()).hexdigest()
    assert commitment(m) == expected
    assert commitment("  " + m.upper().replace(" ", "\n  ") + "\n") == expected
    other = split_secret(os.urandom(32), 1, 1)[0]
    assert commitment(other) != expected


def test_a_mistyped_word_is_caught_by_the_checksum() -> None:
    m = split_secret(os.urandom(32), 2, 3)[0].split()
    m[5] = "academic" if m[5] != "academic" else "acid"
    with pytest.raises(ShareError, match="damaged or mistyped"):
        normalize_mnemonic(" ".join(m))
    with pytest.raises(ShareError, match="damaged or mistyped"):
        normalize_mnemonic("hello world")
    with pytest.raises(ShareError, match="no share words"):
        normalize_mnemonic("12345 ...")


def test_share_errors_name_a_position_never_a_word() -> None:
    """The message (which reaches logs and HTTP answers) quotes no word of the share, nor
    the library's error, whose text starts with the share's first four words."""
    m = split_secret(os.urandom(32), 2, 3)[0].split()
    at = next(i for i, w in enumerate(m) if i >= 4 and len(w) >= 5)
    swapped = [*m]
    swapped[9] = "academic" if m[9] != "academic" else "acid"
    cases = {
        f"word {at + 1} is not a SLIP-39 share word": [*m[:at], m[at][:-1], *m[at + 1 :]],
        "checksum does not match": swapped,
        "32 words": m[:-1],
    }
    for expected, words in cases.items():
        with pytest.raises(ShareError, match=expected) as caught:
            normalize_mnemonic(" ".join(words))
        said = f"{caught.value} {caught.value.hint}".lower().split()
        assert not {w.strip("().,:;") for w in said} & {*m, *words}, said
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_card_round_trip_and_content() -> None:
    m = split_secret(os.urandom(32), 3, 5)[2]
    env = ShareEnvelope(m, "abc123", "aunt-mary", 3, 5, "https://switch.example")
    card = env.card()
    assert "Custodian: aunt-mary" in card and "Switch:    abc123" in card
    assert "any 3 of the 5 shares" in card and "keep this card safe" in card
    parsed = parse_share_text(card, "card")
    assert parsed.mnemonic == m and parsed.switch == "abc123"
    assert read_share(card.encode(), [], "card") == parsed
    assert card.index(CARD_BEGIN) < card.index(m.split()[-1])


def test_paper_qr_draws_exactly_segnos_matrix_in_ink() -> None:
    """Decode the half-block drawing back into modules: it must be segno's QR, dark = ink."""
    text = split_secret(os.urandom(32), 2, 3)[0]
    matrix = [list(row) for row in segno.make(text, error="m", micro=False).matrix_iter(border=2)]
    top = {"\u2588": 1, "\u2580": 1, "\u2584": 0, " ": 0}
    bottom = {"\u2588": 1, "\u2580": 0, "\u2584": 1, " ": 0}
    width = len(matrix[0])
    decoded: list[list[int]] = []
    for line in paper_qr(text).split("\n"):
        line = line.ljust(width)  # trailing light modules are trimmed
        decoded.append([top[c] for c in line])
        decoded.append([bottom[c] for c in line])
    assert decoded[: len(matrix)] == [[int(bool(m)) for m in row] for row in matrix]


def test_envelope_json_round_trip_and_encryption(make_age_key) -> None:  # type: ignore[no-untyped-def]
    key = make_age_key("custodian")
    m = split_secret(os.urandom(32), 2, 2)[0]
    env = ShareEnvelope(m, "sw", "lawyer", 2, 2, None)
    assert ShareEnvelope.from_json(env.to_json()) == env
    got = read_share(env.encrypt(key.recipient), [key.identity], "lawyer.age")
    assert (got.mnemonic, got.switch) == (m, "sw")
