"""Check-in policy values: durations as people write them (``7d``, ``36h``, ``2w``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from afterword.errors import AfterwordError

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+)([smhdw])")
# the whole text, checked in one pass from its start: findall alone on a long run of
# digits without a unit retries from every position, which takes quadratic time
_WHOLE = re.compile(r"(?:\d+[smhdw])+")
MAX_DURATION = 10 * 365 * 86400


def parse_duration(text: str) -> int:
    """Seconds in ``text``: one or more number+unit parts (s, m, h, d, w), e.g. ``1d12h``."""
    cleaned = text.strip().lower().replace(" ", "")
    if not _WHOLE.fullmatch(cleaned):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise AfterwordError(
            f"cannot read the duration {shown!r}",
            "write a number and a unit: s, m, h, d or w (e.g. 7d, 36h, 1d12h)",
        )
    parts = _DURATION.findall(cleaned)
    # more digits than any duration up to 10 years needs: out of range (and int() would
    # refuse a number of over 4300 digits with a ValueError)
    numbers = [(n.lstrip("0") or "0", u) for n, u in parts]
    too_long = any(len(n) > 12 for n, _ in numbers)
    seconds = 0 if too_long else sum(int(n) * UNITS[u] for n, u in numbers)
    if too_long or seconds <= 0 or seconds > MAX_DURATION:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise AfterwordError(
            f"the duration {shown!r} is out of range", "use more than 0 and at most 10 years"
        )
    return seconds


DEFAULT_MAX_PAUSE = 30 * 86400
DEFAULT_COOLING_OFF = 7 * 86400


@dataclass(frozen=True)
class Policy:
    """How often the owner must check in, and what happens when they do not.

    All values are seconds. ``reminders`` are offsets before a deadline (and before the
    end of grace) at which the owner is reminded. ``max_pause`` bounds a pause, so a
    switch can never be silenced for long.
    """

    interval: int
    grace: int = 0
    waiting: int = 0
    reminders: tuple[int, ...] = ()
    max_pause: int = DEFAULT_MAX_PAUSE
    cooling_off: int = DEFAULT_COOLING_OFF  # how long disarming takes
    duress_delay: int = 0  # how long after a duress action the silent trigger fires

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise AfterwordError("the check-in interval must be positive")
        for name in ("grace", "waiting", "max_pause", "cooling_off", "duress_delay"):
            if getattr(self, name) < 0:
                raise AfterwordError(f"{name} must not be negative")
        if any(r <= 0 for r in self.reminders):
            raise AfterwordError("reminder offsets must be positive durations before a deadline")

    def check_minimum(self, minimum: int) -> None:
        """Refuse durations shorter than the server's minimum (a typo like 7s for 7d)."""
        for name in ("interval", "grace", "waiting", "cooling_off"):
            value = getattr(self, name)
            required = name in ("interval", "cooling_off")  # zero is no protection at all
            if 0 < value < minimum or (required and value < minimum):
                raise AfterwordError(
                    f"{name} {value}s is shorter than this server's minimum of {minimum}s",
                    "use a longer duration (e.g. 7d)",
                )


def parse_reminders(text: str) -> tuple[int, ...]:
    """``3d,1d,2h`` -> offsets in seconds, largest first, duplicates removed."""
    parts = [p for p in text.split(",") if p.strip()]
    return tuple(sorted({parse_duration(p) for p in parts}, reverse=True))
