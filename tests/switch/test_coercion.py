"""Coercion resistance in the pure machine: duress and its decoy, custodian votes,
disarming, canary alarms. The property that matters most: whatever the owner is shown
after a duress action is exactly what the real action would have shown."""

from __future__ import annotations

import contextlib
from dataclasses import astuple
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from afterword.switch.machine import (
    Abort,
    AddCanary,
    Alert,
    Audit,
    CanaryAlarm,
    CanaryCheckIn,
    Cause,
    ChangePolicy,
    CheckIn,
    DeleteServerCopies,
    Disarm,
    Duress,
    Effect,
    Event,
    NotifyCustodians,
    OwnerAction,
    OwnerLog,
    Pause,
    Phase,
    PublishRelease,
    RefuseOwner,
    Rejected,
    ReleaseNow,
    RemindOwner,
    Resume,
    Revoke,
    ShareAccepted,
    Status,
    SwitchState,
    Tick,
    Vote,
    WithdrawVote,
    arm,
    decide,
    owner_view,
)
from afterword.switch.policy import Policy

H, D = 3600, 86400
T0 = 1_700_000_000
POLICY = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(D,), cooling_off=7 * D)


def kinds(effects: list[Effect]) -> list[str]:
    return [e.kind for e in effects if isinstance(e, Audit)]


def owner_outcome(state: SwitchState, event: Event, now: int) -> tuple[Any, ...]:
    """Everything the owner can observe of one step: the answer, the view, their mail."""
    try:
        new, effects = decide(state, event, now)
    except Rejected as refused:
        return ("refused", str(refused))
    refusals = [e.message for e in effects if isinstance(e, RefuseOwner)]
    if refusals:
        return ("refused", refusals[0])
    view = owner_view(new)
    seen = astuple(view)[:-1]  # every field but the (always empty) decoy of the view
    return ("ok", seen, owner_mail(effects), owner_log(new, effects), new_client_alerts(effects))


def owner_mail(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if isinstance(e, RemindOwner | RefuseOwner)]


def owner_log(state: SwitchState, effects: list[Effect]) -> list[tuple[str, str]]:
    """The log entries the owner is shown: the real log, or the decoy's while one stands."""
    kind = Audit if state.decoy is None else OwnerLog
    return [(e.kind, e.detail) for e in effects if isinstance(e, kind)]


def new_client_alerts(effects: list[Effect]) -> list[Effect]:
    return [e for e in effects if isinstance(e, Alert) and e.what == "new-client"]


# --- duress -----------------------------------------------------------------------------


def test_duress_checkin_answers_like_a_checkin_and_triggers_silently() -> None:
    state, _ = arm(POLICY, 2, T0)
    real, _ = decide(state, CheckIn("signature"), T0 + D)
    forced, effects = decide(state, Duress(CheckIn("signature")), T0 + D)
    assert owner_view(forced) == real  # the owner (and whoever watches) sees a check-in
    assert (forced.phase, forced.cause) == (Phase.TRIGGERED, Cause.DURESS)  # the truth
    assert NotifyCustodians("triggered") in effects  # custodians are told
    assert "duress" in kinds(effects)  # the audit log records it
    assert not owner_mail(effects)  # no mail betrays it
    # the release proceeds: the decoy keeps reading "armed" while it does
    state, effects = decide(forced, Tick(), T0 + 4 * D)
    assert state.phase is Phase.RELEASING and owner_view(state).phase is Phase.ARMED
    for custodian in ("a", "b"):
        state, effects = decide(state, ShareAccepted(custodian), T0 + 4 * D)
    assert state.phase is Phase.RELEASED and PublishRelease(Cause.DURESS) in effects
    assert owner_view(state).phase is Phase.ARMED


def test_the_decoy_keeps_its_own_schedule_and_only_it_mails_the_owner() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Duress(CheckIn("password")), T0)
    # the decoy's reminder (one day before its deadline) reaches the owner, the truth's none
    at = state.next_event_at
    assert at is not None
    mail: list[Effect] = []
    now = T0
    while now < T0 + 10 * D:
        at = state.next_event_at
        if at is None or at > T0 + 10 * D:
            break
        now = at
        state, effects = decide(state, Tick(), now)
        mail += owner_mail(effects)
    assert mail and all(isinstance(e, RemindOwner) for e in mail)
    assert mail[0].deadline == T0 + 7 * D  # the decoy's deadline, not the truth's


def test_delayed_duress() -> None:
    policy = Policy(interval=7 * D, grace=D, waiting=D, duress_delay=6 * H)
    state, _ = arm(policy, 1, T0)
    state, effects = decide(state, Duress(CheckIn("signature")), T0 + H)
    assert state.phase is Phase.ARMED and state.duress_at == T0 + 7 * H
    assert state.next_event_at == T0 + 7 * H
    state, effects = decide(state, Tick(), T0 + 7 * H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.DURESS)
    assert owner_view(state).phase is Phase.ARMED
    assert not owner_mail(effects)


def test_a_refused_duress_action_is_refused_the_same_way_yet_triggers() -> None:
    state, _ = arm(POLICY, 2, T0)
    with pytest.raises(Rejected) as real:
        decide(state, Abort(), T0)
    forced, effects = decide(state, Duress(Abort()), T0)
    assert [e.message for e in effects if isinstance(e, RefuseOwner)] == [str(real.value)]
    assert forced.phase is Phase.TRIGGERED and owner_view(forced).phase is Phase.ARMED


def test_real_credentials_after_duress_act_on_the_truth() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Duress(CheckIn("signature")), T0)
    with pytest.raises(Rejected, match="only an abort"):
        decide(state, CheckIn("signature"), T0 + H)
    aborted, effects = decide(state, Abort(), T0 + H)  # the free owner stops it, visibly
    assert aborted.phase is Phase.ARMED and aborted.decoy is None
    assert NotifyCustodians("aborted") in effects


def test_a_real_abort_stops_a_duress_trigger_that_came_due_during_the_release() -> None:
    """Simulation seed 1378: a duress check-in with a 2-day delay, then the owner misses a
    check-in and the switch triggers; the delayed duress trigger comes due while it is
    already triggered, so it joins that release, and the owner's real abort stops both."""
    policy = Policy(interval=D, grace=0, waiting=3 * D, duress_delay=2 * D)
    state, _ = arm(policy, 1, T0)
    state, _ = decide(state, Duress(CheckIn("signature")), T0 + H)
    assert state.duress_at == T0 + 2 * D + H
    state, _ = decide(state, Tick(), T0 + D)  # the truth's deadline (the decoy's is later)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.MISSED)
    state, effects = decide(state, Abort(), T0 + 3 * D)  # real credentials, after duress_at
    assert state.phase is Phase.ARMED and state.duress_at == 0 and state.decoy is None
    assert NotifyCustodians("aborted") in effects
    assert state.next_event_at == T0 + 4 * D  # the next check-in, not a duress trigger
    _, effects = decide(state, Tick(), T0 + 3 * D + H)
    assert effects == []


def test_a_duress_trigger_still_to_come_survives_a_real_abort() -> None:
    """Acting for real does not withdraw a duress signal given before: a delayed duress
    trigger not yet due outlives another trigger and its abort, and fires at its time."""
    policy = Policy(interval=7 * D, grace=D, waiting=D, duress_delay=2 * D)
    state, _ = arm(policy, 2, T0)
    state, _ = decide(state, Duress(CheckIn("signature")), T0)
    state, _ = decide(state, Vote("a"), T0 + H)
    state, _ = decide(state, Vote("b"), T0 + H)
    assert (state.phase, state.cause, state.duress_at) == (Phase.TRIGGERED, Cause.VOTES, T0 + 2 * D)
    state, _ = decide(state, Abort(), T0 + 2 * H)
    assert state.phase is Phase.ARMED and state.next_event_at == T0 + 2 * D
    state, _ = decide(state, Tick(), T0 + 2 * D)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.DURESS)


def test_a_canary_checkin_while_the_clock_is_set_back_keeps_its_deadline() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, AddCanary("son", D, H, trigger=True), T0)
    state, _ = decide(state, CanaryCheckIn("son"), T0 + 10 * H)
    state, _ = decide(state, CanaryCheckIn("son"), T0 + 10 * H + 1800 - H)  # clock back 1h
    assert state.canaries[0].alarm_at == T0 + D + 11 * H
    assert decide(state, Tick(), T0 + D + 11 * H - 1)[0].phase is Phase.ARMED
    assert decide(state, Tick(), T0 + D + 11 * H)[0].cause is Cause.CANARY


owner_actions: st.SearchStrategy[OwnerAction] = st.one_of(
    st.builds(CheckIn, st.sampled_from(["signature", "password"]), st.just("cli"), st.booleans()),
    st.just(Status()),
    st.builds(Revoke, st.sampled_from(["a", "b"])),
    st.builds(AddCanary, st.sampled_from(["mother", "son"]), st.just(D), st.just(H), st.booleans()),
    st.builds(
        ChangePolicy,
        st.sampled_from([H, D, 3 * D, 40 * D]),  # 40 days: past max_pause, cooling off
        st.sampled_from([0, H]),
        st.sampled_from([0, H, D]),
        st.lists(st.sampled_from([H, 2 * H]), max_size=2).map(tuple),
    ),
    st.builds(Pause, st.integers(T0, T0 + 400 * D)),
    st.just(Resume()),
    st.just(Abort()),
    st.just(ReleaseNow(skip_waiting=True)),
    st.just(ReleaseNow()),
    st.just(Disarm()),
)
background = st.one_of(
    st.just(Tick()),
    owner_actions,
    st.builds(Vote, st.sampled_from(["a", "b", "c"])),
    st.builds(ShareAccepted, st.sampled_from(["a", "b", "c"])),
)


def walk(state: SwitchState, steps: list[tuple[int, Event]], now: int) -> tuple[SwitchState, int]:
    for dt, event in steps:
        now += dt
        with contextlib.suppress(Rejected):
            state, _ = decide(state, event, now)
    return state, now


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.lists(st.tuples(st.integers(0, 5 * D), background), max_size=12),
    action=owner_actions,
    then=st.lists(st.tuples(st.integers(0, 4 * D), st.just(Tick())), max_size=8),
    delay=st.sampled_from([0, 0, 2 * H]),
)
def test_duress_and_real_actions_look_the_same_to_the_owner(
    prefix: list[tuple[int, Event]],
    action: OwnerAction,
    then: list[tuple[int, Event]],
    delay: int,
) -> None:
    """In every reachable state, for every owner action: the same answer, the same view and
    the same owner mail, now and at every later tick, whether the credential was real or
    a duress one."""
    policy = Policy(interval=2 * D, grace=D, waiting=D, reminders=(H,), duress_delay=delay)
    start, now = walk(arm(policy, 2, T0)[0], prefix, T0)
    assert owner_outcome(start, action, now) == owner_outcome(start, Duress(action), now)
    try:
        real, _ = decide(start, action, now)
    except Rejected:
        real = start
    forced, _ = decide(start, Duress(action), now)
    for dt, event in then:
        now += dt
        assert owner_outcome(real, event, now) == owner_outcome(forced, event, now)
        real, _ = decide(real, event, now)
        forced, _ = decide(forced, event, now)


# --- votes, disarming, canaries ---------------------------------------------------------


def test_k_votes_trigger_and_votes_can_be_withdrawn() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Vote("a"), T0)
    assert decide(state, Vote("a"), T0) == (state, [])  # the same vote twice counts once
    state, effects = decide(state, WithdrawVote("a"), T0 + H)
    assert state.votes == frozenset() and kinds(effects) == ["vote-withdrawn"]
    with pytest.raises(Rejected, match="no vote of yours"):
        decide(state, WithdrawVote("b"), T0)
    state, _ = decide(state, Vote("a"), T0 + 2 * H)
    state, effects = decide(state, Vote("b"), T0 + 3 * H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)
    assert NotifyCustodians("triggered") in effects
    with pytest.raises(Rejected, match="only an abort"):
        decide(state, CheckIn("signature"), T0 + 4 * H)


def test_disarming_takes_its_cooling_off_and_a_vote_cancels_it_into_a_release() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, effects = decide(state, Disarm(), T0 + D)
    assert state.phase is Phase.DISARMING and NotifyCustodians("disarming") in effects
    # check-ins are still required while it cools off
    state, _ = decide(state, CheckIn("signature"), T0 + 5 * D)
    assert state.phase is Phase.DISARMING and state.deadline == T0 + 12 * D
    done, effects = decide(state, Tick(), T0 + 8 * D)
    assert done.phase is Phase.DISARMED and DeleteServerCopies() in effects
    assert done.next_event_at is None
    # a vote during cooling-off: the release goes ahead instead
    voted, _ = decide(state, Vote("a"), T0 + 6 * D)
    voted, _ = decide(voted, Vote("b"), T0 + 6 * D)
    assert (voted.phase, voted.cause) == (Phase.TRIGGERED, Cause.VOTES)
    # a missed check-in while disarming cancels it into the normal path
    lapsed, _ = arm(POLICY, 2, T0)
    lapsed, _ = decide(lapsed, Disarm(), T0 + 6 * D)
    lapsed, effects = decide(lapsed, Tick(), T0 + 7 * D)
    assert lapsed.phase is Phase.OVERDUE and NotifyCustodians("disarm-cancelled") in effects


def test_canary_alarms_trigger_or_alert_as_chosen() -> None:
    state, _ = arm(POLICY, 2, T0)
    alerted, effects = decide(state, CanaryAlarm("mother", "missed", trigger=False), T0)
    assert alerted.phase is Phase.ARMED and kinds(effects) == ["canary"]
    triggered, _ = decide(state, CanaryAlarm("mother", "duress", trigger=True), T0)
    assert (triggered.phase, triggered.cause) == (Phase.TRIGGERED, Cause.CANARY)


# --- every release path releases exactly once -------------------------------------------


class AllPaths(RuleBasedStateMachine):
    """Every cause, in any order: one publication at most, and only for a cause that holds."""

    def __init__(self) -> None:
        super().__init__()
        policy = Policy(interval=D, grace=H, waiting=H, reminders=(H,), duress_delay=0)
        self.state, _ = arm(policy, 2, T0)
        self.now = T0
        self.publishes: list[Cause] = []
        self.happened: set[Cause] = set()

    def apply(self, event: Event) -> None:
        try:
            self.state, effects = decide(self.state, event, self.now)
        except Rejected:
            return
        self.publishes += [e.cause for e in effects if isinstance(e, PublishRelease)]

    @rule(dt=st.integers(0, 3 * D))
    def wait_and_tick(self, dt: int) -> None:
        self.now += dt
        self.apply(Tick())

    def watch(self, action: OwnerAction) -> None:
        """A protected person set to trigger will, once silent: that cause may hold."""
        if isinstance(action, AddCanary) and action.trigger:
            self.happened.add(Cause.CANARY)

    @rule(action=owner_actions)
    def owner(self, action: OwnerAction) -> None:
        if isinstance(action, ReleaseNow):
            self.happened.add(Cause.DELIBERATE if action.skip_waiting else Cause.OWNER)
        self.watch(action)
        self.apply(action)

    @rule(action=owner_actions)
    def owner_under_duress(self, action: OwnerAction) -> None:
        self.happened.add(Cause.DURESS)
        self.watch(action)
        self.apply(Duress(action))

    @rule(name=st.sampled_from(["mother", "son"]), duress=st.booleans())
    def canary_checks_in(self, name: str, duress: bool) -> None:
        self.apply(CanaryCheckIn(name, duress))

    @rule(custodian=st.sampled_from(["a", "b", "c"]), withdraw=st.booleans())
    def custodian_votes(self, custodian: str, withdraw: bool) -> None:
        self.apply(WithdrawVote(custodian) if withdraw else Vote(custodian))
        if len(self.state.votes) >= 2:
            self.happened.add(Cause.VOTES)

    @rule(trigger=st.booleans())
    def canary(self, trigger: bool) -> None:
        if trigger:
            self.happened.add(Cause.CANARY)
        self.apply(CanaryAlarm("mother", "missed", trigger))

    @rule(custodian=st.sampled_from(["a", "b", "c"]))
    def share(self, custodian: str) -> None:
        self.apply(ShareAccepted(custodian))

    @invariant()
    def exactly_once_for_a_real_cause(self) -> None:
        assert len(self.publishes) <= 1
        assert (len(self.publishes) == 1) == (self.state.phase is Phase.RELEASED)
        for cause in self.publishes:
            assert cause is Cause.MISSED or cause in self.happened

    @invariant()
    def disarmed_never_releases(self) -> None:
        if self.state.phase is Phase.DISARMED:
            assert not self.publishes


TestAllPaths = AllPaths.TestCase
TestAllPaths.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)


# --- protected people on their own schedules ---------------------------------------------


def test_a_silent_canary_raises_one_alarm_per_miss_on_its_own_schedule() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, effects = decide(state, AddCanary("mother", 2 * D, 6 * H, trigger=False), T0)
    assert kinds(effects) == ["canary-added"]
    assert state.next_event_at == T0 + 2 * D + 6 * H  # before the owner's own deadline
    state, _ = decide(state, CanaryCheckIn("mother"), T0 + D)
    assert state.canaries[0].deadline == T0 + 3 * D
    state, effects = decide(state, Tick(), T0 + 3 * D + 6 * H)
    assert Alert("canary", "mother: missed") in effects and state.phase is Phase.ARMED
    assert state.canaries[0].missed
    _, effects = decide(state, Tick(), T0 + 3 * D + 7 * H)
    assert not [e for e in effects if isinstance(e, Alert)]  # one alarm per miss
    back, _ = decide(state, CanaryCheckIn("mother"), T0 + 4 * D)
    assert not back.canaries[0].missed and back.canaries[0].alarm_at == T0 + 6 * D + 6 * H
    with pytest.raises(Rejected, match="already"):
        decide(state, AddCanary("mother", D, 0, trigger=True), T0)
    with pytest.raises(Rejected, match="no protected person"):
        decide(state, CanaryCheckIn("father"), T0)


def test_a_canary_set_to_trigger_triggers_when_silent_or_under_duress() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, AddCanary("son", D, H, trigger=True), T0)
    silent, effects = decide(state, Tick(), T0 + D + H)
    assert (silent.phase, silent.cause) == (Phase.TRIGGERED, Cause.CANARY)
    assert NotifyCustodians("triggered") in effects
    forced, effects = decide(state, CanaryCheckIn("son", duress=True), T0 + H)
    assert (forced.phase, forced.cause) == (Phase.TRIGGERED, Cause.CANARY)
    assert forced.canaries[0].last_checkin == T0 + H  # the canary saw a normal check-in
    assert Alert("canary", "son: duress") in effects


def test_a_silence_that_ran_out_counts_before_an_event_the_worker_did_not_tick_before() -> None:
    """Found by the soak (seeds 2315, 3694): with the worker down, the silence of a
    protected person ran out and no tick saw it; a late check-in of theirs then erased it,
    and an owner's abort did not spend it (it triggered after the abort). Every event now
    meets the switch as the missed tick would have left it."""
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, AddCanary("son", D, H, trigger=True), T0)
    # the son checks in a day late; no tick since his silence ran out at T0 + D + H
    late, effects = decide(state, CanaryCheckIn("son"), T0 + 2 * D)
    assert (late.phase, late.cause) == (Phase.TRIGGERED, Cause.CANARY)
    assert kinds(effects) == ["triggered", "canary-checkin"]
    assert late.canaries[0].last_checkin == T0 + 2 * D  # and his check-in counts
    # the same while disarming: the silence cancels the disarm into a release
    disarming, _ = decide(state, Disarm(), T0 + 2 * H)
    late, _ = decide(disarming, CanaryCheckIn("son"), T0 + 2 * D)
    assert (late.phase, late.cause) == (Phase.TRIGGERED, Cause.CANARY)
    assert decide(late, Tick(), T0 + 9 * D)[0].phase is not Phase.DISARMED
    # an abort spends the causes before it, the unticked silence too
    watched, _ = arm(POLICY, 2, T0)
    watched, _ = decide(watched, AddCanary("son", D, H, trigger=True), T0 + 8 * D)
    missed, _ = decide(watched, Tick(), T0 + 7 * D)  # the owner's deadline: overdue
    missed, _ = decide(missed, Tick(), T0 + 9 * D)  # and grace
    assert (missed.phase, missed.cause) == (Phase.TRIGGERED, Cause.MISSED)
    # the son's silence runs out at T0 + 9 D + H, unticked; the owner aborts after it
    aborted, effects = decide(missed, Abort(), T0 + 9 * D + 2 * H)
    assert aborted.phase is Phase.ARMED and aborted.canaries[0].missed
    assert Alert("canary", "son: missed") in effects
    assert decide(aborted, Tick(), T0 + 9 * D + 3 * H)[0].phase is Phase.ARMED
    # looking changes nothing: the tick raises the alarm
    assert decide(state, Status(), T0 + 2 * D)[0] == state


def test_a_duress_trigger_still_to_come_holds_a_disarm() -> None:
    """Found by the soak (seeds 2867, 3584): a duress check-in during the cooling-off,
    with a duress delay longer than what was left of it; the disarm completed first and
    deleted the dossier, and the duress release was lost. The truth now waits for the
    trigger; the owner, shown the decoy, sees the disarm complete on time."""
    policy = Policy(interval=7 * D, grace=D, waiting=D, cooling_off=H, duress_delay=2 * D)
    state, _ = arm(policy, 1, T0)
    state, _ = decide(state, Disarm(), T0)
    state, _ = decide(state, Duress(CheckIn("password")), T0 + H - 60)
    assert state.duress_at == T0 + 2 * D + H - 60
    assert state.next_event_at == T0 + H  # the decoy's cooling-off ends
    held, effects = decide(state, Tick(), T0 + H)
    assert held.phase is Phase.DISARMING and DeleteServerCopies() not in effects
    assert owner_view(held).phase is Phase.DISARMED
    assert held.next_event_at == held.duress_at  # the truth's cooling-off's end is not one
    fired, _ = decide(held, Tick(), held.duress_at)
    assert (fired.phase, fired.cause) == (Phase.TRIGGERED, Cause.DURESS)
    assert owner_view(fired).phase is Phase.DISARMED
    # a duress signal given before the disarm holds it the same way
    early, _ = arm(policy, 1, T0)
    early, _ = decide(early, Duress(CheckIn("password")), T0)
    early, _ = decide(early, Disarm(), T0 + H)  # real credentials: the decoy ends
    early, _ = decide(early, Tick(), T0 + 3 * H)
    assert early.phase is Phase.DISARMING
    assert decide(early, Tick(), T0 + 2 * D)[0].cause is Cause.DURESS
    # without one, the cooling-off ends in the disarm as before
    plain, _ = arm(policy, 1, T0)
    plain, _ = decide(plain, Disarm(), T0)
    assert decide(plain, Tick(), T0 + H)[0].phase is Phase.DISARMED


def test_a_revoked_custodian_can_no_longer_vote() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Vote("a"), T0)
    state, effects = decide(state, Revoke("a"), T0 + H)
    assert state.votes == frozenset() and NotifyCustodians("revoked") in effects
    with pytest.raises(Rejected, match="revoked"):
        decide(state, Vote("a"), T0 + 2 * H)


def test_a_new_client_is_announced_by_real_and_duress_check_ins_alike() -> None:
    state, _ = arm(POLICY, 2, T0)
    _, real = decide(state, CheckIn("password", "10.0.0.0/24 curl", new_client=True), T0)
    _, forced = decide(state, Duress(CheckIn("password", "10.0.0.0/24 curl", True)), T0)
    assert new_client_alerts(real) == new_client_alerts(forced) != []


def test_a_new_decoy_does_not_inherit_a_pending_duress_trigger() -> None:
    """Issue 15, item 4: duress (delayed), real, duress. The second decoy starts from the
    truth, which still carries the first duress trigger; the owner must never see it."""
    policy = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(D,), duress_delay=H)
    state, _ = arm(policy, 1, T0)
    state, _ = decide(state, Duress(CheckIn("password")), T0 + 10)
    state, _ = decide(state, CheckIn("password"), T0 + 20)
    state, _ = decide(state, Duress(CheckIn("password")), T0 + 30)
    assert state.duress_at == T0 + 10 + H  # the truth keeps its silent trigger
    state, effects = decide(state, Tick(), T0 + 10 + H)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.DURESS)
    shown = owner_view(state)
    assert (shown.phase, shown.cause, shown.duress_at) == (Phase.ARMED, None, 0)
    assert [e for e in effects if isinstance(e, OwnerLog)] == []
