"""Dates, durations and sizes written for people (issue 19, point 6).

Every layer that writes for a person (mail, pages, the CLI's text output) formats the
same way through these, and ``--json`` keeps the numbers. :func:`humane` rewrites the
numbers in the audit log's details, which the machine writes once, in seconds and bytes,
and which the signed log keeps as written: only their display changes.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime

_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


@functools.lru_cache(maxsize=4096)
def instant(seconds: int) -> str:
    """An instant, in UTC to the minute: ``2026-12-04 02:20 UTC``. Cached: the switches
    one tick moves share their instants, and a transition formats several."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: int) -> str:
    """A length of time in its two largest units: ``1 week``, ``2 days 3 hours``,
    ``90 seconds`` is ``1 minute 30 seconds``."""
    if seconds <= 0:
        return "0 seconds"
    parts = []
    for unit, size in _UNITS:
        if seconds >= size:
            n, seconds = divmod(seconds, size)
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
        if len(parts) == 2 or (parts and not seconds):
            break
    return " ".join(parts)


def size(count: int) -> str:
    """A number of bytes: ``12 bytes``, ``500.1 MiB``, ``1.2 GiB``."""
    if count < 1024:
        return f"{count} byte{'s' if count != 1 else ''}"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


_INSTANT = re.compile(r"\b(at|since|until|by|from|to) (1[0-9]{9}|[2-9][0-9]{9})\b")
_SECONDS = re.compile(r"\b([0-9]+)s\b")
_BYTES = re.compile(r"\b([0-9]+) bytes\b")


def humane(text: str) -> str:
    """``text`` with its Unix times (after "at", "since", "until", ...), its ``3600s``
    and its ``524426440 bytes`` written for people."""
    text = _INSTANT.sub(lambda m: f"{m.group(1)} {instant(int(m.group(2)))}", text)
    text = _SECONDS.sub(lambda m: duration(int(m.group(1))), text)
    return _BYTES.sub(lambda m: size(int(m.group(1))), text)
