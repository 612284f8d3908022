"""The one apply path: every event a switch takes is decided here and carried out here.

``apply_event`` is the only caller of the machine's ``decide`` that stores what it
decides (``decided`` hands the scheduler and the breaker the same decision to read), and
``build_transition`` carries out the effects that are this switch's own rows: the
server's shares, the release, deleting copies, the owner's decoy log, and the rendered
mail. Separate so that "every state change goes through one place" can be read in one
file: owner actions, custodians, canaries, drills and the scheduler all end here.
"""

from __future__ import annotations

import dataclasses
import json
from contextlib import nullcontext

from sqlalchemy.orm import Session

from afterword.crypto.shares import ShareEnvelope
from afterword.engine.contacts import contacts_of
from afterword.engine.context import Context
from afterword.engine.duress import decoy_enters_releasing, keep_owner_log
from afterword.engine.errors import Conflict
from afterword.engine.mail_text import drill_marked, render
from afterword.engine.peers import handoff_messages, relay_messages
from afterword.engine.release import delete_server_copies, publish, store_share
from afterword.store import repository as repo
from afterword.store.models import ServerEnvelopeRow
from afterword.switch.machine import (
    AskPeers,
    Audit,
    DeleteServerCopies,
    Effect,
    Event,
    NotifyCustodians,
    NotifyRecipients,
    OwnerLog,
    PublishRelease,
    RefuseOwner,
    Rejected,
    ShareAccepted,
    SubmitServerShares,
    SwitchState,
    decide,
)


def apply_event(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    event: Event,
    now: int,
    *,
    guarded: bool = False,
    pad: bool = False,
) -> tuple[SwitchState, list[Effect]]:
    """Decide an event and store it. ``guarded``: the caller has no savepoint, so one
    is opened here if the effects can still be refused after writing (a server
    envelope or share that does not open). ``pad``: an owner action's, stored in the
    same statements whatever it writes (see ``repo.record_many``)."""
    try:
        new, effects = decide(repo.state_of(row), event, now)
    except Rejected as exc:
        if not pad:
            raise Conflict(str(exc)) from exc
        # refused, and stored unchanged in the statements of a duress action's refusal,
        # which is stored (its trigger stands) and then answered alike
        new, effects = repo.state_of(row), [RefuseOwner(str(exc))]
    risky = guarded and any(isinstance(e, SubmitServerShares | PublishRelease) for e in effects)
    with s.begin_nested() if risky else nullcontext():
        return carry_out(ctx, s, row, new, effects, now, pad=pad), effects


def carry_out(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    new: SwitchState,
    effects: list[Effect],
    now: int,
    *,
    pad: bool = False,
) -> SwitchState:
    """Store a decided transition with the effects that are database writes."""
    transition = build_transition(ctx, s, row, new, effects, now, pad=pad)
    repo.record_many(s, [transition], now, pad=pad)
    return transition.state


def build_transition(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    new: SwitchState,
    effects: list[Effect],
    now: int,
    *,
    pad: bool = False,
) -> repo.Transition:
    """Carry out the effects that need this switch's own rows (the server's shares, the
    release, deleting copies, the owner's decoy log) and render its messages: what is
    left to store is a ``Transition``."""
    effects = list(effects)
    for effect in list(effects):
        if isinstance(effect, SubmitServerShares):
            new, more = submit_server_shares(ctx, s, row.id, new, now)
            effects += more
    if new.decoy is not None and decoy_enters_releasing(row, new.decoy):
        # the decoy counts the server's own shares as the real release does, with the
        # same work (read, open, seal again), but keeps none of them: its entries are
        # the owner's
        decoy, more = submit_server_shares(ctx, s, row.id, new.decoy, now, keep=False)
        new = dataclasses.replace(new, decoy=decoy)
        effects += [OwnerLog(e.kind, e.detail) for e in more if isinstance(e, Audit)]
    if any(isinstance(e, PublishRelease) for e in effects):
        publish(ctx, s, row, new, now)
    if any(isinstance(e, DeleteServerCopies) for e in effects):
        delete_server_copies(ctx, s, row.id)
    keep_owner_log(ctx, s, row, new, effects, now, pad=pad)
    releases = any(isinstance(e, NotifyRecipients) for e in effects)
    notice = json.loads(repo.documents(s, row.id)[1]) if releases else None  # the mail quotes it
    contacts = contacts_of(row, kinds=any(isinstance(e, NotifyCustodians) for e in effects))
    messages = render(row.id, new, effects, contacts, ctx.config.public_url, now, notice=notice)
    if row.drill_of is not None:  # a drill's mail says so, first thing
        messages = drill_marked(messages, row.drill_of)
    if any(isinstance(e, AskPeers) for e in effects):  # the truth's: a decoy asks nobody
        messages = [*messages, *relay_messages(ctx, s, row, now)]
    if any(isinstance(e, SubmitServerShares) for e in effects):  # the truth's release
        messages = [*messages, *handoff_messages(ctx, s, row, now)]
    return repo.Transition(row, new, effects, messages)


def submit_server_shares(
    ctx: Context, s: Session, switch_id: str, state: SwitchState, now: int, *, keep: bool = True
) -> tuple[SwitchState, list[Effect]]:
    """The server's own shares, accepted into ``state``; ``keep``: stored (not for a
    decoy, whose release is shown, never real)."""
    effects: list[Effect] = []
    envelopes = s.query(ServerEnvelopeRow).filter_by(switch_id=switch_id).all()
    for row in envelopes:
        envelope = ShareEnvelope.from_json(json.loads(ctx.keys.decrypt(row.envelope)))
        store_share(ctx, s, switch_id, row.custodian, envelope.mnemonic, now, keep=keep)
        try:
            state, more = decide(state, ShareAccepted(row.custodian), now)
        except Rejected:
            if keep:
                raise
            continue  # a decoy's release that is over
        effects += more
    return state, effects


def refuses(state: SwitchState, event: Event, now: int) -> bool:
    """Whether the machine refuses ``event`` in ``state`` (it is pure: nothing is kept)."""
    try:
        decide(state, event, now)
    except Rejected:
        return True
    return False


def decided(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """The machine's decision, for those who only read it (the scheduler plans its batch
    and the breaker weighs a jump with it): every call of ``decide`` goes through here."""
    return decide(state, event, now)
