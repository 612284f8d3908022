"""Which machine event an owner action stands for.

The action names an owner may send (``OWNER_ACTIONS``), and the checks of their
parameters (pause, revoke, settings, a new protected person). Separate from
:mod:`owner`, which authorizes and runs them: this is the vocabulary, that the
transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from afterword.crypto.signing import Document
from afterword.engine.callers import client_digest
from afterword.engine.canaries import canary_event, known_links
from afterword.engine.context import Context, labels_of
from afterword.errors import FormatError
from afterword.store import repository as repo
from afterword.switch.machine import (
    Abort,
    ChangePolicy,
    CheckIn,
    Disarm,
    OwnerAction,
    Pause,
    ReleaseNow,
    Resume,
    Revoke,
    Status,
    owner_view,
)
from afterword.switch.policy import settings_from_wire

OWNER_ACTIONS = (
    "checkin",
    "pause",
    "resume",
    "abort",
    "release",
    "disarm",
    "revoke",
    "canary-add",
    "set-duress",
    "settings",
    "drill",
    "status",
    "audit",
)
"""What an owner may ask, signed or by password. Each is answered alike for the real
and the duress credential."""


def owner_event(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    action: object,
    request: Document,
    now: int,
    client: str,
    method: str,
    relayed: bool = False,
) -> OwnerAction:
    """The machine event an owner action stands for (None: a real look, no event).
    ``relayed``: a check-in another server took, so no client of this one's, new or not."""
    if action == "checkin":
        # remembered once the check-in is taken (see act)
        new_client = not relayed and not knows_client(ctx, s, row, client)
        return CheckIn(method, client, new_client=new_client)
    if action == "pause":
        until = request.get("until")
        if not isinstance(until, int) or isinstance(until, bool):
            raise FormatError("a pause needs 'until' (unix seconds)")
        return Pause(until)
    if action == "revoke":
        label = request.get("custodian")
        if not isinstance(label, str) or label not in labels_of(row):
            raise FormatError("revoke needs 'custodian': the label of one of its custodians")
        return Revoke(label)
    if action == "release":
        skip = request.get("skip_waiting", False)
        if not isinstance(skip, bool):
            raise FormatError("'skip_waiting' must be true or false")
        return ReleaseNow(skip_waiting=skip)
    if action == "canary-add":
        if known_links(s, row.id, request):  # taken here already (relayed): a look
            return Status()
        return canary_event(request, federated=row.servers is not None)
    if action == "settings":
        return settings_event(ctx, row, request)
    simple: dict[object, OwnerAction] = {
        "resume": Resume(),
        "abort": Abort(),
        "disarm": Disarm(),
        "status": Status(),
        "audit": Status(),
        "sign-in": Status(),
        "set-duress": Status(),
        "drill": Status(),  # the switch itself is untouched: the drill is another one
    }
    if isinstance(action, str) and action in simple:
        return simple[action]
    raise FormatError(f"unknown action {action!r}", f"use one of: {', '.join(OWNER_ACTIONS)}")


def settings_event(ctx: Context, row: repo.Switch, request: Document) -> ChangePolicy:
    """New check-in settings; what is not sent stays as the owner sees it now."""
    new = settings_from_wire(request, owner_view(repo.state_of(row)).policy)
    new.check_minimum(ctx.config.min_duration)
    return ChangePolicy(new.interval, new.grace, new.waiting, new.reminders)


def knows_client(ctx: Context, s: Session, row: repo.Switch, client: str) -> bool:
    """Whether the switch has seen this client: as the row was loaded for it (one
    statement less on every check-in), or asked now."""
    if row.client_known is not None:
        return row.client_known
    return repo.client_known(s, row.id, client_digest(client))


def action_kind(action: object) -> str:
    """An owner action as the log names it: a known one, or "request" (never text the
    caller made up: the log is the owner's, and outsiders may knock)."""
    known = (*OWNER_ACTIONS, "sign-in")
    return action if isinstance(action, str) and action in known else "request"
