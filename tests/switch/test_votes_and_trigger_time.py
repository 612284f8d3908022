"""Votes and the trigger time in the machine: K votes after an abort trigger again, votes
cast while triggered are cleared by the check-in that stops it, and the state keeps when
it triggered (settings that would stretch the switch quietly: test_settings.py)."""

from __future__ import annotations

from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import (
    Abort,
    Audit,
    Cause,
    CheckIn,
    NotifyCustodians,
    Phase,
    ReleaseNow,
    ShareAccepted,
    Tick,
    Vote,
    arm,
    decide,
    replace,
)
from afterword.switch.policy import Policy

H, D = 3600, 86400
T0 = 1_700_000_000
POLICY = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(D,), cooling_off=7 * D)


# --- item 13: standing votes after an abort or a check-in --------------------------------


def test_k_votes_after_an_abort_trigger_again() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Vote("a"), T0 + H)
    state, _ = decide(state, Vote("b"), T0 + 2 * H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)
    state, effects = decide(state, Abort(), T0 + 3 * H)
    assert state.phase is Phase.ARMED and state.votes == frozenset()
    assert Audit("votes-cleared", "a, b") in effects and NotifyCustodians("aborted") in effects
    # the custodians, told, vote again: the K fresh votes trigger the release again
    state, effects = decide(state, Vote("a"), T0 + 4 * H)
    assert state.phase is Phase.ARMED and [e.kind for e in effects if isinstance(e, Audit)] == [
        "vote"
    ]
    state, effects = decide(state, Vote("b"), T0 + 5 * H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)
    assert NotifyCustodians("triggered") in effects


def test_votes_cast_while_triggered_are_cleared_by_the_check_in_that_stops_it() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Tick(), T0 + 7 * D)  # overdue
    state, _ = decide(state, Tick(), T0 + 9 * D)  # grace over: triggered, cause missed
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.MISSED)
    state, _ = decide(state, Vote("a"), T0 + 9 * D + H)
    state, _ = decide(state, Vote("b"), T0 + 9 * D + 2 * H)  # K votes, already triggered
    assert state.phase is Phase.TRIGGERED
    state, effects = decide(state, CheckIn("signature"), T0 + 9 * D + 3 * H)
    assert state.phase is Phase.ARMED and state.votes == frozenset()
    assert Audit("votes-cleared", "a, b") in effects and NotifyCustodians("aborted") in effects
    state, _ = decide(state, Vote("a"), T0 + 10 * D)
    state, _ = decide(state, Vote("b"), T0 + 10 * D + H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)


def test_a_repeat_vote_with_k_votes_standing_in_a_live_phase_triggers() -> None:
    # a state stored before aborts cleared votes: armed with K votes standing
    state, _ = arm(POLICY, 2, T0)
    state = replace(state, votes=frozenset({"a", "b"}))
    state, _ = decide(state, Vote("a"), T0 + H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)
    # while triggered, the same vote twice still counts once
    assert decide(state, Vote("a"), T0 + 2 * H) == (state, [])


# --- item 17: the trigger's time ---------------------------------------------------------


def test_the_state_keeps_when_it_triggered_through_release_and_storage() -> None:
    state, _ = arm(POLICY, 1, T0)
    state, _ = decide(state, Tick(), T0 + 7 * D)
    state, _ = decide(state, Tick(), T0 + 9 * D)
    assert state.triggered_at == T0 + 9 * D
    state, _ = decide(state, Tick(), T0 + 12 * D)  # releasing
    state, _ = decide(state, ShareAccepted("a"), T0 + 15 * D)
    assert state.phase is Phase.RELEASED and state.released_at == T0 + 15 * D
    assert state.triggered_at == T0 + 9 * D
    assert state_from_json(state_to_json(state)).triggered_at == T0 + 9 * D
    # an abort forgets it; a deliberate release triggers at its own instant
    votes, _ = decide(arm(POLICY, 1, T0)[0], Vote("a"), T0 + H)
    assert votes.triggered_at == T0 + H
    assert decide(votes, Abort(), T0 + 2 * H)[0].triggered_at == 0
    assert (
        decide(arm(POLICY, 1, T0)[0], ReleaseNow(skip_waiting=True), T0 + 3 * H)[0].triggered_at
        == T0 + 3 * H
    )
