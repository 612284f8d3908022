"""Dates, durations and sizes as people read them (issue 19, point 6)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from afterword.words import duration, humane, instant, size


def test_instants_durations_and_sizes_read_as_people_write_them() -> None:
    assert instant(1_796_191_829) == "2026-12-02 06:10 UTC"
    assert [duration(s) for s in (0, 1, 90, 3600, 93_600, 604_800, 788_400)] == [
        "0 seconds", "1 second", "1 minute 30 seconds", "1 hour", "1 day 2 hours", "1 week",
        "1 week 2 days",
    ]  # fmt: skip
    assert [size(n) for n in (1, 12, 2048, 524_426_440, 5 * 2**40)] == [
        "1 byte", "12 bytes", "2.0 KiB", "500.1 MiB", "5.0 TiB",
    ]  # fmt: skip


def test_the_audit_logs_numbers_are_written_for_people() -> None:
    detail = "armed; first check-in due at 1796191829, a minimum of 3600s; 524426440 bytes"
    assert humane(detail) == (
        "armed; first check-in due at 2026-12-02 06:10 UTC, a minimum of 1 hour; 500.1 MiB"
    )
    assert humane("counter 1796191829 from 10.0.0.0/8") == "counter 1796191829 from 10.0.0.0/8"


@given(st.integers(1, 10**9))
def test_a_duration_never_loses_its_largest_unit(seconds: int) -> None:
    words = duration(seconds).split()
    assert len(words) in (2, 4) and int(words[0]) >= 1
