"""Owner requests: signed, by password (and TOTP) or in a web session.

Each is one transaction that authorizes (see :mod:`duress`), runs the action in a
savepoint where it can still be refused after writing, and answers alike for the real
and the duress credential. Separate as the owner's way in; which machine event an action
stands for is :mod:`owner_events`.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.request import request_counter
from afterword.crypto.signing import Document
from afterword.delivery.webhook import redact
from afterword.engine.apply import apply_event, carry_out
from afterword.engine.callers import client_digest, network_of, who
from afterword.engine.canaries import canary_links, link_digests
from afterword.engine.challenges import NONCE_TTL
from afterword.engine.contacts import check_address, contacts_of, restore_hidden
from afterword.engine.context import Context, OwnerSession, load_switch
from afterword.engine.drill import run_drill
from afterword.engine.duress import authorize, check_passwords, record_aside, set_duress
from afterword.engine.errors import Behind, Conflict, Forbidden, NotFound
from afterword.engine.lockout import WRONG_PASSWORD, check_lock, wrong_guess
from afterword.engine.mail_text import render
from afterword.engine.owner_events import action_kind, owner_event
from afterword.engine.peers import relay_messages
from afterword.engine.views import audit_export, dashboard_custodians, status_view, switch_view
from afterword.errors import AfterwordError, FormatError
from afterword.store import repository as repo
from afterword.switch.machine import (
    AddCanary,
    Alert,
    Audit,
    CheckIn,
    Duress,
    Effect,
    OwnerLog,
    RefuseOwner,
    owner_view,
)

_LEAN_ACTIONS = frozenset({"checkin", "status", "audit", "sign-in"})
"""Owner actions that write nothing before their last refusal point (the machine's
decision), so they need no savepoint: two statements less on every check-in, and
SQLAlchemy's nested-transaction work."""


@dataclass
class _Outcome:
    view: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    refused: AfterwordError | None = None
    new_client: bool = False  # the action sent its own new-client alert (see seen_from)


def challenge(ctx: Context, switch_id: str) -> dict[str, Any]:
    """A nonce for one signed owner request. A computation, with no database (see
    :mod:`afterword.engine.challenges`), so the web layer answers it without a thread
    hand-off; whether the switch exists is said when the signed request arrives."""
    expires_at = ctx.clock() + NONCE_TTL
    nonce = ctx.challenges.issue(switch_id, expires_at)
    return {"switch": switch_id, "nonce": nonce, "expires_at": expires_at}


def owner_request(
    ctx: Context, switch_id: str, request: Document, client: str = ""
) -> dict[str, Any]:
    """A signed owner action (see :data:`OWNER_ACTIONS`).

    One transaction: the nonce is spent in it, and the action runs in a savepoint inside
    it, so a request refused by the switch's state (409, 400) still spends its nonce
    and can never be replayed later, when the state would allow it.
    """
    now = ctx.clock()
    try:
        with ctx.store.transaction() as s:
            row = load_switch(ctx, s, switch_id, lock=True, client=client)
            duress = authorize(ctx, s, row, request, now)
            if not in_order(s, row, request):
                raise StaleRequest(row.request_counter, _proof(row))
            outcome = act(ctx, s, row, duress, request, now, client, "signature")
            seen_from(ctx, s, row, client, request.get("action"), outcome, now)
            # the switch's other servers act on it too (a pause, an abort, a duress
            # look): every signed request, real or duress, so the work is the same
            repo.enqueue_all(s, row.id, relay_messages(ctx, s, row, now, request=request), now)
    except Forbidden as refused:  # a forged or replayed request shows in the log
        log_refused(ctx, switch_id, action_kind(request.get("action")), refused, now, client)
        raise
    return answer(ctx, switch_id, request.get("action"), duress, outcome)


class StaleRequest(Behind):
    """A request from the owner numbered below the highest one this server acted on
    (409), answered with the owner-signed request that bears it (see :class:`Behind`):
    the key file's counter fell behind (another machine signed since). Nothing is done
    and the nonce is not spent; the CLI signs past it and asks again."""

    def __init__(self, highest: int, request: Document | None) -> None:
        super().__init__(
            f"this server already acted on request {highest}; this one is numbered lower",
            f"sign request {highest + 1} or later (afterword does this itself)",
            highest,
            request,
            "request",
        )


LOOKS = frozenset({"status", "audit", "drill", "sign-in", "checkin"})
"""Owner actions no later request undoes: looks, and a check-in (check-ins have their own
counter). They are never ordered against the others: a look numbered after an abort, taken
before the abort's relay, must not make the abort stale (a false release:
tests/attack/test_status_overtakes_abort.py), nor one after a release-now make it lost."""


def in_order(s: Session, row: repo.Switch, request: Document, *, look: bool = False) -> bool:
    """Whether a signed request (checked) comes in the owner's order here: its counter
    (:func:`request_counter`) is past the highest one acted on. The CLI numbers every
    request anew (``cli/servers.Signer``), so no two the owner made share a number. A
    request that changes the switch is kept as the highest; a look (``look``, or an action
    in :data:`LOOKS`) is always in order and moves nothing, whatever its number. One not in
    order is the caller's to refuse (the owner's: 409) or ignore (a relayed copy of a
    request older than one acted on here)."""
    counter = request_counter(request)
    action = request.get("action")
    if look or (isinstance(action, str) and action in LOOKS):  # any JSON may come here
        return True
    if counter <= row.request_counter:
        return False
    doc = json.dumps(request, sort_keys=True)
    repo.update_switch(s, row, request_counter=counter, request_doc=doc)
    return True


def _proof(row: repo.Switch) -> Document | None:
    return None if row.request_doc is None else dict(json.loads(row.request_doc))


def log_refused(
    ctx: Context, switch_id: str, kind: str, refused: AfterwordError, now: int, client: str
) -> None:
    """A forged or replayed request to a switch, in its log as ``KIND-refused``.

    At most LOCKOUT["request"] per network in the window; past that, refused unlogged (a
    valid signature is checked first, so the owner is never locked out). The entry holds
    no text the caller wrote: a known kind, the engine's own reason, the network and a
    digest of the user agent."""
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, switch_id, lock=True)
        check_lock(ctx, s, row.id, "request", now, client)
        detail = f"{refused.message}; {who(client)}"
        wrong_guess(ctx, s, row, Audit(f"{kind}-refused", detail), "request", now, client)


def password_action(
    ctx: Context,
    switch_id: str,
    password: str,
    code: str | None,
    action: str,
    params: Document | None = None,
    client: str = "",
) -> dict[str, Any]:
    """An owner action authorized by the switch's password (+ TOTP code), for phones
    and browsers. A wrong password is refused and logged (a stolen one shows)."""
    duress, outcome = password_act(ctx, switch_id, password, code, action, params, client)
    return answer(ctx, switch_id, action, duress, outcome)


def password_act(
    ctx: Context,
    switch_id: str,
    password: str,
    code: str | None,
    action: str,
    params: Document | None,
    client: str,
) -> tuple[bool, _Outcome]:
    now = ctx.clock()
    outcome: _Outcome | None = None
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, switch_id, lock=True, client=client)
        check_lock(ctx, s, row.id, "password", now, client)
        duress = check_passwords(ctx, row, password, code, now)
        if duress is None:  # logged, and committed
            detail = f"{WRONG_PASSWORD}; {who(client)}"
            kind = action_kind(action)
            wrong_guess(ctx, s, row, Audit(f"{kind}-refused", detail), "password", now, client)
        else:
            method = "password+totp" if row.totp_secret else "password"
            request = {**(params or {}), "action": action}
            outcome = act(ctx, s, row, duress, request, now, client, method)
            seen_from(ctx, s, row, client, action, outcome, now)
    if outcome is None or duress is None:
        raise Forbidden("wrong password or code", f"{action_kind(action)} refused; it was logged")
    return duress, outcome


def checkin_password(
    ctx: Context, switch_id: str, password: str, code: str | None = None, client: str = ""
) -> dict[str, Any]:
    """Check in with the switch's password (and TOTP code, if it has one)."""
    return password_action(ctx, switch_id, password, code, "checkin", client=client)


def sign_in(
    ctx: Context, switch_id: str, password: str, code: str | None = None, client: str = ""
) -> OwnerSession:
    """Check the switch's password (and TOTP code) for a web session, without checking
    in. Logged either way, so a stolen password in use is visible to the owner. The
    session remembers whether the duress password opened it; nothing else does."""
    duress, outcome = password_act(ctx, switch_id, password, code, "sign-in", None, client)
    answer(ctx, switch_id, "sign-in", duress, outcome)  # raises a refusal
    return OwnerSession(switch_id, duress)


def session_action(
    ctx: Context,
    session: OwnerSession,
    action: str,
    params: Document | None = None,
    client: str = "",
) -> dict[str, Any]:
    """An owner action in a signed-in web session (see :func:`sign_in`)."""
    now = ctx.clock()
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, session.switch, lock=True, client=client)
        request = {**(params or {}), "action": action}
        outcome = act(ctx, s, row, session.duress, request, now, client, "web session")
    return answer(ctx, session.switch, action, session.duress, outcome)


def checkin_session(
    ctx: Context, switch_id: str, client: str = "", session: OwnerSession | None = None
) -> dict[str, Any]:
    """Check in for an owner the web layer signed in with :func:`sign_in`."""
    return session_action(ctx, session or OwnerSession(switch_id, False), "checkin", client=client)


def act(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    duress: bool,
    request: Document,
    now: int,
    client: str,
    method: str,
    *,
    relayed: bool = False,
) -> _Outcome:
    """Run one owner action; under duress, as ``Duress(action)``. A refusal (an
    ``AfterwordError``) undoes what the action wrote, never the spent nonce: the action
    runs in a savepoint, except the ones in :data:`_LEAN_ACTIONS`, which write nothing
    before the last point where they can be refused. ``relayed``: a check-in another
    server of the switch took and relayed (it came from no client of this server's)."""
    action = request.get("action")
    outcome = _Outcome()
    lean = isinstance(action, str) and action in _LEAN_ACTIONS
    try:
        with nullcontext() if lean else s.begin_nested():
            event = owner_event(ctx, s, row, action, request, now, client, method, relayed)
            set_duress(ctx, s, row, action, request, duress)
            # a real look too is decided and stored (the machine changes nothing for
            # it): the work is the duress look's, which triggers (issue 15, item 10)
            owned = Duress(event) if duress else event
            state, effects = apply_event(ctx, s, row, owned, now, guarded=lean, pad=True)
            outcome.new_client = any(
                isinstance(e, Alert) and e.what == "new-client" for e in effects
            )
            refusal = [e.message for e in effects if isinstance(e, RefuseOwner)]
            if refusal:  # stored all the same: the duress trigger stands
                outcome.refused = Conflict(refusal[0])
                return outcome
            if isinstance(event, CheckIn) and event.new_client:  # once it is taken
                repo.add_client(s, row.id, client_digest(client), now)
            if isinstance(event, AddCanary):
                digests = link_digests(request)
                outcome.extra = canary_links(ctx, s, row.id, event.name, digests)
            if action == "settings" and "recipients" in request:
                change_recipients(ctx, s, row, request["recipients"], duress, now)
            shown = owner_view(state) if duress else state
            outcome.view = switch_view(ctx, s, row, shown, detail=action == "status", owner=duress)
    except AfterwordError as exc:
        outcome.refused = exc
        outcome.new_client = False  # undone with the action
    return outcome


def seen_from(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    client: str,
    action: object,
    outcome: _Outcome,
    now: int,
) -> None:
    """The owner authenticated (a password or a signature; what the action did after is
    another matter): from a network this switch has never seen, that goes in the log
    and, unless the action's own new-client alert already told them, to the owner's
    channels. Alike for the duress credentials: the real ones would do the same."""
    network = network_of(client)
    if not repo.see_network(s, row.id, network, now):
        return
    detail = f"{network}, {action_kind(action)}"
    alert = [] if outcome.new_client else [Alert("new-network", detail)]
    messages = render(
        row.id, repo.state_of(row), alert, contacts_of(row), ctx.config.public_url, now
    )
    record_aside(ctx, s, row, Audit("new-network", detail), now, messages)


def answer(
    ctx: Context, switch_id: str, action: object, duress: bool, outcome: _Outcome
) -> dict[str, Any]:
    if outcome.refused is not None:
        raise outcome.refused
    if action == "audit":
        return audit_export(ctx, switch_id, owner=duress)
    if action == "drill":
        return {**outcome.view, "drill": run_drill(ctx, switch_id)}
    return {**outcome.view, **outcome.extra}


def change_recipients(
    ctx: Context, s: Session, row: repo.Switch, value: object, duress: bool, now: int
) -> None:
    """Who receives the release. Under duress only the owner's view changes (the
    real recipients still get the release), and only the owner's log says so. A webhook
    sent back as it was shown (its secret hidden) keeps the secret it had."""
    if not isinstance(value, list) or len(value) > 64:
        raise FormatError("recipients must be a list of addresses")
    contacts = json.loads(row.contacts)
    shown = contacts.get("decoy_recipients") if duress else None
    known = shown if shown is not None else contacts.get("recipients", [])
    recipients = [check_address(v, "recipients") for v in restore_hidden(value, known)]
    contacts["decoy_recipients" if duress else "recipients"] = recipients
    repo.update_switch(s, row, contacts=json.dumps(contacts))
    detail = f"{len(recipients)} recipient(s)"
    entry: Effect = OwnerLog("recipients", detail) if duress else Audit("recipients", detail)
    carry_out(ctx, s, row, repo.state_of(row), [entry], now, pad=True)


def session_view(ctx: Context, session: OwnerSession) -> dict[str, Any]:
    """The full view for a signed-in web session: the decoy's, if duress opened it."""
    if session.duress:
        return session_action(ctx, session, "status")
    return status_view(ctx, session.switch)


def dashboard_view(ctx: Context, session: OwnerSession) -> dict[str, Any]:
    """What the owner's web dashboard shows: :func:`session_view` (its ``policy`` is the
    check-in settings), with the custodians (see :func:`views.dashboard_custodians`) and
    the recipients, all as this session is shown them: the truth to the real password,
    the decoy to the duress one while a decoy stands."""
    shown = session_view(ctx, session)  # after duress, what the owner is shown
    with ctx.store.transaction() as s:
        row = repo.get_switch(s, session.switch)
        if row is None:
            raise NotFound(f"no switch {session.switch} on this server")
        roster = json.loads(row.custodians)
        contacts = json.loads(row.contacts)
        state = repo.state_of(row)
    if session.duress:  # what this session is shown: the decoy while one stands
        state = owner_view(state)
    return {
        **shown,
        "custodians": dashboard_custodians(state, roster, contacts),
        "recipients": shown.get("recipients", [redact(a) for a in contacts.get("recipients", [])]),
    }
