"""The machine's clock: what the passing of time does to a switch by itself.

A tick of the switch's own schedule (a deadline missed, the grace run out, a reminder due,
the waiting period over, a pause ended, a disarm's cooling-off), the trigger that starts
the waiting period (with a delayed duress trigger it keeps) and a new check-in period
counted from the right instant. Separate because every other subject reaches into the
schedule (votes, canaries and duress trigger; the owner's check-in and abort rearm), and
the schedule needs none of them.
"""

from __future__ import annotations

from afterword.switch.effects import (
    AskPeers,
    Audit,
    DeleteServerCopies,
    Effect,
    NotifyCustodians,
    RemindOwner,
    SubmitServerShares,
)
from afterword.switch.machine.settings import _cooled_off
from afterword.switch.state import LIVE, Cause, Phase, SwitchState, replace


def _trigger(
    state: SwitchState, cause: Cause, now: int, detail: str
) -> tuple[SwitchState, list[Effect]]:
    """Start the waiting period (from a live phase) for any cause but a missed check-in.

    A delayed duress trigger that has come due joins this one; one still to come stays
    pending (see :func:`_abort`)."""
    new = replace(
        state,
        phase=Phase.TRIGGERED,
        since=now,
        cause=cause,
        triggered_at=now,
        reminded=frozenset(),
        duress_at=_pending_duress(state, now),
    )
    return new, [
        Audit("triggered", f"cause {cause}: {detail}; release at {new.release_at}"),
        NotifyCustodians("triggered"),
    ]


def _period_from(state: SwitchState, now: int) -> int:
    """Where a new check-in period starts: now, unless the clock was set back since the
    current one started. The model's rule, and the owner's: every check-in, abort, pause
    or pause end that landed keeps the switch quiet for a full interval from the latest of
    them."""
    return max(now, state.counted_from)


def _rearm(
    state: SwitchState, now: int, kind: str, detail: str
) -> tuple[SwitchState, list[Effect]]:
    start = _period_from(state, now)
    deadline = start + state.policy.interval
    new = replace(
        state,
        phase=Phase.ARMED,
        deadline=deadline,
        counted_from=start,
        since=now,
        reminded=frozenset(),
        paused_until=0,
        cause=None,
        triggered_at=0,
    )
    return new, [Audit(kind, f"{detail}; next check-in due at {deadline}")]


def _tick_switch(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.duress_at and now >= state.duress_at and state.phase in LIVE:
        return _trigger(state, Cause.DURESS, now, "the owner acted under duress")
    if state.phase is Phase.DISARMING:
        return _tick_disarming(state, now)
    effects: list[Effect] = []
    if state.phase is Phase.ARMED and now >= state.deadline:
        if (held := _ask_first(state, state.deadline, now)) is not None:
            return held
        state = replace(state, phase=Phase.OVERDUE, since=now, reminded=frozenset())
        effects.append(Audit("overdue", f"check-in was due at {state.deadline}"))
    if state.phase is Phase.OVERDUE and now >= state.grace_ends:
        if (held := _ask_first(state, state.trigger_due, now)) is not None:
            return held[0], effects + held[1]
        state = replace(
            state,
            phase=Phase.TRIGGERED,
            since=now,
            cause=Cause.MISSED,
            triggered_at=now,
            reminded=frozenset(),
        )
        effects += [
            Audit("triggered", f"cause {Cause.MISSED}; release at {state.release_at}"),
            NotifyCustodians("triggered"),
            RemindOwner(state.deadline, overdue=True),  # last call: abort or check in now
        ]
        return state, effects
    if state.phase in (Phase.ARMED, Phase.OVERDUE):
        if (due := state.pending_reminder(now)) is not None:
            state = replace(state, reminded=state.reminded | {due})
            overdue = state.phase is Phase.OVERDUE
            effects += [
                RemindOwner(state.deadline, overdue),
                Audit("reminded", f"{'overdue' if overdue else 'due'}, deadline {state.deadline}"),
            ]
        return state, effects
    if state.phase is Phase.TRIGGERED and now >= state.release_at:
        state = replace(state, phase=Phase.RELEASING, since=now)
        return state, [
            Audit("releasing", f"waiting period over; {state.threshold} share(s) needed"),
            NotifyCustodians("submit"),
            SubmitServerShares(),
        ]
    if state.phase is Phase.PAUSED and now >= state.paused_until:
        return _rearm(state, now, "resumed", "the pause ended")
    return state, effects


def _ask_first(state: SwitchState, due: int, now: int) -> tuple[SwitchState, list[Effect]] | None:
    """None if the owner's silence since ``due`` may be counted now; else what to do
    first. A switch on one server counts it at once. One with peers asks them (once per
    silence) for a newer check-in, and waits ``peer_wait`` for their answer: a check-in
    one of them heard arrives as a relayed ``CheckIn`` meanwhile and rearms the switch.
    An answer that never comes only delays (issue 17, "silence needs agreement")."""
    if not state.peer_wait:
        return None
    if state.asked_at < due:
        return replace(state, asked_at=now), [
            AskPeers(),
            Audit("asked-peers", f"no check-in since the one due at {state.deadline}; asking"),
        ]
    if now < state.asked_at + state.peer_wait:
        return state, []
    return None


def _tick_disarming(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    """Disarming still needs check-ins; a missed one cancels it into the normal path.

    A duress trigger still to come (a duress action with ``policy.duress_delay``, during
    the cooling-off or before it) holds the disarm until it fires: disarming deletes the
    server's shares and the dossier, and a release the owner signalled under coercion must
    not be lost to a cooling-off that ended first. The owner, shown the decoy, sees the
    disarm complete on time."""
    if now >= state.deadline:
        if (held := _ask_first(state, state.deadline, now)) is not None:
            return held
        new = replace(state, phase=Phase.OVERDUE, since=now, reminded=frozenset(), disarm_ends=0)
        return new, [
            Audit("overdue", f"check-in was due at {state.deadline}; disarming cancelled"),
            NotifyCustodians("disarm-cancelled"),
        ]
    if _cooled_off(state, state.disarm_ends, now):
        new = replace(state, phase=Phase.DISARMED, since=now)
        return new, [
            DeleteServerCopies(),
            Audit("disarmed", "cooling-off over: the server's shares and dossier are deleted"),
            NotifyCustodians("disarmed"),
        ]
    if (due := state.pending_reminder(now)) is not None:
        return replace(state, reminded=state.reminded | {due}), [
            RemindOwner(state.deadline, False),
            Audit("reminded", f"due, deadline {state.deadline}"),
        ]
    return state, []


def _pending_duress(state: SwitchState, now: int) -> int:
    """A delayed duress trigger still to come (its instant), or 0 if none or it came due.

    One that came due while the switch was already triggered joined that trigger: it was
    on its way to the same release, so the owner's real abort of that release stops it
    too. One still to come survives a trigger and its abort and fires at its time, as it
    survives a real check-in: acting for real does not withdraw a duress signal given
    before, only a real abort of the release that signal started does.
    """
    return state.duress_at if state.duress_at > now else 0
