"""Stable ids: the Message-ID derivation, and what a Message shows of itself."""

from __future__ import annotations

import email
import email.policy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.delivery import (
    DeliveryError,
    Message,
    PermanentError,
    TransientError,
    message_id_header,
)

MSG_ID = re.compile(r"^<[A-Za-z0-9_=-]+@[A-Za-z0-9.-]+>$")


def test_message_id_header_is_deterministic() -> None:
    first = message_id_header("rel-sw1-abcdef", "afterword.invalid")
    assert first == message_id_header("rel-sw1-abcdef", "afterword.invalid")
    assert first == "<rel-sw1-abcdef@afterword.invalid>"


def test_message_id_header_escapes_unsafe_characters() -> None:
    header = message_id_header("rel/a b.c=d@e<f>", "example.org")
    assert MSG_ID.fullmatch(header), header
    assert header == "<rel=2Fa=20b=2Ec=3Dd=40e=3Cf=3E@example.org>"


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_message_id_header_is_injective_and_well_formed(a: str, b: str) -> None:
    # Two different outbox rows must never share a Message-ID: a receiver deduplicating on
    # it would silently drop the second, different message.
    ha, hb = message_id_header(a, "d.example"), message_id_header(b, "d.example")
    assert MSG_ID.fullmatch(ha) and MSG_ID.fullmatch(hb)
    assert (ha == hb) == (a == b)


def test_long_ids_are_hashed_and_stay_one_header_line() -> None:
    long_id = "rel-" + "x" * 250
    header = message_id_header(long_id, "afterword.invalid")
    assert header.startswith("<=sha256-")
    assert header != message_id_header(long_id + "y", "afterword.invalid")
    mail = email.message.EmailMessage()
    mail["Message-ID"] = header
    assert f"Message-ID: {header}\n" in mail.as_string(policy=email.policy.default)


@pytest.mark.parametrize("domain", ["", "a b", "x..y", "-x.org", "a@b", "ex.org\n"])
def test_message_id_header_rejects_bad_domains(domain: str) -> None:
    with pytest.raises(ValueError, match="domain"):
        message_id_header("id", domain)


def test_message_id_header_rejects_empty_id() -> None:
    with pytest.raises(ValueError, match="empty"):
        message_id_header("", "afterword.invalid")


def test_message_repr_hides_body_and_data() -> None:
    message = Message("rel-1", "mailto:a@example.org", "Release", "KEY-SECRET", {"k": "SECRET2"})
    assert "KEY-SECRET" not in repr(message)
    assert "SECRET2" not in repr(message)
    assert "rel-1" in repr(message)


def test_error_classes_say_whether_to_retry() -> None:
    assert TransientError("x").permanent is False
    assert PermanentError("x").permanent is True
    assert issubclass(TransientError, DeliveryError)
    assert issubclass(PermanentError, DeliveryError)
    err = TransientError("busy", message_id="m", code=429, retry_after=3.0)
    assert (err.message_id, err.code, err.retry_after) == ("m", 429, 3.0)
