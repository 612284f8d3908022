"""The pure switch machine: every transition, and its invariants under hypothesis."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from afterword.switch.machine import (
    Abort,
    AddCanary,
    Audit,
    CanaryCheckIn,
    Cause,
    ChangePolicy,
    CheckIn,
    Disarm,
    Duress,
    Effect,
    NotifyCustodians,
    NotifyRecipients,
    Pause,
    Phase,
    PublishRelease,
    Rejected,
    ReleaseNow,
    RemindOwner,
    Resume,
    Revoke,
    ShareAccepted,
    SubmitServerShares,
    SwitchState,
    Tick,
    Vote,
    arm,
    decide,
)
from afterword.switch.policy import Policy

H, D = 3600, 86400
POLICY = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(3 * D, D, 2 * H))
T0 = 1_700_000_000


def kinds(effects: list[Effect]) -> list[str]:
    return [e.kind for e in effects if isinstance(e, Audit)]


def run_ticks(state: SwitchState, until: int) -> tuple[SwitchState, list[Effect]]:
    """What the scheduler does: tick at every next_event_at up to ``until``."""
    effects: list[Effect] = []
    while (at := state.next_event_at) is not None and at <= until:
        state, more = decide(state, Tick(), at)
        effects += more
    return state, effects


def test_arm_sets_the_first_deadline() -> None:
    state, effects = arm(POLICY, 2, T0)
    assert state.phase is Phase.ARMED and state.deadline == T0 + 7 * D
    assert state.next_event_at == T0 + 4 * D  # the 3-day reminder
    assert kinds(effects) == ["armed"]
    with pytest.raises(ValueError):
        arm(POLICY, 0, T0)


def test_silent_owner_full_lifecycle() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, effects = run_ticks(state, T0 + 7 * D - 1)
    reminders = [e for e in effects if isinstance(e, RemindOwner)]
    assert [r.overdue for r in reminders] == [False, False, False]  # 3d, 1d, 2h before
    assert state.phase is Phase.ARMED
    state, effects = decide(state, Tick(), T0 + 7 * D)
    assert state.phase is Phase.OVERDUE
    assert RemindOwner(T0 + 7 * D, True) in effects
    state, effects = run_ticks(state, T0 + 9 * D - 1)
    assert state.phase is Phase.OVERDUE
    assert all(isinstance(e, RemindOwner | Audit) for e in effects)
    state, effects = decide(state, Tick(), T0 + 9 * D)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.MISSED)
    assert NotifyCustodians("triggered") in effects
    assert state.next_event_at == T0 + 12 * D
    state, effects = decide(state, Tick(), T0 + 12 * D)
    assert state.phase is Phase.RELEASING
    assert SubmitServerShares() in effects and NotifyCustodians("submit") in effects
    state, effects = decide(state, ShareAccepted("server"), T0 + 12 * D + 5)
    assert state.phase is Phase.RELEASING and not any(
        isinstance(e, PublishRelease) for e in effects
    )
    state, effects = decide(state, ShareAccepted("server"), T0 + 12 * D + 6)
    assert effects == []  # the same custodian twice counts once
    state, effects = decide(state, ShareAccepted("lawyer"), T0 + 12 * D + 60)
    assert state.phase is Phase.RELEASED and state.released_at == T0 + 12 * D + 60
    assert PublishRelease(Cause.MISSED) in effects and NotifyRecipients() in effects
    assert state.next_event_at is None
    assert decide(state, ShareAccepted("sister"), T0 + 13 * D) == (state, [])


def test_checkin_moves_the_deadline_and_resets_reminders() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = run_ticks(state, T0 + 6 * D + 21 * H)  # two reminders sent
    assert len(state.reminded) == 2
    state, effects = decide(state, CheckIn("signature", "key 1a2b"), T0 + 6 * D + 21 * H)
    assert state.phase is Phase.ARMED and state.deadline == T0 + 13 * D + 21 * H
    assert state.reminded == frozenset() and state.checkins == 1
    assert kinds(effects) == ["checked-in"]
    assert "signature key 1a2b" in effects[0].detail  # type: ignore[union-attr]


def test_checkin_during_grace_and_during_waiting() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = run_ticks(state, T0 + 8 * D)
    assert state.phase is Phase.OVERDUE
    rearmed, _ = decide(state, CheckIn("password"), T0 + 8 * D)
    assert rearmed.phase is Phase.ARMED
    state, _ = run_ticks(state, T0 + 10 * D)
    assert state.phase is Phase.TRIGGERED
    rearmed, effects = decide(state, CheckIn("password"), T0 + 10 * D)
    assert rearmed.phase is Phase.ARMED and NotifyCustodians("aborted") in effects


def test_downtime_and_clock_jumps_only_delay() -> None:
    state, _ = arm(POLICY, 2, T0)
    year_later = T0 + 365 * D  # the server was off, or the clock jumped a year
    state, effects = decide(state, Tick(), year_later)
    assert state.phase is Phase.OVERDUE  # not triggered: grace starts now
    assert RemindOwner(T0 + 7 * D, True) in effects  # the owner hears of it at once
    assert state.grace_ends == year_later + 2 * D
    state, _ = decide(state, Tick(), year_later + 2 * D)
    assert state.phase is Phase.TRIGGERED
    state, _ = decide(state, Tick(), year_later + 400 * D)  # another jump
    assert state.phase is Phase.RELEASING  # waiting had fully elapsed since the trigger
    # a clock set back changes nothing
    armed, _ = arm(POLICY, 2, T0)
    assert decide(armed, Tick(), T0 - 10 * D) == (armed, [])


def test_a_checkin_behind_a_pause_by_the_clock_counts_from_the_pause() -> None:
    """Found by TestSwitchLifecycle: a pause is a proof of life, but its instant did not
    count as one for the next period. The owner paused at the deadline, the clock was
    set back a second, and a check-in then counted from a second before the pause: the
    release came a second before interval + grace from the owner's last proof of life."""
    policy = Policy(interval=60, grace=1, waiting=0)
    state, _ = arm(policy, 1, T0)
    state, _ = decide(state, Tick(), T0 + 60)
    assert state.phase is Phase.OVERDUE
    state, _ = decide(state, Pause(T0 + 61), T0 + 60)
    state, _ = decide(state, CheckIn("signature"), T0 + 59)  # the clock set back 1 s
    assert state.deadline == T0 + 120  # a full interval from the pause, not from T0 + 59
    state, _ = run_ticks(state, T0 + 120)
    assert state.phase is Phase.OVERDUE
    state, _ = run_ticks(state, T0 + 121)  # grace over; no waiting period
    assert state.phase is Phase.RELEASING


def test_a_checkin_while_the_clock_is_set_back_never_brings_the_deadline_forward() -> None:
    """Simulation seed 1366: the clock went back an hour and the owner checked in; the
    deadline moved 30 minutes earlier by the clock, so once the clock was set right the
    switch would have triggered that much before its time."""
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, CheckIn("signature"), T0 + D)
    assert state.deadline == T0 + 8 * D
    behind = T0 + D + 30 * 60 - H  # half an hour later, by a clock set back an hour
    state, _ = decide(state, CheckIn("signature"), behind)
    assert state.deadline == T0 + 8 * D and state.last_checkin == behind
    state, _ = run_ticks(state, T0 + 10 * D - 1)  # interval + grace from the *latest* period
    assert state.phase is Phase.OVERDUE
    state, _ = decide(state, Tick(), T0 + 10 * D)
    assert state.phase is Phase.TRIGGERED
    # the same holds for an abort's period, and for a check-in while disarming
    aborted, _ = decide(state, Abort(), T0 + 10 * D + H)
    assert decide(aborted, CheckIn("signature"), T0 + 10 * D)[0].deadline == T0 + 17 * D + H
    disarming, _ = decide(aborted, Disarm(), T0 + 10 * D + 2 * H)
    again, _ = decide(disarming, CheckIn("signature"), T0 + 10 * D)
    assert (again.phase, again.deadline) == (Phase.DISARMING, T0 + 17 * D + H)
    # with the clock right, a check-in counts from now, under a shorter interval too
    later, _ = decide(aborted, CheckIn("signature"), T0 + 11 * D)
    assert later.deadline == T0 + 18 * D
    shorter, _ = decide(later, ChangePolicy(D, H, H, ()), T0 + 11 * D + H)
    assert shorter.deadline == T0 + 18 * D  # the current deadline stands
    shorter, _ = decide(shorter, CheckIn("signature"), T0 + 11 * D + 2 * H)
    assert shorter.deadline == T0 + 12 * D + 2 * H


def test_pause_is_bounded_and_ends_by_itself() -> None:
    state, _ = arm(POLICY, 2, T0)
    with pytest.raises(Rejected, match="at most"):
        decide(state, Pause(T0 + 31 * D), T0)
    with pytest.raises(Rejected, match="future"):
        decide(state, Pause(T0), T0)
    paused, effects = decide(state, Pause(T0 + 10 * D), T0 + H)
    assert kinds(effects) == ["paused"]
    assert paused.phase is Phase.PAUSED and paused.next_event_at == T0 + 10 * D
    assert run_ticks(paused, T0 + 10 * D - 1)[0] == paused  # no deadline while paused
    resumed, _ = decide(paused, Tick(), T0 + 10 * D)
    assert resumed.phase is Phase.ARMED and resumed.deadline == T0 + 17 * D
    early, _ = decide(paused, Resume(), T0 + 2 * D)
    assert early.deadline == T0 + 9 * D
    with pytest.raises(Rejected, match="not paused"):
        decide(state, Resume(), T0)


def test_abort_and_deliberate_release() -> None:
    state, _ = arm(POLICY, 1, T0)
    with pytest.raises(Rejected, match="only a pending release"):
        decide(state, Abort(), T0)
    triggered, _ = run_ticks(state, T0 + 9 * D)
    aborted, effects = decide(triggered, Abort(), T0 + 9 * D + H)
    assert aborted.phase is Phase.ARMED and NotifyCustodians("aborted") in effects
    releasing, effects = decide(state, ReleaseNow(skip_waiting=True), T0 + D)
    assert (releasing.phase, releasing.cause) == (Phase.RELEASING, Cause.DELIBERATE)
    assert SubmitServerShares() in effects
    released, effects = decide(releasing, ShareAccepted("server"), T0 + D)
    assert PublishRelease(Cause.DELIBERATE) in effects
    for event in (ReleaseNow(skip_waiting=True), CheckIn("password"), Abort(), Pause(T0 + 2 * D)):
        with pytest.raises(Rejected):
            decide(released, event, T0 + 2 * D)
    with pytest.raises(Rejected, match="no longer stop it"):
        decide(releasing, CheckIn("password"), T0 + D)


def test_shares_only_when_a_release_is_due() -> None:
    state, _ = arm(POLICY, 2, T0)
    with pytest.raises(Rejected, match="only once a release is due"):
        decide(state, ShareAccepted("lawyer"), T0)
    triggered, _ = run_ticks(state, T0 + 9 * D)
    with pytest.raises(Rejected):
        decide(triggered, ShareAccepted("lawyer"), T0 + 9 * D)


def test_zero_grace_and_zero_waiting() -> None:
    policy = Policy(interval=60, grace=0, waiting=0)
    state, _ = arm(policy, 1, T0)
    state, _ = decide(state, Tick(), T0 + 60)
    assert state.phase is Phase.TRIGGERED  # overdue and grace over in the same instant
    state, _ = decide(state, Tick(), T0 + 60)
    assert state.phase is Phase.RELEASING


# --- hypothesis: whole lifecycles under a virtual clock ---------------------------------

policies = st.builds(
    Policy,
    interval=st.integers(60, 30 * D),
    grace=st.integers(0, 5 * D),
    waiting=st.integers(0, 5 * D),
    reminders=st.lists(st.integers(1, 10 * D), max_size=3).map(tuple),
)


class SwitchLifecycle(RuleBasedStateMachine):
    """Random owners, custodians and schedulers; the invariants must hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.state: SwitchState | None = None
        self.now = T0
        self.publishes = 0
        self.last_life = T0  # last instant the owner proved life (arm, check-in, pause end)
        self.deliberate = False
        self.asked_at = 0  # when the owner last asked for a release through the wait
        self.releasing_at = 0  # the instant the release began (the clock may go back after)

    @rule(policy=policies, threshold=st.integers(1, 3))
    @precondition(lambda self: self.state is None)
    def arm(self, policy: Policy, threshold: int) -> None:
        self.state, _ = arm(policy, threshold, self.now)

    def apply(self, event: object) -> None:
        assert self.state is not None
        try:
            self.state, effects = decide(self.state, event, self.now)  # type: ignore[arg-type]
        except Rejected:
            return
        self.publishes += sum(isinstance(e, PublishRelease) for e in effects)
        if self.state.phase is Phase.RELEASING and not self.releasing_at:
            self.releasing_at = self.now
        if isinstance(event, CheckIn | Abort | Resume) or (
            isinstance(event, Tick)
            and any(isinstance(e, Audit) and e.kind == "resumed" for e in effects)
        ):
            self.last_life = max(self.last_life, self.now)
        if isinstance(event, Pause):
            self.last_life = max(self.last_life, self.now)  # a check-in may end it early
        if isinstance(event, ReleaseNow) and event.skip_waiting:
            self.deliberate = True
        elif isinstance(event, ReleaseNow):
            self.asked_at = self.now  # the owner's release, through the waiting period

    @rule(dt=st.integers(0, 40 * D))
    @precondition(lambda self: self.state is not None)
    def wait(self, dt: int) -> None:
        self.now += dt

    @rule(dt=st.integers(1, 2 * H))
    @precondition(lambda self: self.state is not None)
    def clock_set_back(self, dt: int) -> None:
        """The server's clock is corrected backwards (or a VM restored): the owner's
        proofs of life so far still count, by the instants the clock gave them."""
        self.now -= dt

    @rule()
    @precondition(lambda self: self.state is not None)
    def scheduler_runs(self) -> None:
        assert self.state is not None
        at = self.state.next_event_at
        if at is not None and at <= self.now:
            self.apply(Tick())

    @rule()
    @precondition(lambda self: self.state is not None)
    def scheduler_wakes_when_due(self) -> None:
        """Time runs to exactly the next instant the switch asked for: the edges."""
        assert self.state is not None
        at = self.state.next_event_at
        if at is not None:
            self.now = max(self.now, at)
            self.apply(Tick())

    @rule()
    @precondition(lambda self: self.state is not None)
    def owner_checks_in(self) -> None:
        self.apply(CheckIn("signature"))

    @rule(length=st.integers(1, 40 * D))
    @precondition(lambda self: self.state is not None)
    def owner_pauses(self, length: int) -> None:
        self.apply(Pause(self.now + length))

    @rule()
    @precondition(lambda self: self.state is not None)
    def owner_aborts(self) -> None:
        self.apply(Abort())

    @rule(skip=st.booleans())
    @precondition(lambda self: self.state is not None)
    def owner_releases(self, skip: bool) -> None:
        self.apply(ReleaseNow(skip_waiting=skip))

    @rule(custodian=st.sampled_from(["server", "lawyer", "sister"]))
    @precondition(lambda self: self.state is not None)
    def custodian_submits(self, custodian: str) -> None:
        self.apply(ShareAccepted(custodian))

    @invariant()
    def released_at_most_once(self) -> None:
        assert self.publishes <= 1
        if self.state is not None:
            assert (self.publishes == 1) == (self.state.phase is Phase.RELEASED)

    @invariant()
    def no_early_release(self) -> None:
        """A release that was not deliberate needs the owner silent for the whole policy."""
        state = self.state
        if state is None or state.phase not in (Phase.RELEASING, Phase.RELEASED):
            return
        if state.cause is Cause.DELIBERATE:
            assert self.deliberate
            return
        if state.cause is Cause.OWNER:  # asked for: the whole waiting period ran first
            assert self.asked_at and self.releasing_at >= self.asked_at + state.policy.waiting
            return
        assert state.cause is Cause.MISSED
        p = state.policy
        assert self.releasing_at >= self.last_life + p.interval + p.grace + p.waiting

    @invariant()
    def next_event_is_consistent(self) -> None:
        state = self.state
        if state is None:
            return
        if state.phase in (Phase.RELEASING, Phase.RELEASED):
            assert state.next_event_at is None
        else:
            assert state.next_event_at is not None


TestSwitchLifecycle = SwitchLifecycle.TestCase
TestSwitchLifecycle.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)


@settings(max_examples=300, deadline=None)
@given(
    policy=policies,
    threshold=st.integers(1, 3),
    checkins=st.lists(st.floats(0.0, 0.999), max_size=30),
    lag=st.integers(0, 3 * H),
)
def test_in_time_checkins_never_trigger_and_silence_always_releases(
    policy: Policy, threshold: int, checkins: list[float], lag: int
) -> None:
    """Check-ins before each deadline keep it armed forever; then silence releases within
    interval + grace + waiting (+ scheduler lag per step), given K shares."""
    state, _ = arm(policy, threshold, T0)
    now = T0
    for fraction in checkins:
        target = now + int(policy.interval * fraction)
        state, _ = run_ticks(state, target)
        assert state.phase is Phase.ARMED
        now = target
        state, _ = decide(state, CheckIn("signature"), now)
    silent_from = now
    # the scheduler may run late by `lag` each time, but runs
    while state.phase not in (Phase.RELEASING, Phase.RELEASED):
        at = state.next_event_at
        assert at is not None
        now = max(now, at + lag)
        state, _ = decide(state, Tick(), now)
    bound = silent_from + policy.interval + policy.grace + policy.waiting + 3 * lag
    assert now <= bound + lag * (len(policy.reminders) * 2 + 2)
    for i in range(threshold):
        state, effects = decide(state, ShareAccepted(f"c{i}"), now)
    assert state.phase is Phase.RELEASED
    assert PublishRelease(Cause.MISSED) in effects


@settings(max_examples=100, deadline=None)
@given(
    policy=policies, threshold=st.integers(1, 3), steps=st.lists(st.integers(0, 20 * D), max_size=8)
)
def test_state_survives_storage(policy: Policy, threshold: int, steps: list[int]) -> None:
    import json

    from afterword.switch.codec import state_from_json, state_to_json

    state, _ = arm(policy, threshold, T0)
    now = T0
    for i, dt in enumerate(steps):
        now += dt
        event = [
            Tick(),
            ShareAccepted(f"c{i}"),
            CheckIn("x"),
            Duress(CheckIn("x")),
            Vote(f"c{i % 2}"),
            Disarm(),
            ReleaseNow(skip_waiting=i % 4 == 0),
            AddCanary(f"p{i % 2}", D, H, trigger=i % 3 == 0),
            CanaryCheckIn(f"p{i % 2}", duress=i % 4 == 0),
            Revoke(f"c{i % 3}"),
        ][i % 10]
        with contextlib.suppress(Rejected):
            state, _ = decide(state, event, now)
        assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    with pytest.raises(ValueError, match="unknown version"):
        state_from_json({"v": 99})


def test_a_state_stored_before_counted_from_counts_from_its_last_checkin() -> None:
    from afterword.switch.codec import state_from_json, state_to_json

    state, _ = decide(arm(POLICY, 2, T0)[0], CheckIn("x"), T0 + D)
    stored = state_to_json(state)
    del stored["counted_from"]
    old = state_from_json(stored)
    assert old.counted_from == T0 + D == old.last_checkin
    assert decide(old, CheckIn("x"), T0 + D - H)[0].deadline == T0 + 8 * D


@settings(max_examples=100, deadline=None)
@given(
    policy=policies,
    phase=st.sampled_from(Phase),
    since=st.integers(0, 2**40),
    reminded=st.frozensets(st.integers(0, 2**40), max_size=3),
)
def test_the_machines_replace_is_dataclasses_replace(
    policy: Policy, phase: Phase, since: int, reminded: frozenset[int]
) -> None:
    """machine.replace copies fields instead of running __init__: the same value, the
    original untouched, unknown fields refused as dataclasses.replace refuses them."""
    import dataclasses

    from afterword.switch.machine import Canary, replace

    state, _ = arm(policy, 2, T0)
    state = dataclasses.replace(state, canaries=(Canary("p", D, H, True, T0 + D),))
    changes = {"phase": phase, "since": since, "reminded": reminded}
    before = dict(state.__dict__)
    new = replace(state, **changes)
    assert new == dataclasses.replace(state, **changes)
    assert hash(new) == hash(dataclasses.replace(state, **changes))
    assert type(new) is SwitchState and new is not state
    assert state.__dict__ == before  # the original is untouched
    canary = replace(state.canaries[0], missed=True)
    assert canary == dataclasses.replace(state.canaries[0], missed=True)
    assert not state.canaries[0].missed
    with pytest.raises(TypeError, match="no field"):
        replace(state, sicne=1)
