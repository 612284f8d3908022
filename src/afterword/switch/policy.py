"""Check-in policy values: durations as people write them (``7d``, ``36h``, ``2w``)."""

from __future__ import annotations

import re

from afterword.errors import AfterwordError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")
MAX_DURATION = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in ``text``: one or more number+unit parts (s, m, h, d, w), e.g. ``1d12h``."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise AfterwordError(
            f"cannot read the duration {text!r}",
            "write a number and a unit: s, m, h, d or w (e.g. 7d, 36h, 1d12h)",
        )
    seconds = sum(int(n) * UNITS[u] for n, u in parts)
    if seconds <= 0 or seconds > MAX_DURATION:
        raise AfterwordError(
            f"the duration {text!r} is out of range", "use more than 0 and at most 10 years"
        )
    return seconds
