"""The machine's rules on custodians: their votes (K of them trigger), the shares they
submit once a release is due (K of them release), the owner revoking one, and the votes an
owner's stop spends.

Separate because these are the events of the people who hold the shares, not of the owner
or the clock.
"""

from __future__ import annotations

from afterword.switch.effects import (
    Audit,
    Effect,
    NotifyCustodians,
    NotifyRecipients,
    PublishRelease,
)
from afterword.switch.events import Revoke, ShareAccepted, Vote, WithdrawVote
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _trigger
from afterword.switch.state import LIVE, Cause, Phase, SwitchState, replace


def _vote(
    state: SwitchState, event: Vote | WithdrawVote, now: int
) -> tuple[SwitchState, list[Effect]]:
    if event.custodian in state.revoked:
        raise Rejected(
            f"custodian {event.custodian} was revoked by the owner; their votes no longer count"
        )
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; votes no longer count")
    if isinstance(event, WithdrawVote):
        if event.custodian not in state.votes:
            raise Rejected("there is no vote of yours to withdraw")
        return replace(state, votes=state.votes - {event.custodian}), [
            Audit("vote-withdrawn", event.custodian)
        ]
    if event.custodian in state.votes and (
        len(state.votes) < state.threshold or state.phase not in LIVE
    ):
        return state, []  # the same vote twice counts once
    # (K votes standing in a live phase, as a state stored before votes were cleared on an
    # abort can hold: a repeat vote is a vote again, and triggers)
    votes = state.votes | {event.custodian}
    state = replace(state, votes=votes)
    effects: list[Effect] = [
        Audit("vote", f"{event.custodian} ({len(votes)} of {state.threshold})")
    ]
    if len(votes) >= state.threshold and state.phase in LIVE:
        state, more = _trigger(state, Cause.VOTES, now, f"{len(votes)} custodians voted")
        effects += more
    return state, effects


def _revoke(state: SwitchState, event: Revoke) -> tuple[SwitchState, list[Effect]]:
    if event.custodian in state.revoked:
        return state, []
    new = replace(
        state, revoked=state.revoked | {event.custodian}, votes=state.votes - {event.custodian}
    )
    return new, [Audit("revoked", event.custodian), NotifyCustodians("revoked")]


def _clear_votes(state: SwitchState) -> tuple[SwitchState, list[Effect]]:
    """A release the owner stopped (abort, or a late check-in) spends the votes standing
    then: they were cast before the owner acted, and left standing they could never
    trigger again (a repeat vote counts once). Custodians are told (``aborted``) that
    their votes were cleared, so those who still believe the owner is missing or
    coerced vote again, and K fresh votes trigger anew."""
    if not state.votes:
        return state, []
    cleared = ", ".join(sorted(state.votes))
    return replace(state, votes=frozenset()), [Audit("votes-cleared", cleared)]


def _share(state: SwitchState, event: ShareAccepted, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase is Phase.RELEASED:
        return state, []  # late shares change nothing: released exactly once
    if state.phase is not Phase.RELEASING:
        raise Rejected(
            f"the switch is {state.phase}; shares are collected only once a release is due"
        )
    if event.custodian in state.shares:
        return state, []
    shares = state.shares | {event.custodian}
    effects: list[Effect] = [Audit("share", f"accepted from {event.custodian}")]
    if len(shares) < state.threshold:
        return replace(state, shares=shares), effects
    assert state.cause is not None
    new = replace(state, phase=Phase.RELEASED, shares=shares, released_at=now, since=now)
    return new, [
        *effects,
        PublishRelease(state.cause),
        Audit("released", f"cause {state.cause}, {len(shares)} share(s)"),
        NotifyRecipients(),
        NotifyCustodians("released"),
    ]
