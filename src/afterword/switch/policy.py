"""Check-in policies: the ``Policy`` values, durations as people write them (``7d``,
``36h``, ``2w``), and the one codec of a policy as a client sends it
(``policy_from_wire``; an owner's change of it, ``settings_from_wire``).

Apart from the machine because a policy is settings, not lifecycle: the web, the CLI and
the store read and write policies without deciding anything about a switch."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from afterword.crypto.encoding import is_count
from afterword.errors import AfterwordError, FormatError

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


# --- the wire shape -----------------------------------------------------------------------
# A policy as a client sends it (``afterword arm``, POST /switches): a JSON object of whole
# seconds. Read here, beside the Policy it becomes, so every door refuses the same values
# with the same words.

POLICY_FIELDS = ("interval", "grace", "waiting", "reminders", "cooling_off", "duress_delay")
MAX_REMINDERS = 32
POLICY_HINT = 'send {"interval": SECONDS, "grace": SECONDS, "waiting": SECONDS, "reminders": [...]}'


def policy_from_wire(value: object) -> Policy:
    """The policy a client sent (its JSON, decoded), or an ``AfterwordError`` that says
    what is wrong with it: unknown fields, a missing interval, a value that is not a whole
    number of seconds or is over 10 years; ``Policy`` itself refuses zero and negative
    durations. Absent fields take Policy's defaults."""
    if not isinstance(value, dict):
        raise AfterwordError("the policy must be a JSON object", POLICY_HINT)
    for name in value:
        if name not in POLICY_FIELDS:
            raise AfterwordError(f"unknown policy field {name!r}", POLICY_HINT)
    if "interval" not in value:
        raise AfterwordError("the policy has no interval", POLICY_HINT)
    reminders = value.get("reminders", [])
    if (
        not isinstance(reminders, list)
        or len(reminders) > MAX_REMINDERS
        or any(isinstance(r, bool) or not isinstance(r, int) for r in reminders)
    ):
        raise AfterwordError(
            f"policy.reminders must be a list of whole numbers of seconds (at most "
            f"{MAX_REMINDERS})",
            POLICY_HINT,
        )
    return Policy(  # Policy itself refuses zero and negative durations
        interval=_seconds(value["interval"], "policy.interval"),
        grace=_seconds(value.get("grace", 0), "policy.grace"),
        waiting=_seconds(value.get("waiting", 0), "policy.waiting"),
        reminders=tuple(_seconds(r, "policy.reminders") for r in reminders),
        cooling_off=_seconds(value.get("cooling_off", DEFAULT_COOLING_OFF), "policy.cooling_off"),
        duress_delay=_seconds(value.get("duress_delay", 0), "policy.duress_delay"),
    )


def _seconds(value: object, what: str) -> int:
    """A duration from the policy field: a JSON integer (not a bool, float or string)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AfterwordError(f"{what} must be a whole number of seconds", POLICY_HINT)
    if value > MAX_DURATION:
        raise AfterwordError(
            f"{what} is longer than {MAX_DURATION} seconds (10 years)", "use a shorter duration"
        )
    return value


def settings_from_wire(request: Mapping[str, Any], shown: Policy) -> Policy:
    """New check-in settings an owner sent: a partial change, where what is not sent
    stays as ``shown`` (the policy the owner sees now). A ``FormatError`` says what is
    wrong with a value; ``Policy`` itself refuses zero and negative durations."""
    values: dict[str, int] = {}
    for name in ("interval", "grace", "waiting"):
        value = request.get(name, getattr(shown, name))
        if not is_count(value) or value > MAX_DURATION:
            raise FormatError(f"{name} must be a whole number of seconds (up to 10 years)")
        values[name] = value
    reminders = request.get("reminders", list(shown.reminders))
    if not isinstance(reminders, list) or len(reminders) > MAX_REMINDERS:
        raise FormatError(f"reminders must be a list of seconds (at most {MAX_REMINDERS})")
    for value in reminders:
        if not is_count(value) or not 0 < value <= MAX_DURATION:
            raise FormatError("each reminder must be a positive whole number of seconds")
    return dataclasses.replace(shown, **values, reminders=tuple(reminders))
