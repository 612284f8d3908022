"""Settings that lengthen the wait for a release take the disarm's cooling-off.

Stretching interval, grace and waiting to ten years at once would be a quiet stop, which
the design forbids. The rule (see ``machine.settings._change_policy``): against the settings the
custodians were last told of, a change whose interval + grace + waiting, or whose waiting
alone, grows by more than ``max_pause`` is pending for the cooling-off, the custodians
are told, and it takes effect only then; anything else is in force at once."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.switch.machine import (
    Audit,
    Cause,
    ChangePolicy,
    CheckIn,
    Disarm,
    Duress,
    Effect,
    Event,
    NotifyCustodians,
    OwnerLog,
    Phase,
    RefuseOwner,
    Rejected,
    SwitchState,
    Tick,
    Vote,
    arm,
    decide,
    owner_view,
)
from afterword.switch.policy import Policy
from tests.switch.test_machine import kinds, run_ticks

H, D, YEAR = 3600, 86400, 365 * 86400
T0 = 1_700_000_000
# 7 + 2 + 3 days to a release; a pause of 30 days at most; 7 days to cool off
POLICY = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(D,), cooling_off=7 * D)
TEN_YEARS = ChangePolicy(10 * YEAR, 10 * YEAR, 10 * YEAR, ())


def told(effects: list[Effect]) -> list[str]:
    return [e.what for e in effects if isinstance(e, NotifyCustodians)]


def in_force(state: SwitchState) -> tuple[int, int, int]:
    return state.policy.interval, state.policy.grace, state.policy.waiting


def test_ten_years_at_once_waits_out_the_cooling_off_and_the_custodians_are_told() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, effects = decide(state, TEN_YEARS, T0 + H)
    assert told(effects) == ["settings-pending"] and kinds(effects) == ["settings-pending"]
    assert in_force(state) == (7 * D, 2 * D, 3 * D)  # nothing changed yet
    assert state.settings_at == T0 + H + 7 * D and state.settings_pending is not None
    assert state.next_event_at == T0 + 6 * D  # the reminder still comes first
    state, _ = decide(state, CheckIn("signature"), T0 + 5 * D)  # the old interval counts
    assert state.deadline == T0 + 12 * D
    state, effects = run_ticks(state, T0 + H + 7 * D - 1)
    assert in_force(state) == (7 * D, 2 * D, 3 * D) and "settings" not in kinds(effects)
    state, effects = run_ticks(state, T0 + H + 7 * D)
    assert in_force(state) == (10 * YEAR, 10 * YEAR, 10 * YEAR)
    assert told(effects) == ["settings-changed"] and state.settings_pending is None
    assert state.deadline == T0 + 12 * D  # the deadline stands; the next check-in counts
    state, _ = decide(state, CheckIn("signature"), T0 + 8 * D)
    assert state.deadline == T0 + 8 * D + 10 * YEAR


def test_shorter_settings_and_small_lengthenings_are_in_force_at_once() -> None:
    state, _ = arm(POLICY, 2, T0)
    shorter, effects = decide(state, ChangePolicy(D, H, H, ()), T0)
    assert in_force(shorter) == (D, H, H) and kinds(effects) == ["settings"]
    assert told(effects) == []
    # 29 days longer in all, and the waiting 29 days longer: within a pause's reach
    longer, effects = decide(state, ChangePolicy(7 * D, 2 * D, 32 * D, ()), T0)
    assert in_force(longer) == (7 * D, 2 * D, 32 * D) and told(effects) == []
    # back up to the armed settings from shorter ones: what the custodians were told of
    back, effects = decide(shorter, ChangePolicy(7 * D, 2 * D, 3 * D, ()), T0)
    assert in_force(back) == (7 * D, 2 * D, 3 * D) and told(effects) == []


def test_small_lengthenings_do_not_add_up_unseen() -> None:
    """Each step is within max_pause of the one before; the second is beyond it of what
    the custodians were told of, so it waits."""
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, ChangePolicy(27 * D, 2 * D, 3 * D, ()), T0)  # +20 days
    assert state.policy.interval == 27 * D
    state, effects = decide(state, ChangePolicy(47 * D, 2 * D, 3 * D, ()), T0 + H)  # +40 days
    assert state.policy.interval == 27 * D and told(effects) == ["settings-pending"]


def test_a_longer_waiting_alone_is_a_lengthening() -> None:
    """Interval 6 days shorter and waiting 31 days longer: in all within max_pause, but
    a release after any trigger (votes, duress, a protected person) would wait 31 days
    longer than the custodians were told."""
    state, _ = arm(POLICY, 2, T0)
    state, effects = decide(state, ChangePolicy(D, 2 * D, 34 * D, ()), T0)
    assert in_force(state) == (7 * D, 2 * D, 3 * D) and told(effects) == ["settings-pending"]


def test_a_missed_check_in_drops_pending_settings_and_the_custodians_are_told() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, TEN_YEARS, T0 + 2 * D)
    state, effects = run_ticks(state, T0 + 7 * D)  # the deadline passes unmet
    assert state.phase is Phase.OVERDUE and state.settings_pending is None
    assert "settings-cancelled" in kinds(effects) and "settings-cancelled" in told(effects)
    state, effects = run_ticks(state, T0 + 11 * D)
    assert state.phase is Phase.TRIGGERED and in_force(state) == (7 * D, 2 * D, 3 * D)
    assert state.release_at == T0 + 9 * D + 3 * D  # the old waiting period


def test_overdue_a_lengthening_is_refused_and_says_to_check_in_first() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = run_ticks(state, T0 + 7 * D)
    assert state.phase is Phase.OVERDUE
    try:
        decide(state, TEN_YEARS, T0 + 7 * D + H)
    except Rejected as refused:
        assert "check in first" in str(refused)
    else:
        raise AssertionError("a lengthening while overdue was taken")


def test_votes_during_the_cooling_off_trigger_and_drop_the_pending_settings() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, TEN_YEARS, T0)
    state, _ = decide(state, Vote("a"), T0 + D)
    state, effects = decide(state, Vote("b"), T0 + D)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.VOTES)
    assert state.settings_pending is None and "settings-cancelled" in kinds(effects)
    assert state.release_at == T0 + D + 3 * D


def test_a_newer_change_replaces_or_withdraws_the_pending_one() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, TEN_YEARS, T0)
    again, effects = decide(state, ChangePolicy(YEAR, D, D, ()), T0 + D)
    assert again.settings_at == T0 + 8 * D and told(effects) == ["settings-pending"]
    assert again.settings_pending is not None and again.settings_pending.interval == YEAR
    withdrawn, effects = decide(state, ChangePolicy(D, D, D, ()), T0 + D)
    assert in_force(withdrawn) == (D, D, D) and withdrawn.settings_pending is None
    assert told(effects) == ["settings-withdrawn"]
    assert withdrawn.settings_at == 0 and withdrawn.next_event_at == T0 + 7 * D  # deadline


def test_a_duress_trigger_still_to_come_holds_pending_settings() -> None:
    """Real longer settings, then a duress check-in with a delay longer than the
    cooling-off: the settings must not take effect before the duress trigger fires (its
    release would wait ten years). The owner, shown the decoy, sees them in force on
    time, as a real check-in would have left them."""
    policy = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, cooling_off=D, duress_delay=2 * D)
    state, _ = arm(policy, 2, T0)
    state, _ = decide(state, TEN_YEARS, T0)
    state, _ = decide(state, Duress(CheckIn("signature")), T0 + H)
    state, _ = run_ticks(state, T0 + 2 * D + H - 1)
    assert state.settings_pending is not None and state.phase is Phase.ARMED  # held
    assert in_force(owner_view(state)) == (10 * YEAR, 10 * YEAR, 10 * YEAR)  # on time
    state, _ = run_ticks(state, T0 + 2 * D + H)
    assert in_force(owner_view(state)) == (10 * YEAR, 10 * YEAR, 10 * YEAR)
    assert (state.phase, state.cause) == (Phase.TRIGGERED, Cause.DURESS)
    assert in_force(state) == (7 * D, 2 * D, 3 * D) and state.settings_pending is None
    assert state.release_at == T0 + 2 * D + H + 3 * D


def test_under_duress_the_owner_sees_the_same_pending_settings_as_a_real_change() -> None:
    state, _ = arm(POLICY, 2, T0)
    real, real_effects = decide(state, TEN_YEARS, T0 + H)
    forced, forced_effects = decide(state, Duress(TEN_YEARS), T0 + H)
    assert owner_view(forced) == real
    shown = [OwnerLog(e.kind, e.detail) for e in real_effects if isinstance(e, Audit)]
    assert [e for e in forced_effects if isinstance(e, OwnerLog)] == shown
    assert forced.settings_pending is None and in_force(forced) == in_force(state)
    real, _ = decide(real, CheckIn("signature"), T0 + 5 * D)
    forced, _ = decide(forced, Duress(CheckIn("signature")), T0 + 5 * D)
    for at in (T0 + 6 * D, T0 + 7 * D + H, T0 + 8 * D):
        real, _ = decide(real, Tick(), at)
        forced, _ = decide(forced, Tick(), at)
        assert owner_view(forced) == real
    assert in_force(owner_view(forced)) == (10 * YEAR, 10 * YEAR, 10 * YEAR)
    assert in_force(forced) == (7 * D, 2 * D, 3 * D)  # the truth never stretched
    # a refused lengthening (overdue) is refused alike under duress
    overdue, _ = run_ticks(arm(POLICY, 2, T0)[0], T0 + 7 * D)
    _, effects = decide(overdue, Duress(TEN_YEARS), T0 + 7 * D + H)
    refusal = [e for e in effects if isinstance(e, RefuseOwner)]
    assert refusal and "check in first" in refusal[0].message


def test_a_disarm_completing_drops_pending_settings() -> None:
    state, _ = arm(POLICY, 2, T0)
    state, _ = decide(state, Disarm(), T0)
    state, _ = decide(state, TEN_YEARS, T0 + H)  # pending until T0 + 7d + 1h
    state, _ = decide(state, CheckIn("signature"), T0 + 5 * D)
    state, effects = run_ticks(state, T0 + 7 * D)
    assert state.phase is Phase.DISARMED and state.settings_pending is None
    assert kinds(effects)[-1] == "settings-cancelled" and "settings-cancelled" not in told(effects)


durations = st.sampled_from([H, D, 7 * D, 20 * D, 40 * D, YEAR, 10 * YEAR])
steps = st.lists(
    st.tuples(
        st.integers(0, 3 * D),
        st.one_of(
            st.builds(ChangePolicy, durations, durations, durations, st.just(())),
            st.just(CheckIn("signature")),
            st.just(Tick()),
            st.builds(Vote, st.sampled_from(["a", "b"])),
        ),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, duress=st.booleans())
def test_the_wait_for_a_release_never_grows_past_a_pause_unless_custodians_were_told(
    steps: list[tuple[int, Event]], duress: bool
) -> None:
    """At every step: interval + grace + waiting in force, and the waiting alone, are at
    most max_pause beyond settings the custodians were told of at least a cooling-off
    ago (the armed ones, or ones announced by ``settings-pending``). Owner actions may be
    made under duress: the truth obeys the same bound."""
    state, _ = arm(POLICY, 2, T0)
    now = T0
    announced: list[tuple[int, Policy]] = [(T0 - POLICY.cooling_off, POLICY)]
    for dt, event in steps:
        now += dt
        if duress and isinstance(event, ChangePolicy | CheckIn):
            event = Duress(event)
        with contextlib.suppress(Rejected):
            state, effects = decide(state, event, now)
            if "settings-pending" in told(effects):
                assert state.settings_pending is not None
                announced.append((now, state.settings_pending))
        known = [p for at, p in announced if at + POLICY.cooling_off <= now]
        p, m = state.policy, POLICY.max_pause
        assert (
            p.interval + p.grace + p.waiting
            <= max(k.interval + k.grace + k.waiting for k in known) + m
        )
        assert p.waiting <= max(k.waiting for k in known) + m
