"""The owner's own release (issue 19, point 1): by default it goes through the waiting
period as any trigger does (cause ``owner``: custodians told, an abort stops it, a
check-in does not); with ``skip_waiting`` it begins at once (cause ``deliberate``). Both
under duress are answered from the decoy as the real ones, while the truth triggers."""

from __future__ import annotations

import pytest

from afterword.switch.codec import state_from_json, state_to_json
from afterword.switch.machine import (
    Abort,
    Audit,
    Cause,
    CheckIn,
    Duress,
    NotifyCustodians,
    OwnerLog,
    Pause,
    Phase,
    Rejected,
    ReleaseNow,
    SubmitServerShares,
    Tick,
    arm,
    decide,
    owner_view,
)
from afterword.switch.policy import Policy

H, D = 3600, 86400
T0 = 1_700_000_000
POLICY = Policy(interval=7 * D, grace=2 * D, waiting=3 * D, reminders=(D,))


def test_a_release_asked_for_waits_as_a_trigger_does() -> None:
    state, _ = arm(POLICY, 1, T0)
    asked, effects = decide(state, ReleaseNow(), T0 + H)
    assert (asked.phase, asked.cause) == (Phase.TRIGGERED, Cause.OWNER)
    assert asked.release_at == T0 + H + POLICY.waiting
    assert NotifyCustodians("triggered") in effects and SubmitServerShares() not in effects
    assert asked.next_event_at == asked.release_at
    early, _ = decide(asked, Tick(), asked.release_at - 1)
    assert early.phase is Phase.TRIGGERED
    due, effects = decide(asked, Tick(), asked.release_at)
    assert (due.phase, due.cause) == (Phase.RELEASING, Cause.OWNER)
    assert SubmitServerShares() in effects
    assert state_from_json(state_to_json(asked)) == asked


def test_a_release_asked_for_is_stopped_by_an_abort_not_by_a_checkin() -> None:
    asked, _ = decide(arm(POLICY, 1, T0)[0], ReleaseNow(), T0 + H)
    with pytest.raises(Rejected, match="only an abort stops it"):
        decide(asked, CheckIn("signature"), T0 + 2 * H)
    aborted, effects = decide(asked, Abort(), T0 + 2 * H)
    assert aborted.phase is Phase.ARMED and aborted.cause is None
    assert NotifyCustodians("aborted") in effects
    assert aborted.deadline == T0 + 2 * H + POLICY.interval


def test_from_a_pause_or_overdue_it_waits_too() -> None:
    state, _ = arm(POLICY, 1, T0)
    paused, _ = decide(state, Pause(T0 + 5 * D), T0 + H)
    asked, _ = decide(paused, ReleaseNow(), T0 + 2 * H)
    assert (asked.phase, asked.cause) == (Phase.TRIGGERED, Cause.OWNER)
    overdue, _ = decide(state, Tick(), T0 + POLICY.interval)
    assert overdue.phase is Phase.OVERDUE
    asked, _ = decide(overdue, ReleaseNow(), T0 + POLICY.interval + H)
    assert (asked.phase, asked.cause) == (Phase.TRIGGERED, Cause.OWNER)


def test_skipping_the_wait_releases_at_once_even_when_triggered() -> None:
    state, _ = arm(POLICY, 1, T0)
    now, effects = decide(state, ReleaseNow(skip_waiting=True), T0 + H)
    assert (now.phase, now.cause) == (Phase.RELEASING, Cause.DELIBERATE)
    assert SubmitServerShares() in effects and NotifyCustodians("submit") in effects
    asked, _ = decide(state, ReleaseNow(), T0 + H)
    with pytest.raises(Rejected, match=r"triggered already .*skip the waiting period"):
        decide(asked, ReleaseNow(), T0 + 2 * H)
    hurried, _ = decide(asked, ReleaseNow(skip_waiting=True), T0 + 2 * H)
    assert (hurried.phase, hurried.cause) == (Phase.RELEASING, Cause.DELIBERATE)
    for skip in (False, True):
        with pytest.raises(Rejected, match="cannot be released again"):
            decide(hurried, ReleaseNow(skip_waiting=skip), T0 + 3 * H)


@pytest.mark.parametrize("skip", [False, True])
def test_under_duress_the_owner_sees_the_real_answer(skip: bool) -> None:
    state, _ = arm(POLICY, 1, T0)
    real, real_effects = decide(state, ReleaseNow(skip_waiting=skip), T0 + H)
    forced, effects = decide(state, Duress(ReleaseNow(skip_waiting=skip)), T0 + H)
    shown = owner_view(forced)
    assert (shown.phase, shown.cause) == (real.phase, real.cause)
    assert shown.release_at == real.release_at
    assert (forced.phase, forced.cause) == (Phase.TRIGGERED, Cause.DURESS)
    logged = [(e.kind, e.detail) for e in effects if isinstance(e, OwnerLog)]
    assert logged == [(e.kind, e.detail) for e in real_effects if isinstance(e, Audit)]
