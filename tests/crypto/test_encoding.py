"""canonical_json: the standard library's fast path gives exactly RFC 8785's bytes."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto.encoding import _plain, canonical_json
from afterword.errors import FormatError

# every code point, surrogates and non-BMP ones included; integers around 2**53
TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12)
INTS = st.integers(-(2**60), 2**60) | st.sampled_from([2**53 - 1, 2**53, -(2**53 - 1), -(2**53)])
LEAVES = TEXT | INTS | st.booleans() | st.none() | st.floats(allow_nan=False)
VALUES = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)
)


def reference(value: Any) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, UnicodeError):
        return None


@settings(max_examples=3000)
@given(VALUES)
def test_canonical_json_is_rfc8785_for_every_value(value: Any) -> None:
    expected = reference(value)
    if expected is None:
        with pytest.raises(FormatError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_the_fast_path_takes_audit_entries_and_owner_requests_and_nothing_doubtful() -> None:
    entry = {"prev": "0" * 64, "switch": "S", "seq": 3, "at": 1_800_000_000, "kind": "k"}
    entry["detail"] = 'by signature 198.51.100.0/24 "curl/8" \x00\x1f\x7f é 😀'
    assert _plain(entry)
    assert canonical_json(entry) == bytes(rfc8785.dumps(entry))
    assert _plain({"action": "checkin", "params": [1, None, True, {"a": []}]})
    assert not _plain({"x": 1.5})  # floats: RFC 8785's number form
    assert not _plain({"x": "\ud800"})  # a lone surrogate
    assert not _plain({"😀": 1, "\uffff": 2})  # keys sorted by UTF-16 units
    assert not _plain({"x": 2**53})  # beyond what JSON numbers hold exactly
    assert not _plain({1: "x"})  # not a JSON object key
