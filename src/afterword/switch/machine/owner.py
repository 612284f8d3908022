"""The machine's rules on the owner's own actions: a check-in (and the alert on a new
client), a pause, an abort, a release now and a disarm.

Separate because these are what the owner's credentials do; the same actions under duress
are answered from the decoy (``duress.py``), which runs them through here too.
"""

from __future__ import annotations

from afterword.switch.effects import Alert, Audit, Effect, NotifyCustodians, SubmitServerShares
from afterword.switch.events import CheckIn, Pause, ReleaseNow
from afterword.switch.machine.custodians import _clear_votes
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _pending_duress, _period_from, _rearm, _trigger
from afterword.switch.state import Cause, Phase, SwitchState, replace


def _disarm(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase not in (Phase.ARMED, Phase.OVERDUE):
        raise Rejected(f"the switch is {state.phase}; only an armed switch can be disarmed")
    ends = now + state.policy.cooling_off
    new = replace(state, phase=Phase.DISARMING, since=now, disarm_ends=ends)
    if state.phase is Phase.OVERDUE:  # disarming is not a check-in: the deadline stands
        new = replace(new, deadline=max(state.deadline, now), reminded=frozenset())
    return new, [
        Audit("disarming", f"cooling-off until {ends}; check-ins are still required"),
        NotifyCustodians("disarming"),
    ]


def _stoppable_release(state: SwitchState) -> bool:
    """A switch with several servers that began releasing here for a missed check-in and
    is still short of K shares: this server did not hear the owner in time (a clock run
    ahead, relays lost), and its peers, who did, refuse it their shares. A newer check-in
    stops it here, as a late check-in stops a trigger: the owner is well."""
    return (
        state.peer_wait > 0
        and state.phase is Phase.RELEASING
        and state.cause is Cause.MISSED
        and len(state.shares) < state.threshold
    )


def _checkin(state: SwitchState, event: CheckIn, now: int) -> tuple[SwitchState, list[Effect]]:
    stopped = _stoppable_release(state)
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED) and not stopped:
        raise Rejected(f"the switch is {state.phase}; a check-in can no longer stop it")
    if state.phase is Phase.TRIGGERED and state.cause is not Cause.MISSED:
        raise Rejected(f"the switch was triggered ({state.cause}); only an abort stops it")
    was = state.phase
    if was is Phase.DISARMING:  # still disarming; the deadline moves on
        start = _period_from(state, now)
        deadline = start + state.policy.interval
        new = replace(
            state,
            deadline=deadline,
            counted_from=start,
            reminded=frozenset(),
            last_checkin=now,
            checkins=state.checkins + 1,
        )
        detail = f"by {event.method} {event.client}".strip()
        effects: list[Effect] = [Audit("checked-in", f"{detail}; next check-in due at {deadline}")]
        return new, effects + _new_client(event)
    new, effects = _rearm(state, now, "checked-in", f"by {event.method} {event.client}".strip())
    new = replace(new, last_checkin=now, checkins=state.checkins + 1)
    if was in (Phase.TRIGGERED, Phase.RELEASING):  # (releasing: see _stoppable_release)
        new, cleared = _clear_votes(replace(new, shares=frozenset()))
        effects += [*cleared, NotifyCustodians("aborted")]
    return new, effects + _new_client(event)


def _new_client(event: CheckIn) -> list[Effect]:
    """A check-in from a client never seen on this switch: a stolen password in use shows."""
    return [Alert("new-client", event.client)] if event.new_client else []


def _pause(state: SwitchState, event: Pause, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase not in (Phase.ARMED, Phase.OVERDUE):
        raise Rejected(f"the switch is {state.phase}; only an armed switch can pause")
    if event.until <= now:
        raise Rejected("a pause must end in the future")
    if event.until - now > state.policy.max_pause:
        raise Rejected(
            f"a pause may last at most {state.policy.max_pause} seconds "
            "(the switch must not be silenced for long)"
        )
    # a pause is a proof of life: no later period counts from before it, even by a clock
    # set back since (see ``_period_from``)
    new = replace(
        state,
        phase=Phase.PAUSED,
        paused_until=event.until,
        since=now,
        last_checkin=now,
        counted_from=max(state.counted_from, now),
    )
    return new, [Audit("paused", f"until {event.until}")]


def _abort(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase is not Phase.TRIGGERED:
        raise Rejected(f"the switch is {state.phase}; only a pending release can be aborted")
    state = replace(state, duress_at=_pending_duress(state, now))
    new, effects = _rearm(state, now, "aborted", f"the owner stopped the {state.cause} release")
    new, cleared = _clear_votes(new)
    return new, [*effects, *cleared, NotifyCustodians("aborted")]


def _release_now(
    state: SwitchState, event: ReleaseNow, now: int
) -> tuple[SwitchState, list[Effect]]:
    """The owner releases on purpose. By default as any trigger does: the waiting period
    runs (cause ``owner``), the custodians are told, and an abort still stops it. With
    ``skip_waiting``, at once (cause ``deliberate``), from any phase not yet releasing:
    nothing stops it then."""
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; it cannot be released again")
    if not event.skip_waiting:
        if state.phase is Phase.TRIGGERED:
            raise Rejected(
                f"the switch is triggered already ({state.cause}): its release follows "
                "the waiting period; skip the waiting period to release at once"
            )
        return _trigger(state, Cause.OWNER, now, "the owner asked for the release")
    new = replace(state, phase=Phase.RELEASING, since=now, cause=Cause.DELIBERATE, triggered_at=now)
    return new, [
        Audit("triggered", f"cause {Cause.DELIBERATE}: the owner released on purpose"),
        Audit("releasing", f"{state.threshold} share(s) needed"),
        NotifyCustodians("submit"),
        SubmitServerShares(),
    ]
