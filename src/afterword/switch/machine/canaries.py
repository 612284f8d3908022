"""The machine's rules on protected persons (canaries): adding one, their check-ins (a
duress one raises the alarm), their silence running out, and that silence counting
before any later event even when no tick saw it.

Separate because a protected person has a schedule of their own beside the switch's, and
their alarm reaches the switch only through the trigger.
"""

from __future__ import annotations

from afterword.switch.effects import Alert, Audit, Effect
from afterword.switch.events import AddCanary, CanaryAlarm, CanaryCheckIn, Event, Status, Tick
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _trigger
from afterword.switch.state import LIVE, WATCHED, Canary, Cause, SwitchState, replace


def _overdue_alarms(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """A protected person's silence that has run out by ``now`` counts before ``event``.

    The worker may not have ticked since it ran out (it was down, or busy elsewhere). A
    check-in, an abort or a disarm that arrives first must meet the switch as that tick
    would have left it: a late check-in of the protected person must not erase the silence
    (it triggers, as it would have), and an owner's abort spends it (as it would have).
    Looking (``Status``) changes nothing; the next tick raises the alarm."""
    if isinstance(event, Tick | Status):
        return state, []
    return _tick_canaries(state, now)


def _canary(state: SwitchState, event: CanaryAlarm, now: int) -> tuple[SwitchState, list[Effect]]:
    detail = f"{event.name}: {event.reason}"
    if event.trigger and state.phase in LIVE:
        new, effects = _trigger(state, Cause.CANARY, now, f"protected person {detail}")
        return new, [Alert("canary", detail), *effects]
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
    effects: list[Effect] = [Audit("canary-checkin", f"{event.name}; next due {checked.deadline}")]
    if event.duress and state.phase in WATCHED:
        state, more = _canary(state, CanaryAlarm(event.name, "duress", canary.trigger), now)
        effects += more
    return state, effects


def _tick_canaries(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    """Raise the alarm once for each protected person whose check-in and grace ran out."""
    effects: list[Effect] = []
    if state.phase not in WATCHED:
        return state, effects
    for canary in state.canaries:
        if canary.missed or now < canary.alarm_at:
            continue
        missed = replace(canary, missed=True)
        state = replace(
            state, canaries=tuple(missed if c.name == canary.name else c for c in state.canaries)
        )
        state, more = _canary(state, CanaryAlarm(canary.name, "missed", canary.trigger), now)
        effects += more
    return state, effects
