"""Views: what a switch looks like to whoever reads it.

The owner's and the public view (the decoy's after duress), the audit log as its reader
may see it (chained as the real world's would be), a custodian's view (the truth), the
signed audit export and a published release. Separate because reading never changes a
switch, and every reader's view is decided here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from afterword.crypto.audit import GENESIS, entry_hash, export_log
from afterword.crypto.signing import Document
from afterword.delivery.webhook import redact
from afterword.engine.context import Context, load_switch
from afterword.engine.errors import NotFound
from afterword.store import repository as repo
from afterword.store.models import ReleaseRow, SwitchRow
from afterword.switch.codec import policy_to_json
from afterword.switch.machine import Canary, Phase, SwitchState, owner_view
from afterword.switch.policy import Policy

log = logging.getLogger("afterword.engine")


def status_view(ctx: Context, switch_id: str) -> dict[str, Any]:
    """The full view: state, times, shares, last check-ins and the audit log."""
    with ctx.store.connection() as c:  # reads only: rows, no ORM
        row = load_switch(ctx, c, switch_id)
        return switch_view(ctx, c, row, repo.state_of(row), detail=True)


def public_view(ctx: Context, switch_id: str) -> dict[str, Any]:
    """What anyone may see without a credential (the public custodian page): what the
    owner is shown, the decoy after duress. Only a custodian's code shows the truth
    (see :func:`custodian`), so a coercer reading the public page learns nothing the
    owner's own screens do not say."""
    with ctx.store.connection() as c:  # reads only: rows, no ORM
        row = load_switch(ctx, c, switch_id)
        return switch_view(ctx, c, row, owner_view(repo.state_of(row)), detail=False, owner=True)


def switch_view(
    ctx: Context,
    s: Session | Connection,
    row: Any,
    state: SwitchState,
    *,
    detail: bool,
    owner: bool = False,
) -> dict[str, Any]:
    """What a switch looks like to its owner; ``detail`` adds the log (one more read).

    ``owner``: the view is for a duress credential, so the log is the one the owner is
    shown (see :func:`owner_entries`); ``state`` is then already the owner's view.
    """
    view: dict[str, Any] = {
        "switch": row.id,
        "state": state.phase.value,
        "deadline": state.deadline if state.phase in (Phase.ARMED, Phase.OVERDUE) else None,
        "grace_ends": state.grace_ends if state.phase is Phase.OVERDUE else None,
        "release_at": state.release_at if state.phase is Phase.TRIGGERED else None,
        "paused_until": state.paused_until if state.phase is Phase.PAUSED else None,
        "cause": state.cause.value if state.cause else None,
        "threshold": state.threshold,
        "shares": len(state.shares),
        "held": row.held,
        "next_event_at": state.next_event_at,
        "canaries": [_canary_view(c) for c in state.canaries],
        "revoked": sorted(state.revoked),
        "recipients": _recipients(row, owner),
        "policy": _policy_view(state.policy),
        # longer settings waiting out their cooling-off (the custodians were told)
        "settings_pending": _policy_view(state.settings_pending)
        if state.settings_pending is not None
        else None,
        "settings_at": state.settings_at or None,
    }
    if row.servers is not None:  # a switch on several servers: how each is
        # under duress the decoy's state stands for every peer's; and a disarmed switch
        # (the one shown) shows its peers disarmed: they took the same disarm, and it
        # hears from them no more (a real one's last relays said "disarming")
        disarmed = state.phase is Phase.DISARMED
        stands = state.phase.value if owner or disarmed else None
        view["peers"] = _peers_view(s, row.id, stands)
    if detail:
        audit = owner_entries(ctx, s, row, owner)
        view["last_checkins"] = [e for e in audit if e["kind"] == "checked-in"][-5:]
        view["audit"] = audit
    return view


def owner_entries(
    ctx: Context, s: Session | Connection, row: Any, owner: bool
) -> list[dict[str, Any]]:
    """The audit log as its reader may see it. The truth, except for a duress
    credential while a decoy stands: then the real entries up to where the decoy began,
    followed by the decoy's own, chained on as the real ones would have been.

    Both are read and chained for every reader (the truth's chain is checked so), so
    that a duress look costs what a real one does (issue 15, item 10)."""
    decoy = owner and row.decoy_cut is not None
    # under duress, only the entries shown: the real log grows by a duress mark at
    # every duress action (a look too), which the real world's log does not
    entries = repo.audit_entries(s, row.id, upto=row.decoy_cut if decoy else None)
    logged = repo.owner_log(s, row.id)
    if decoy:
        # the real entries, but where a decoy stood: there what it showed (an earlier
        # decoy a real action ended, closed by a DECOY_ENDED row, then this one), all
        # chained as the real world's log would be
        kept, start, episode = [], 0, []
        for r in [*logged, None]:
            if r is not None and r.kind != repo.DECOY_ENDED:
                episode.append((r.at, r.kind, r.detail))
                continue
            cut, end = (row.decoy_cut, 0) if r is None else (r.began, r.ended)
            kept += [
                (e["at"], e["kind"], e["detail"])
                for e in entries
                if start < e["seq"] <= cut and e["kind"] != "duress"
            ]
            kept, start, episode = kept + episode, end, []
    else:
        kept = [(e["at"], e["kind"], e["detail"]) for e in entries]
    shown = _chained(row.id, kept)
    if not decoy and shown != entries:  # the stored chain does not hold: show it as it is
        log.error("the audit log of switch %s does not chain as it was written", row.id)
        return entries
    return shown


def audit_export(ctx: Context, switch_id: str, *, owner: bool = False) -> Document:
    with ctx.store.connection() as c:  # reads only: rows, no ORM
        entries = owner_entries(ctx, c, load_switch(ctx, c, switch_id), owner)
    return export_log(switch_id, entries, ctx.keys.signing)


def published(ctx: Context, switch_id: str) -> tuple[ReleaseRow, SwitchRow]:
    """A published release, with its switch's row (the manifest and notice with it)."""
    with ctx.store.transaction() as s:
        row = s.get(SwitchRow, switch_id)
        if row is None:
            raise NotFound(f"no switch {switch_id} on this server")
        release = s.get(ReleaseRow, switch_id)
        if release is None:
            raise NotFound(f"switch {switch_id} has not been released")
        return release, row


def _chained(switch_id: str, kept: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    """Log entries (``at``, ``kind``, ``detail``) numbered and hash-chained from the start."""
    shown: list[dict[str, Any]] = []
    prev = GENESIS
    for seq, (at, kind, detail) in enumerate(kept, start=1):
        entry = {"switch": switch_id, "seq": seq, "at": at, "kind": kind, "detail": detail}
        digest = entry_hash(prev, entry)
        shown.append({**entry, "prev": prev, "hash": digest})
        prev = digest
    return shown


def _peers_view(s: Session | Connection, switch_id: str, shown: str | None) -> dict[str, Any]:
    """Each other server of the switch: the state it last said the switch was in, and when
    it was last heard from, as of this server's hourly ask (``shown_seen``: a message's
    own instant would tell a release's handoffs under duress). ``shown``: under duress,
    the state the owner is shown stands for every peer's, as the peers of the switch the
    decoy stands for would all say it."""
    return {
        peer.url: {
            "state": shown if shown is not None and peer.state is not None else peer.state,
            "last_seen": peer.shown_seen,
        }
        for peer in repo.peers(s, switch_id)
    }


def _recipients(row: Any, owner: bool) -> list[str]:
    """Who receives the release, as the reader may see it (a decoy's list under duress)."""
    contacts = json.loads(row.contacts)
    shown = contacts.get("decoy_recipients") if owner else None
    listed = shown if shown is not None else contacts.get("recipients", [])
    return [redact(address) for address in listed]


def _canary_view(canary: Canary) -> dict[str, Any]:
    return {
        "name": canary.name,
        "interval": canary.interval,
        "grace": canary.grace,
        "on_miss": "trigger" if canary.trigger else "alert",
        "next_due": canary.deadline,
        "last_checkin": canary.last_checkin or None,
        "missed": canary.missed,
    }


def _policy_view(policy: Policy) -> dict[str, Any]:
    """The settings the owner can change (the stored form, less the server's own)."""
    stored = policy_to_json(policy)
    return {name: stored[name] for name in ("interval", "grace", "waiting", "reminders")}


def custodian_view(switch_id: str, label: str, state: SwitchState) -> dict[str, Any]:
    """What a custodian sees: the truth (after duress too), and what they can do."""
    return {
        "switch": switch_id,
        "custodian": label,
        "state": state.phase.value,
        "cause": state.cause.value if state.cause else None,
        "deadline": state.deadline if state.phase in (Phase.ARMED, Phase.OVERDUE) else None,
        "release_at": state.release_at if state.phase is Phase.TRIGGERED else None,
        "disarm_ends": state.disarm_ends if state.phase is Phase.DISARMING else None,
        "settings_at": state.settings_at or None,  # longer settings pending until then
        "threshold": state.threshold,
        "votes": len(state.votes),
        "voted": label in state.votes,
        "shares": len(state.shares),
        "submitted": label in state.shares,
        "last_checkin": state.last_checkin or None,
    }


def dashboard_custodians(
    shown: SwitchState, roster: dict[str, Any], contacts: dict[str, Any]
) -> list[dict[str, Any]]:
    """The owner's dashboard's custodians, in roster order: whether each submitted a
    share, stands as voting and was revoked, as the state ``shown`` to the reader holds it
    (``owner_view``: the decoy's under duress), and where they are told.

    Read from the state's typed sets, never from the log's prose: a vote the machine
    cleared (after an abort, or the check-in that stopped a trigger) is no longer shown
    as standing, which the log's "vote" lines alone could not tell."""
    return [
        {
            "label": c["label"],
            "submitted": c["label"] in shown.shares,
            "voted": c["label"] in shown.votes,
            "revoked": c["label"] in shown.revoked,
            "contact": redact(contacts.get("custodians", {}).get(c["label"], "")),
        }
        for c in roster.get("custodians", [])
    ]
