"""A switch with several servers asks its peers before it counts the owner silent
(issue 17, "silence needs agreement"): a check-in another server heard, relayed within
``peer_wait``, keeps this one armed; with no answer the silence counts, later by at most
``peer_wait`` per silence, never earlier than on a server alone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import (
    AskPeers,
    CheckIn,
    Disarm,
    Effect,
    NotifyCustodians,
    Phase,
    Rejected,
    ReleaseNow,
    ShareAccepted,
    Tick,
    arm,
    decide,
)
from afterword.switch.policy import Policy
from tests.switch.test_machine import POLICY, T0, D, kinds, run_ticks

WAIT = 600


def asks(effects: list[Effect]) -> int:
    return sum(isinstance(e, AskPeers) for e in effects)


def test_at_the_deadline_the_peers_are_asked_and_their_relay_keeps_it_armed() -> None:
    state, _ = arm(POLICY, 2, T0, peer_wait=WAIT)
    deadline = state.deadline
    state, effects = run_ticks(state, deadline)
    assert state.phase is Phase.ARMED and asks(effects) == 1
    assert kinds(effects)[-1] == "asked-peers"
    assert state.next_event_at == deadline + WAIT
    state, effects = decide(state, Tick(), deadline + WAIT - 1)
    assert state.phase is Phase.ARMED and effects == []
    state, _ = decide(state, CheckIn("relayed by https://b.example"), deadline + 30)
    assert state.phase is Phase.ARMED and state.deadline == deadline + 30 + POLICY.interval


def test_no_answer_only_delays_the_miss_and_each_silence_asks_once() -> None:
    state, _ = arm(POLICY, 2, T0, peer_wait=WAIT)
    deadline = state.deadline
    state, effects = run_ticks(state, deadline + WAIT)
    assert state.phase is Phase.OVERDUE and state.since == deadline + WAIT
    grace_ends = state.grace_ends
    state, more = run_ticks(state, grace_ends + WAIT - 1)  # asks again at the grace's end
    assert state.phase is Phase.OVERDUE and asks(effects + more) == 2
    state, more = run_ticks(state, grace_ends + WAIT)
    assert state.phase is Phase.TRIGGERED and asks(more) == 0


def test_with_no_grace_one_answer_serves_the_deadline_and_the_trigger() -> None:
    policy = Policy(interval=7 * D, grace=0, waiting=D)
    state, _ = arm(policy, 2, T0, peer_wait=WAIT)
    state, effects = run_ticks(state, state.deadline + WAIT)
    assert state.phase is Phase.TRIGGERED and asks(effects) == 1
    assert state.triggered_at == T0 + policy.interval + WAIT


def test_a_disarm_cooling_off_asks_too_before_a_miss_cancels_it() -> None:
    state, _ = arm(POLICY, 2, T0, peer_wait=WAIT)
    state, _ = decide(state, Disarm(), T0 + D)
    state, effects = run_ticks(state, state.deadline)
    assert state.phase is Phase.DISARMING and asks(effects) == 1


def test_a_switch_on_one_server_asks_nobody_and_stores_what_it_stored() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, effects = run_ticks(state, state.deadline + POLICY.grace)
    assert state.phase is Phase.TRIGGERED and asks(effects) == 0
    assert "peer_wait" not in state_to_json(state) and "asked_at" not in state_to_json(state)
    federated, _ = arm(POLICY, 2, T0, peer_wait=WAIT)
    federated, _ = run_ticks(federated, federated.deadline)
    assert state_from_json(state_to_json(federated)) == federated


@given(
    interval=st.integers(1, 10 * D),
    grace=st.integers(0, 3 * D),
    wait=st.integers(1, D),
    late=st.integers(0, 5 * D),
)
def test_with_peers_a_trigger_is_never_earlier_than_alone(
    interval: int, grace: int, wait: int, late: int
) -> None:
    policy = Policy(interval=interval, grace=grace, waiting=0)
    alone, _ = arm(policy, 2, T0)
    peers, _ = arm(policy, 2, T0, peer_wait=wait)
    until = T0 + interval + grace + late
    alone, _ = run_ticks(alone, until)
    peers, effects = run_ticks(peers, until)
    if peers.phase in (Phase.TRIGGERED, Phase.RELEASING):
        assert alone.phase in (Phase.TRIGGERED, Phase.RELEASING)
        assert peers.triggered_at >= alone.triggered_at + wait
        assert peers.triggered_at <= alone.triggered_at + 2 * wait
    assert asks(effects) <= 2


def test_a_newer_check_in_stops_a_release_this_server_began_alone() -> None:
    """A server that counted the owner silent (its clock ran ahead, relays were lost)
    began releasing, short of K shares: its peers refuse it theirs. The owner's newer
    check-in, relayed, stops the release here as a late check-in stops a trigger."""
    policy = Policy(interval=7 * D, grace=0, waiting=0)
    state, _ = arm(policy, 2, T0, peer_wait=WAIT)
    state, _ = run_ticks(state, state.deadline + WAIT)
    state, _ = decide(state, ShareAccepted("s0"), state.deadline + WAIT)
    assert state.phase is Phase.RELEASING and state.shares == {"s0"}
    later = state.deadline + WAIT + 60
    state, effects = decide(state, CheckIn("signature, relayed by https://b.example"), later)
    assert state.phase is Phase.ARMED and state.shares == frozenset()
    assert state.deadline == later + policy.interval
    assert any(isinstance(e, NotifyCustodians) and e.what == "aborted" for e in effects)


def test_a_release_that_is_not_this_servers_mistake_is_never_stopped() -> None:
    """On one server, or released on purpose, or by duress, a check-in stops nothing
    once the release has begun (as before federation)."""
    policy = Policy(interval=7 * D, grace=0, waiting=0)
    alone, _ = arm(policy, 2, T0)
    alone, _ = run_ticks(alone, alone.deadline)
    assert alone.phase is Phase.RELEASING
    with pytest.raises(Rejected, match="can no longer stop it"):
        decide(alone, CheckIn("signature"), alone.deadline + 60)
    federated, _ = arm(policy, 2, T0, peer_wait=WAIT)
    federated, _ = decide(federated, ReleaseNow(skip_waiting=True), T0 + 60)
    with pytest.raises(Rejected, match="can no longer stop it"):
        decide(federated, CheckIn("signature"), T0 + 120)
