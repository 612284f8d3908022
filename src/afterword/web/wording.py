"""The words the pages show people: a switch's state as its owner and its custodians read
it, and spans of time as people say them (``3 days 4 hours``, ``12 minutes left``).

Separate from the routes so the wording can be read, and changed, in one place without
any request handling around it; nothing here touches HTTP or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from afterword.crypto.release import CAUSES
from afterword.engine.mail_text import when


def short_duration(seconds: int) -> str:
    """Seconds as the duration fields take them back: ``1d12h``, ``90s``, ``0s``."""
    parts = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def duration_text(seconds: int) -> str:
    """A span of time as people say it, to two units: ``3 days 4 hours``, ``12 minutes``."""
    seconds = max(0, seconds)
    if seconds < 60:
        return "less than a minute"
    parts: list[str] = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        n, seconds = divmod(seconds, size)
        if n or parts:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(p for p in parts if not p.startswith("0 "))


def countdown_text(target: int, now: int) -> str:
    if target >= now:
        return f"{duration_text(target - now)} left"
    return f"overdue by {duration_text(now - target)}"


@dataclass(frozen=True)
class OwnerState:
    title: str
    text: str
    level: str  # ok, warn, bad
    target: int | None  # what the countdown counts to
    target_label: str = ""


def owner_state(status: dict[str, Any]) -> OwnerState:
    """The switch's state as its owner's dashboard says it."""
    phase = status["state"]
    if phase == "armed":
        deadline = status["deadline"]
        return OwnerState(
            "Armed.",
            f"All is well. Your next check-in is due by {when(deadline)}.",
            "ok",
            deadline,
            f"until your next check-in is due ({when(deadline)})",
        )
    if phase == "overdue":
        grace = status["grace_ends"]
        return OwnerState(
            "Overdue.",
            f"You missed the check-in due {when(status['deadline'])}. Check in before "
            f"{when(grace)}, or the switch triggers and your custodians are told.",
            "bad",
            grace,
            f"until the switch triggers ({when(grace)})",
        )
    if phase == "triggered":
        release = status["release_at"]
        return OwnerState(
            "Triggered.",
            f"Your custodians have been told. The release begins at {when(release)} unless "
            + ("you check in now." if status.get("cause") == "missed" else "you abort it."),
            "bad",
            release,
            f"until the release begins ({when(release)})",
        )
    if phase == "releasing":
        return OwnerState(
            "Releasing.",
            f"The waiting period is over and custodians are submitting their shares "
            f"({status['shares']} of {status['threshold']} so far). It can no longer be stopped.",
            "bad",
            None,
        )
    if phase == "released":
        return OwnerState(
            "Released.",
            f"The dossier is public at /r/{status['switch']}.",
            "bad",
            None,
        )
    if phase == "paused":
        until = status["paused_until"]
        return OwnerState(
            "Paused.",
            f"No check-ins are needed until {when(until)}; then the countdown starts again.",
            "warn",
            until,
            f"until the pause ends ({when(until)})",
        )
    if phase == "disarming":
        return OwnerState(
            "Being retired.",
            "The switch is in its cooling-off period before it is retired; check-ins are "
            "still needed until then.",
            "warn",
            status.get("deadline"),
            "until your next check-in is due",
        )
    if phase == "disarmed":
        return OwnerState("Retired.", "The server deleted its share and the dossier.", "ok", None)
    return OwnerState(f"{phase}.", "", "warn", None)


def custodian_state(status: dict[str, Any]) -> tuple[str, str, str, bool]:
    """(title, what to do, level, collecting shares) for a custodian's page."""
    phase = status["state"]
    if phase == "releasing":
        return (
            "The owner's dossier is being released: your share is needed now.",
            f"Please submit your share below. {status['shares']} of the "
            f"{status['threshold']} needed shares are in.",
            "bad",
            True,
        )
    if phase == "released":
        return (
            "The dossier has been released.",
            f"Enough shares came in; it is public at /r/{status['switch']}. "
            "There is nothing more to do.",
            "ok",
            False,
        )
    if phase == "disarmed":
        return ("This switch is retired.", "There is nothing to do.", "ok", False)
    return (
        "No shares are needed now.",
        "Keep your card safe and private. If the owner stops checking in, you will be "
        "told, and asked for your share when the release is due.",
        "ok",
        False,
    )


def custodian_truth(view: dict[str, Any]) -> dict[str, Any]:
    """A signed-in custodian's view of the switch (the truth, never a decoy), in words."""
    phase = view["state"]
    last = when(view["last_checkin"]) if view.get("last_checkin") else "never"
    cause = CAUSES.get(str(view.get("cause")), "")
    title, text, level = {
        "armed": (
            "The owner is checking in.",
            f"Last check-in: {last}. The next one is due by "
            f"{when(view['deadline']) if view.get('deadline') else '—'}.",
            "ok",
        ),
        "overdue": (
            "The owner is overdue.",
            f"The check-in due {when(view['deadline']) if view.get('deadline') else '—'} has "
            f"not come (last check-in: {last}). The grace period is running.",
            "warn",
        ),
        "triggered": (
            "The switch has triggered.",
            f"It triggered because {cause or 'of ' + str(view.get('cause'))}. The release "
            f"begins at {when(view['release_at']) if view.get('release_at') else '—'} unless "
            "the owner stops it.",
            "bad",
        ),
        "releasing": (
            "The release is under way.",
            f"Shares are being collected: {view['shares']} of {view['threshold']}.",
            "bad",
        ),
        "released": ("The dossier has been released.", "There is nothing more to do.", "ok"),
        "paused": ("The owner paused check-ins.", f"Last check-in: {last}.", "ok"),
        "disarming": (
            "The owner is retiring this switch.",
            "The cooling-off period ends "
            f"{when(view['disarm_ends']) if view.get('disarm_ends') else 'soon'}. If you "
            "believe the owner is being forced to do this, vote to release now.",
            "warn",
        ),
        "disarmed": ("This switch is retired.", "There is nothing to do.", "ok"),
    }.get(phase, (f"{phase}.", "", "warn"))
    return {
        "custodian": view["custodian"],
        "title": title,
        "text": text,
        "level": level,
        "votes": view["votes"],
        "voted": view["voted"],
        "can_vote": phase in ("armed", "overdue", "paused", "disarming"),
    }
