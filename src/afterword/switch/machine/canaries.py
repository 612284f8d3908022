"""The machine's rules on protected persons (canaries): adding one, their check-ins (a
duress one raises the alarm), their silence running out, and that silence counting
before any later event even when no tick saw it.

Separate because a protected person has a schedule of their own beside the switch's, and
their alarm reaches the switch only through the trigger.
"""

from __future__ import annotations

from afterword.switch.effects import Alert, Audit, Effect, NotifyCustodians
from afterword.switch.events import AddCanary, CanaryAlarm, CanaryCheckIn, Event, Status, Tick
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _pending_duress, _trigger
from afterword.switch.state import LIVE, WATCHED, Canary, Cause, Phase, SwitchState, replace


def _overdue_alarms(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """A protected person's silence that has run out by ``now`` counts before ``event``.

    The worker may not have ticked since it ran out (it was down, or busy elsewhere). A
    check-in, an abort or a disarm that arrives first must meet the switch as that tick
    would have left it: a late check-in of the protected person must not erase the silence
    (it triggers, as it would have), and an owner's abort spends it (as it would have).
    Looking (``Status``) changes nothing; the next tick raises the alarm.

    A check-in another server of the switch took in time and relayed here (``in_time``)
    is no miss of that person, however late it arrives: their alarm is not raised for it
    (the others' are)."""
    if isinstance(event, Tick | Status):
        return state, []
    spared = event.name if isinstance(event, CanaryCheckIn) and event.in_time else None
    return _tick_canaries(state, now, spared)


def canary_in_time(state: SwitchState, name: str, now: int) -> bool:
    """Whether a check-in of ``name`` at ``now`` comes before their alarm: they are not
    marked missed, and their grace has not run out (what a relay of it says to the
    switch's other servers). False for a name not on the switch."""
    found = [c for c in state.canaries if c.name == name]
    return bool(found) and not found[0].missed and now < found[0].alarm_at


def _canary(state: SwitchState, event: CanaryAlarm, now: int) -> tuple[SwitchState, list[Effect]]:
    detail = f"{event.name}: {event.reason}"
    if event.trigger and state.phase in LIVE:
        new, effects = _trigger(state, Cause.CANARY, now, f"protected person {detail}")
        missed_by = event.name if event.reason == "missed" else ""
        return replace(new, missed_by=missed_by), [Alert("canary", detail), *effects]
    return state, [Audit("canary", detail), Alert("canary", detail)]


def _add_canary(state: SwitchState, event: AddCanary, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase not in WATCHED:
        raise Rejected(f"the switch is {state.phase}; it protects no one any more")
    if any(c.name == event.name for c in state.canaries):
        raise Rejected(f"a protected person named {event.name!r} is already on this switch")
    if event.interval <= 0 or event.grace < 0:
        raise Rejected("a protected person needs a positive interval and a grace of 0 or more")
    canary = Canary(
        event.name, event.interval, event.grace, event.trigger, deadline=now + event.interval
    )
    on_miss = "trigger the release" if event.trigger else "alert"
    detail = f"{event.name}: every {event.interval}s, grace {event.grace}s, on a miss: {on_miss}"
    return replace(state, canaries=(*state.canaries, canary)), [Audit("canary-added", detail)]


def _canary_checkin(
    state: SwitchState, event: CanaryCheckIn, now: int
) -> tuple[SwitchState, list[Effect]]:
    found = [c for c in state.canaries if c.name == event.name]
    if not found:
        raise Rejected(f"no protected person named {event.name!r} on this switch")
    canary = found[0]
    start = max(now, canary.deadline - canary.interval)  # a clock set back: see the module
    checked = replace(canary, deadline=start + canary.interval, last_checkin=now, missed=False)
    state = replace(state, canaries=tuple(checked if c is canary else c for c in state.canaries))
    relayed = ", relayed in time" if event.in_time else ""
    effects: list[Effect] = [
        Audit("canary-checkin", f"{event.name}{relayed}; next due {checked.deadline}")
    ]
    if event.in_time and _stoppable_alarm(state, event.name):
        state, more = _stop_alarm(state, event.name, now)
        effects += more
    if event.duress and state.phase in WATCHED:
        state, more = _canary(state, CanaryAlarm(event.name, "duress", canary.trigger), now)
        effects += more
    return state, effects


def _stoppable_alarm(state: SwitchState, name: str) -> bool:
    """A switch with several servers that triggered here because ``name`` missed a
    check-in, and is still short of K shares, while another server took that check-in in
    time (its relay came late: a link cut, a clock run ahead). Its peers, who heard the
    person, refuse it their shares; the relayed check-in stops it here, as a late owner's
    check-in stops a release this server began alone (``owner._stoppable_release``).
    Not if another protected person set to trigger is missed too: that silence stands."""
    return (
        state.peer_wait > 0
        and state.phase in (Phase.TRIGGERED, Phase.RELEASING)
        and state.cause is Cause.CANARY
        and state.missed_by == name
        and len(state.shares) < state.threshold
        and not any(c.missed and c.trigger for c in state.canaries if c.name != name)
    )


def _stop_alarm(state: SwitchState, name: str, now: int) -> tuple[SwitchState, list[Effect]]:
    """Back to armed, with the owner's check-in period as it stood: the person's
    check-in says nothing of the owner, and a hostile server that knows their link could
    otherwise stop every trigger for them and restart the owner's count each time, so the
    owner's own silence never released (tests/attack/test_canary_stop_resets_owner_silence).
    If the owner's deadline passed meanwhile (their check-ins were refused here while the
    switch was triggered), the next tick asks the peers and counts it as any missed
    check-in, which the owner's next signed check-in stops. A pause the trigger
    interrupted that has not ended goes on (the peers are paused)."""
    paused = state.paused_until > now
    new = replace(  # the owner's deadline and counted_from as they were, not from now
        state,
        phase=Phase.PAUSED if paused else Phase.ARMED,
        paused_until=state.paused_until if paused else 0,
        duress_at=_pending_duress(state, now),
        since=now,
        reminded=frozenset(),
        cause=None,
        triggered_at=0,
        shares=frozenset(),
        missed_by="",
    )
    detail = f"{name} checked in in time elsewhere; next check-in due at {state.deadline}"
    return new, [Audit("canary-stopped", detail), NotifyCustodians("canary-stopped")]


def _tick_canaries(
    state: SwitchState, now: int, spared: str | None = None
) -> tuple[SwitchState, list[Effect]]:
    """Raise the alarm once for each protected person whose check-in and grace ran out
    (but ``spared``: see :func:`_overdue_alarms`)."""
    effects: list[Effect] = []
    if state.phase not in WATCHED:
        return state, effects
    for canary in state.canaries:
        if canary.missed or now < canary.alarm_at or canary.name == spared:
            continue
        missed = replace(canary, missed=True)
        state = replace(
            state, canaries=tuple(missed if c.name == canary.name else c for c in state.canaries)
        )
        state, more = _canary(state, CanaryAlarm(canary.name, "missed", canary.trigger), now)
        effects += more
    return state, effects
