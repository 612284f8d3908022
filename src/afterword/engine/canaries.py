"""Protected people (canaries): their links, their page and their check-ins.

Each protected person has two links, the normal one and the duress one; both answer
alike, and the duress one raises the alarm the owner chose. Separate from the owner's
actions: these callers hold a link, not an owner credential.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.bundle import LABEL
from afterword.crypto.encoding import is_count
from afterword.crypto.signing import Document
from afterword.engine.apply import apply_event
from afterword.engine.context import Context, load_switch
from afterword.engine.duress import refused_other
from afterword.engine.errors import NotFound
from afterword.errors import FormatError
from afterword.store import repository as repo
from afterword.store.models import CanaryTokenRow
from afterword.switch.machine import AddCanary, Canary, CanaryCheckIn, SwitchState
from afterword.switch.policy import MAX_DURATION


def canary_links(ctx: Context, s: Session, switch_id: str, name: str) -> dict[str, Any]:
    """Two links for a new protected person: the normal one and the duress one."""
    links: dict[str, Any] = {"canary": name}
    for duress, key in ((False, "token"), (True, "duress_token")):
        token = secrets.token_hex(16)
        digest = hashlib.sha256(token.encode()).hexdigest()
        s.add(CanaryTokenRow(digest=digest, switch_id=switch_id, name=name, duress=duress))
        links[key] = token
        links[key.replace("token", "url")] = f"{ctx.config.public_url}/canary/{token}"
    return links


def canary_token(ctx: Context, s: Session, token: str) -> Any:
    """The link's row (``switch_id``, ``name``, ``duress``), read as a plain row."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    row = repo.canary_link(s, digest) if _TOKEN.fullmatch(token) else None
    if row is None:
        raise NotFound(
            "this check-in link is not valid",
            "ask the person who gave it to you for their current link",
        )
    return row


def canary_page(ctx: Context, token: str) -> dict[str, Any]:
    """What a protected person's page shows: their name and when they are next due.
    The duress link shows exactly the same."""
    with ctx.store.transaction() as s:
        link = canary_token(ctx, s, token)
        canary = find_canary(repo.state_of(load_switch(ctx, s, link.switch_id)), link.name)
        return {"name": link.name, "next_due": canary.deadline}


def canary_checkin(ctx: Context, token: str, client: str = "") -> dict[str, Any]:
    """A protected person checks in. The duress link answers exactly alike, and raises
    the alarm (alert or trigger, as the owner chose for this person)."""
    now = ctx.clock()
    with ctx.store.transaction() as s:
        link = canary_token(ctx, s, token)
        row = load_switch(ctx, s, link.switch_id, lock=True)
        state, effects = apply_event(ctx, s, row, CanaryCheckIn(link.name, link.duress), now)
        refused = refused_other(effects)
    if refused is not None:  # the truth refused it, the owner's decoy took it
        raise refused
    canary = find_canary(state, link.name)
    return {"name": link.name, "checked_in_at": now, "next_due": canary.deadline}


_TOKEN = re.compile(r"[0-9a-f]{32}")  # a canary's link token


def canary_event(request: Document) -> AddCanary:
    name, on_miss = request.get("name"), request.get("on_miss", "alert")
    interval, grace = request.get("interval"), request.get("grace", 0)
    hint = (
        'send {"name": NAME, "interval": SECONDS, "grace": SECONDS, "on_miss": '
        '"trigger" or "alert"}'
    )
    if not isinstance(name, str) or not LABEL.fullmatch(name):
        raise FormatError("a protected person needs a name (letters, digits, . - _)", hint)
    if not is_count(interval) or not is_count(grace) or not interval:
        raise FormatError("a protected person needs a positive interval and a grace", hint)
    if interval > MAX_DURATION or grace > MAX_DURATION:  # type: ignore[operator]
        raise FormatError("that interval or grace is longer than 10 years", hint)
    if on_miss not in ("trigger", "alert"):
        raise FormatError("on_miss must be 'trigger' or 'alert'", hint)
    assert isinstance(interval, int) and isinstance(grace, int)
    return AddCanary(name, interval, grace, trigger=on_miss == "trigger")


def find_canary(state: SwitchState, name: str) -> Canary:
    for canary in state.canaries:
        if canary.name == name:
            return canary
    raise NotFound("this check-in link no longer belongs to anyone on the switch")
