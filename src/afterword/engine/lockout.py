"""Lockouts: refusing callers who guess, and networks that arm too much.

Wrong guesses at a door (password, share, custodian code, signed request) are counted per
network on the typed ``refusals`` rows, never on the audit log's text; arms per network on
``arms``. A signed check-in is never locked out. Separate because these are the security
decisions about outsiders, read from typed columns alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.engine.callers import network_of
from afterword.engine.context import Context
from afterword.engine.duress import record_aside
from afterword.engine.errors import Locked
from afterword.store import repository as repo
from afterword.store import sql
from afterword.store.models import ArmRow, RefusalRow
from afterword.switch.machine import Audit

LOCKOUT_WINDOW = 900  # seconds over which wrong guesses at one switch are counted


# wrong guesses (forged signed requests: "request") from one network that lock a door
LOCKOUT = {"password": 10, "share": 20, "custodian": 20, "request": 20}


WRONG_PASSWORD = "wrong password"


ARM_WINDOW = 3600


_LOCK_QUERY: Any = select(func.count(), func.min(RefusalRow.at)).where(
    RefusalRow.switch_id == bindparam("switch_id"),
    RefusalRow.door == bindparam("door"),
    RefusalRow.network == bindparam("network"),
    RefusalRow.at > bindparam("since"),
)
"""Wrong guesses at one door of a switch, from one network, lately: their number and the
first one's time. On typed columns only (see ``RefusalRow``): never on the audit log's
text, which holds what callers sent. Built once: building it per request cost more than
running it."""


_ARM_QUERY: Any = select(func.count(), func.min(ArmRow.at)).where(
    ArmRow.network == bindparam("network"), ArmRow.at > bindparam("since")
)
"""Switches armed from one network lately: their number and the first one's time."""


def check_lock(
    ctx: Context, s: Session, switch_id: str, door: str, now: int, client: str = ""
) -> None:
    """Refuse at once if this door of the switch saw too many wrong guesses lately.
    The guesses are the switch's typed ``refusals`` rows (never the audit log's text),
    in the database, so every web node and worker agrees, and a restart forgets nothing.

    Guesses are counted per network (the client's /24 or /48): someone guessing from
    elsewhere cannot lock out the people who belong, which would keep a password-only
    owner from checking in until the switch fired, custodians from voting, or a
    release from collecting its shares."""
    params = {
        "switch_id": switch_id,
        "door": door,
        "network": network_of(client),
        "since": now - LOCKOUT_WINDOW,
    }
    count, first = sql.run(s.connection(), _LOCK_QUERY, params).one()
    if count >= LOCKOUT[door]:
        minutes = max(1, (int(first) + LOCKOUT_WINDOW - now + 59) // 60)
        what = {
            "password": (
                "wrong passwords",
                "check in with your key meanwhile: afterword "
                "checkin --owner-key KEY (a lockout never blocks it)",
            ),
            "share": (
                "shares that did not match",
                "check that you have the share for this switch, then try again",
            ),
            "custodian": (
                "wrong custodian codes",
                "copy the code from your card, or use afterword custodian with your envelope",
            ),
            "request": (
                "signed requests that did not verify",
                "sign with the owner key over a fresh challenge (afterword checkin does)",
            ),
        }[door]
        raise Locked(
            f"too many {what[0]} for this switch lately; try again in {minutes} minute(s)",
            what[1],
        )


def wrong_guess(
    ctx: Context, s: Session, row: repo.Switch, refusal: Audit, door: str, now: int, client: str
) -> None:
    """A wrong guess at ``door`` (a wrong password, a forged request, a share or code
    that does not match): logged as :func:`record_aside` logs, and counted against the
    caller's network on the typed ``refusals`` rows :func:`check_lock` reads."""
    record_aside(ctx, s, row, refusal, now)
    s.add(RefusalRow(switch_id=row.id, door=door, network=network_of(client), at=now))


def check_arm_quota(c: Connection, network: str, quota: int, now: int) -> None:
    """Refuse an arm (429) once the caller's network armed ``quota`` switches in the last
    ARM_WINDOW: a crowd of throwaway switches costs many networks, not one script."""
    params = {"network": network, "since": now - ARM_WINDOW}
    count, first = sql.run(c, _ARM_QUERY, params).one()
    if count >= quota:
        minutes = max(1, (int(first) + ARM_WINDOW - now + 59) // 60)
        raise Locked(
            f"{count} switches were armed from your network in the last "
            f"{ARM_WINDOW // 60} minutes, the most this server takes; try again in "
            f"{minutes} minute(s)",
            "wait, or ask the operator (AFTERWORD_ARM_QUOTA sets the quota)",
        )
