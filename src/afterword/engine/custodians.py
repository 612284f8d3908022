"""Custodians: submitting a share, and the code-authorized status, vote and
withdraw.

A custodian sees the truth, never the owner's decoy; what the owner's log shows of their
actions is the real world's (see :mod:`duress`). Separate because custodians are the
other people with power over a switch, with their own credentials and lockout doors.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy.orm import Session

from afterword.crypto.shares import commitment, credential_digest, normalize_mnemonic
from afterword.engine.apply import apply_event, refuses
from afterword.engine.callers import who
from afterword.engine.context import Context, load_switch
from afterword.engine.duress import record_aside, refused_other
from afterword.engine.errors import Forbidden
from afterword.engine.lockout import check_lock, wrong_guess
from afterword.engine.peers import vote_messages
from afterword.engine.release import store_share
from afterword.engine.views import custodian_view, status_view
from afterword.errors import AfterwordError, FormatError, ShareError
from afterword.store import repository as repo
from afterword.switch.machine import Audit, ShareAccepted, Vote, WithdrawVote, owner_view


def submit_share(ctx: Context, switch_id: str, mnemonic: str, client: str = "") -> dict[str, Any]:
    """A custodian's share: checked against its commitment before anything is kept."""
    words = normalize_mnemonic(mnemonic)
    now = ctx.clock()
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, switch_id, lock=True)
        check_lock(ctx, s, row.id, "share", now, client)
        label, refused = take_share(ctx, s, row, words, now, client)
    if label is None:
        raise ShareError(
            "this share is not one of this switch's shares",
            "check that it is your share for this switch",
        )
    if refused is not None:  # the custodian sees the truth: it refused their share
        raise refused
    return status_view(ctx, switch_id)


def take_share(
    ctx: Context, s: Session, row: repo.Switch, words: str, now: int, client: str
) -> tuple[str | None, AfterwordError | None]:
    """A share (normalized words) for the switch in ``row``, by whoever holds it (a
    custodian, or a peer server handing its own over): whose it is, by its commitment
    (None: nobody's, and the refusal is logged), and the machine's refusal, if any."""
    digest = commitment(words)
    roster = json.loads(row.custodians)
    label = next((c["label"] for c in roster["custodians"] if c["commitment"] == digest), None)
    if label is None:  # counted in the log (committed), the share itself not kept
        refusal = Audit("share-refused", f"no match; {who(client)}")
        wrong_guess(ctx, s, row, refusal, "share", now, client)
        return None, None
    event = ShareAccepted(label)
    # kept if the truth takes it; one only the owner's decoy takes (a duress release-now:
    # the truth is only triggered) is counted there, not kept
    kept = not refuses(dataclasses.replace(repo.state_of(row), decoy=None), event, now)
    store_share(ctx, s, row.id, label, words, now, keep=kept)
    return label, refused_other(apply_event(ctx, s, row, event, now)[1])


def custodian(
    ctx: Context, switch_id: str, code: str, action: str = "status", client: str = ""
) -> dict[str, Any]:
    """A custodian, by the code derived from their share: ``status`` (the switch's true
    state, never the decoy), ``vote`` (the owner is missing or coerced; K votes
    trigger the release) or ``withdraw`` (their vote, before K is reached).

    A code that is not this switch's, or a revoked custodian's, is refused and logged.
    """
    if action not in ("status", "vote", "withdraw"):
        raise FormatError(f"unknown custodian action {action!r}", "use status, vote or withdraw")
    digest = credential_digest(code)
    now = ctx.clock()
    refused: AfterwordError | None = None
    with ctx.store.transaction() as s:
        row = load_switch(ctx, s, switch_id, lock=True)
        check_lock(ctx, s, row.id, "custodian", now, client)
        roster = json.loads(row.custodians)["custodians"]
        label = next((c["label"] for c in roster if c.get("credential") == digest), None)
        state = repo.state_of(row)
        if label is None or label in state.revoked:
            refused = Forbidden(
                "this custodian code is not valid for this switch"
                if label is None
                else f"custodian {label} was revoked by the owner",
                "use the code from your own card or envelope for this switch",
            )
            why = "unknown code" if label is None else f"{label} (revoked)"
            refusal = Audit(f"custodian-{action}-refused", f"{why}; {who(client)}")
            wrong_guess(ctx, s, row, refusal, "custodian", now, client)
        else:
            decoy_revoked = row.decoy_cut is not None and label in owner_view(state).revoked
            if decoy_revoked:
                # revoked in the owner's decoy only (a revoke under duress never binds
                # the truth): the owner's log shows the refusal the real revoke causes
                why = f"{label} (revoked); {who(client)}"
                kind = f"custodian-{action}-refused"
                repo.write_owner_log(s, row.id, [(now, kind, why)], clear=False)
            if action != "status":
                event = Vote(label) if action == "vote" else WithdrawVote(label)
                shown, voted = owner_view(state), state.votes
                try:
                    with s.begin_nested():
                        state, effects = apply_event(ctx, s, row, event, now)
                    if state.votes != voted:  # the switch's other servers hear of it
                        repo.enqueue_all(
                            s, row.id, vote_messages(ctx, row, code, action, label, now), now
                        )
                    if (refused := refused_other(effects)) is not None:
                        # the truth refused it, the decoy took it (the truth is
                        # releasing, say): the refusal goes in the real log only, the
                        # owner's log shows what the decoy took, as the real world's
                        detail = f"{label}; {client}"[:200]
                        refusal = Audit(f"custodian-{action}-refused", detail)
                        repo.record(s, row, repo.state_of(row), [refusal], now)
                    elif (
                        row.decoy_cut is not None
                        and label not in shown.revoked  # (said above)
                        and refuses(shown, event, now)
                    ):
                        # the truth took it, the decoy would not (it is releasing, say):
                        # the owner's log shows the refusal the real world logs
                        why = f"{label}; {who(client)}"
                        kind = f"custodian-{action}-refused"
                        repo.write_owner_log(s, row.id, [(now, kind, why)], clear=False)
                except AfterwordError as exc:
                    refused = exc
                    detail = f"{label}; {who(client)}"
                    refusal = Audit(f"custodian-{action}-refused", detail)
                    if decoy_revoked:  # the owner's log has its refusal (said above)
                        repo.record(s, row, repo.state_of(row), [refusal], now)
                    else:
                        record_aside(ctx, s, row, refusal, now)
    if refused is not None:
        raise refused
    assert label is not None
    return custodian_view(row.id, label, state)
