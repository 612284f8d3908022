"""A protected person's check-in relayed from another server of the switch (docs/
federation.md, item 7): one the sender took in time is no miss here, however late it
arrives, and stops a trigger this server began alone for that person's silence; one the
sender took late (it triggered there) stops nothing, and neither does any relay on a
switch on one server, or once the release has K shares, or another cause triggered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import (
    AddCanary,
    CanaryCheckIn,
    Cause,
    NotifyCustodians,
    Pause,
    Phase,
    ShareAccepted,
    SwitchState,
    Vote,
    arm,
    canary_in_time,
    decide,
)
from afterword.switch.policy import Policy
from tests.switch.test_machine import T0, D, H, kinds, run_ticks

WAIT = 600
POLICY = Policy(interval=7 * D, grace=D, waiting=D)
EVERY, GRACE = D, 2 * H


def with_mother(peer_wait: int = WAIT, threshold: int = 2, **more: bool) -> SwitchState:
    state, _ = arm(POLICY, threshold, T0, peer_wait=peer_wait)
    state, _ = decide(state, AddCanary("mother", EVERY, GRACE, trigger=True), T0)
    for name in more:
        state, _ = decide(state, AddCanary(name, EVERY, GRACE, trigger=more[name]), T0)
    return state


ALARM = T0 + EVERY + GRACE  # mother's alarm, with no check-in


def test_an_in_time_relay_after_the_alarm_here_raises_no_alarm() -> None:
    """Nobody ticked since her alarm came due here: an in-time relay arriving now is
    taken before the alarm, which a late relay (or a local late check-in) raises."""
    state = with_mother()
    in_time, effects = decide(state, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert in_time.phase is Phase.ARMED and "triggered" not in kinds(effects)
    assert in_time.canaries[0].deadline == ALARM + 60 + EVERY
    late, effects = decide(state, CanaryCheckIn("mother"), ALARM + 60)
    assert late.phase is Phase.TRIGGERED and late.missed_by == "mother"


def test_only_her_own_alarm_is_spared() -> None:
    state = with_mother(father=True)
    new, _ = decide(state, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert new.phase is Phase.TRIGGERED and new.missed_by == "father"


def test_an_in_time_relay_stops_a_trigger_or_release_this_server_began_alone() -> None:
    state, _ = run_ticks(with_mother(), ALARM)
    assert state.phase is Phase.TRIGGERED and state.cause is Cause.CANARY
    assert state.missed_by == "mother"
    assert state_from_json(state_to_json(state)) == state
    stopped, effects = decide(state, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert stopped.phase is Phase.ARMED and stopped.cause is None
    # the owner's period as it stood: a protected person's check-in says nothing of the
    # owner (tests/attack/test_canary_stop_resets_owner_silence.py)
    assert stopped.deadline == state.deadline and stopped.counted_from == state.counted_from
    assert "canary-stopped" in kinds(effects)
    assert NotifyCustodians("canary-stopped") in effects
    releasing, _ = run_ticks(state, ALARM + POLICY.waiting)
    releasing, _ = decide(releasing, ShareAccepted("s0"), ALARM + POLICY.waiting)
    assert releasing.phase is Phase.RELEASING and releasing.shares == {"s0"}
    stopped, _ = decide(releasing, CanaryCheckIn("mother", in_time=True), ALARM + 2 * D)
    assert stopped.phase is Phase.ARMED and stopped.shares == frozenset()


def test_a_pause_the_trigger_interrupted_goes_on_once_stopped() -> None:
    state, _ = decide(with_mother(), Pause(T0 + 20 * D), T0 + H)
    state, _ = run_ticks(state, ALARM)
    assert state.phase is Phase.TRIGGERED
    stopped, _ = decide(state, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert stopped.phase is Phase.PAUSED and stopped.paused_until == T0 + 20 * D


def test_what_an_in_time_relay_never_stops() -> None:
    triggered, _ = run_ticks(with_mother(), ALARM)
    late, _ = decide(triggered, CanaryCheckIn("mother"), ALARM + 60)  # late at its sender
    assert late.phase is Phase.TRIGGERED
    alone, _ = run_ticks(with_mother(peer_wait=0), ALARM)  # a switch on one server
    alone, _ = decide(alone, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert alone.phase is Phase.TRIGGERED
    both, _ = run_ticks(with_mother(father=True), ALARM)  # his silence stands
    both, _ = decide(both, CanaryCheckIn("mother", in_time=True), ALARM + 60)
    assert both.phase is Phase.TRIGGERED
    forced, _ = decide(with_mother(), CanaryCheckIn("mother", duress=True), T0 + H)
    assert forced.phase is Phase.TRIGGERED and forced.missed_by == ""
    forced, _ = decide(forced, CanaryCheckIn("mother", in_time=True), T0 + 2 * H)
    assert forced.phase is Phase.TRIGGERED
    voted = with_mother(threshold=1)
    voted, _ = decide(voted, Vote("s0"), T0 + H)
    assert voted.cause is Cause.VOTES
    voted, _ = decide(voted, CanaryCheckIn("mother", in_time=True), T0 + 2 * H)
    assert voted.phase is Phase.TRIGGERED
    full, _ = run_ticks(with_mother(threshold=1), ALARM + POLICY.waiting)
    assert full.phase is Phase.RELEASING  # no share yet (the engine adds the server's)
    full, _ = decide(full, ShareAccepted("s0"), ALARM + POLICY.waiting)
    assert full.phase is Phase.RELEASED


def test_in_time_is_before_the_alarm_and_not_once_missed() -> None:
    state = with_mother()
    assert canary_in_time(state, "mother", ALARM - 1)
    assert not canary_in_time(state, "mother", ALARM)
    assert not canary_in_time(state, "nobody", T0)
    ticked, _ = run_ticks(state, ALARM)
    assert not canary_in_time(ticked, "mother", ALARM - 1)  # a clock set back


@given(
    late=st.integers(0, 10 * D),
    duress=st.booleans(),
    in_time=st.booleans(),
    peer_wait=st.sampled_from([0, WAIT]),
    ticked=st.booleans(),
)
def test_a_relayed_check_in_never_brings_a_release_nearer_than_a_local_one(
    late: int, duress: bool, in_time: bool, peer_wait: int, ticked: bool
) -> None:
    """Whatever the relay says and whenever it arrives: a check-in that is in time never
    triggers here unless by the duress link, and never moves further toward a release
    than the same check-in made here would (a duress one may stop this server's lone
    release and trigger anew); one its sender took late is exactly a local one."""
    state = with_mother(peer_wait=peer_wait)
    at = T0 + late
    if ticked:
        state, _ = run_ticks(state, at)
    relayed, _ = decide(state, CanaryCheckIn("mother", duress, in_time), at)
    local, _ = decide(state, CanaryCheckIn("mother", duress), at)
    order = [Phase.ARMED, Phase.OVERDUE, Phase.TRIGGERED, Phase.RELEASING, Phase.RELEASED]
    assert order.index(relayed.phase) <= order.index(local.phase)
    if in_time and not duress and state.phase is Phase.ARMED:
        assert relayed.phase in (Phase.ARMED, Phase.OVERDUE)
    if not in_time:  # a check-in its sender took late is one taken here
        assert relayed == local
