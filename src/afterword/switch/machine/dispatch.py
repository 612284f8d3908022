"""The machine's dispatcher: which rule takes which event, and in what order the rules run
around it (a protected person's silence run out first, then the event, then pending
settings settling).

Separate so that the subject modules below it need not know one another's events, and so
that ``duress.py``, which runs an action on the decoy through ``_decide``, imports it
downward.
"""

from __future__ import annotations

from afterword.switch.effects import Effect
from afterword.switch.events import (
    Abort,
    AddCanary,
    CanaryAlarm,
    CanaryCheckIn,
    ChangePolicy,
    CheckIn,
    Disarm,
    Event,
    Pause,
    ReleaseNow,
    Resume,
    Revoke,
    ShareAccepted,
    Status,
    Tick,
    Vote,
    WithdrawVote,
)
from afterword.switch.machine.canaries import (
    _add_canary,
    _canary,
    _canary_checkin,
    _overdue_alarms,
    _tick_canaries,
)
from afterword.switch.machine.custodians import _revoke, _share, _vote
from afterword.switch.machine.owner import _abort, _checkin, _disarm, _pause, _release_now
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _rearm, _tick_switch
from afterword.switch.machine.settings import _change_policy, _settle_settings
from afterword.switch.state import Phase, SwitchState


def _decide(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """``event`` on ``state``, after the silences of protected persons that ran out by
    ``now`` (see :func:`_overdue_alarms`)."""
    if isinstance(event, Tick):
        new, effects = _tick(state, now)
    else:
        state, alarms = _overdue_alarms(state, event, now)
        new, effects = _act(state, event, now)
        effects = [*alarms, *effects]
    new, settled = _settle_settings(new, now)
    return new, [*effects, *settled]


def _act(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    match event:
        case CheckIn():
            return _checkin(state, event, now)
        case Pause():
            return _pause(state, event, now)
        case Resume():
            if state.phase is not Phase.PAUSED:
                raise Rejected(f"the switch is {state.phase}, not paused")
            return _rearm(state, now, "resumed", "the owner ended the pause")
        case Abort():
            return _abort(state, now)
        case ReleaseNow():
            return _release_now(state, event, now)
        case ShareAccepted():
            return _share(state, event, now)
        case Disarm():
            return _disarm(state, now)
        case Vote() | WithdrawVote():
            return _vote(state, event, now)
        case CanaryAlarm():
            return _canary(state, event, now)
        case CanaryCheckIn():
            return _canary_checkin(state, event, now)
        case AddCanary():
            return _add_canary(state, event, now)
        case Revoke():
            return _revoke(state, event)
        case Status():
            return state, []
        case ChangePolicy():
            return _change_policy(state, event, now)
    raise TypeError(f"not a switch event: {event!r}")  # pragma: no cover


def _tick(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    phase = state.phase
    state, alarms = _tick_canaries(state, now)
    if state.phase is not phase:  # a protected person's silence triggered: one step a tick
        return state, alarms
    state, effects = _tick_switch(state, now)
    return state, [*alarms, *effects]
