"""The switch's lifecycle as a pure state machine: ``decide(state, event, now)``.

Every rule of a switch's life is here and nowhere else. ``decide`` does no I/O and reads
no clock: the caller passes ``now`` (seconds since the epoch) and carries out the returned
effects (mail, webhooks, publishing, audit entries) in the same transaction that stores the
new state. That makes the rules testable exhaustively and a lifecycle of years simulable
in milliseconds.

The records the rules act on live beside them, one subject a file: the events
(``events.py``), the effects (``effects.py``) and the state (``state.py``). This module
re-exports them, so ``from afterword.switch.machine import Tick, Audit, SwitchState``
keeps working; every *decision* is here.

::

    armed --deadline--> overdue --grace--> triggered --waiting--> releasing --K shares--> released
      ^  \\               |                   |
      |   `--pause--> paused (bounded)     owner abort, or a late check-in (cause: missed)
      `---- check-in ------'
    any live phase --owner: release now--> releasing (cause: deliberate)
    any live phase --K custodian votes | a canary set to trigger--> triggered
    any live phase --duress action--> triggered (silently, maybe delayed); owner sees a decoy
    armed --disarm--> disarming (cooling-off; check-ins still due) --> disarmed
                          `--missed check-in--> overdue;  K votes --> triggered
    settings that lengthen the wait past max_pause: pending (the same cooling-off,
        custodians told) --> in force;  a miss, a trigger or a disarm drops them

After a duress action the state carries a *decoy*: the state the real action would have
produced, which keeps its own schedule. Owner-facing answers and owner mail come from the
decoy (``owner_view``); custodians, recipients and the audit log get the truth.

Time rules that keep a release from ever coming early:

- every period is counted from the moment the machine *observes* its start (the ``now`` of
  the event that entered the phase), never from when it should have started: downtime, a
  crashed worker or a clock jumping forward only ever delay a release;
- a new check-in period counts from the latest instant a period of this switch (or of a
  protected person) has counted from, if the clock now says earlier: a check-in made
  while the clock is set back cannot bring a deadline forward, so the deadline holds
  even once the clock is set right again;
- each tick advances at most to ``triggered``: the waiting period always runs in full after
  the trigger was observed, so the owner and custodians always get it;
- a ``now`` earlier than a recorded instant (a clock set back) changes nothing.

And two that keep one from being lost:

- a protected person's silence that has run out counts before any later event, ticked or
  not: what the worker's downtime let pass unseen is not erased by a late check-in;
- a duress trigger still to come holds a disarm until it fires;
- settings that would lengthen the time to a release by more than ``max_pause`` beyond
  what the custodians were last told take the disarm's cooling-off, told to the custodians
  (see :func:`_change_policy`): a long enough lengthening is a quiet stop.
"""

from __future__ import annotations

import contextlib
import dataclasses

from afterword.errors import AfterwordError
from afterword.switch.effects import (
    OWNER_EFFECTS,
    Alert,
    Audit,
    DeleteServerCopies,
    Effect,
    NotifyCustodians,
    NotifyRecipients,
    OwnerLog,
    PublishRelease,
    RefuseOther,
    RefuseOwner,
    RemindOwner,
    SubmitServerShares,
)
from afterword.switch.events import (
    Abort,
    AddCanary,
    CanaryAlarm,
    CanaryCheckIn,
    ChangePolicy,
    CheckIn,
    Disarm,
    Duress,
    Event,
    OwnerAction,
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
from afterword.switch.policy import Policy
from afterword.switch.state import LIVE, WATCHED, Canary, Cause, Phase, SwitchState, replace

__all__ = [  # the rules' own names, and the records they act on (imported from here too)
    "LIVE", "OWNER_EFFECTS", "SETTLED", "WATCHED", "Abort", "AddCanary", "Alert", "Audit",
    "Canary", "CanaryAlarm", "CanaryCheckIn", "Cause", "ChangePolicy", "CheckIn",
    "DeleteServerCopies", "Disarm", "Duress", "Effect", "Event", "NotifyCustodians",
    "NotifyRecipients", "OwnerAction", "OwnerLog", "Pause", "Phase", "Policy",
    "PublishRelease", "RefuseOther", "RefuseOwner", "Rejected", "ReleaseNow", "RemindOwner",
    "Resume", "Revoke", "ShareAccepted", "Status", "SubmitServerShares", "SwitchState",
    "Tick", "Vote", "WithdrawVote", "arm", "decide", "owner_view", "replace",
]  # fmt: skip


class Rejected(Exception):
    """The event is not allowed in the current state; nothing changed.

    The message is for the person who sent it (an owner, a custodian).
    """


def owner_view(state: SwitchState) -> SwitchState:
    """What owner-facing answers and pages show: the decoy after duress, else the truth."""
    return state.decoy if state.decoy is not None else state


def arm(policy: Policy, threshold: int, now: int) -> tuple[SwitchState, list[Effect]]:
    """A new switch, armed at ``now`` with its first deadline one interval away."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    state = SwitchState(
        policy=policy,
        threshold=threshold,
        deadline=now + policy.interval,
        since=now,
        counted_from=now,
    )
    return state, [Audit("armed", f"first check-in due at {state.deadline}")]


# --- the rules ----------------------------------------------------------------------------


def decide(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """The one place a switch changes: return the new state and what must happen.

    Raises :class:`Rejected` (and changes nothing) for an event the state does not allow.
    """
    if isinstance(event, Duress):
        return _duress(state, event.action, now)
    if state.decoy is not None:
        return _with_decoy(state, event, now)
    return _decide(state, event, now)


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
            return _release_now(state, now)
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


def _duress(state: SwitchState, action: OwnerAction, now: int) -> tuple[SwitchState, list[Effect]]:
    """Answer as ``action`` would have been answered; trigger silently; keep a decoy.

    The decoy starts from what the owner is shown, less the truth's own pending duress
    trigger: a real action between two duress ones ends the first decoy, and the new one
    must not inherit (and one day show) the silent trigger the first one set."""
    shown = replace(owner_view(state), duress_at=0)
    try:
        decoy, decoy_effects = _decide(shown, action, now)
    except Rejected as refused:
        decoy, decoy_effects = shown, [RefuseOwner(str(refused))]
    # the truth too meets the silences that ran out (the decoy met its own in _decide)
    real, effects = _overdue_alarms(state, action, now)
    effects.append(Audit("duress", f"{type(action).__name__.lower()} under duress"))
    if isinstance(action, AddCanary) and not isinstance(decoy_effects[0], RefuseOwner):
        # protection only grows: the person is really watched, whoever made the owner ask
        # (unless the truth protects no one any more: it is releasing, and the owner is
        # answered as the decoy, which still protects, would answer)
        with contextlib.suppress(Rejected):
            real, more = _add_canary(real, action, now)
            effects += more
    if real.phase in LIVE and real.duress_at == 0 and real.cause is not Cause.DURESS:
        if state.policy.duress_delay:
            real = replace(real, duress_at=now + state.policy.duress_delay)
        else:
            real, more = _trigger(real, Cause.DURESS, now, "the owner acted under duress")
            effects += more
    real, settled = _settle_settings(real, now)
    real = replace(real, decoy=replace(decoy, decoy=None))
    return real, [*effects, *settled, *_for_owner(decoy_effects)]


def _for_owner(decoy_effects: list[Effect]) -> list[Effect]:
    """What of the decoy's effects reaches the owner: their mail, their answer, their log
    (its audit entries, kept apart from the real log), and new-client and canary alerts
    (which the real switch would have sent as well: a protected person the decoy watches
    who falls silent is alerted on even while the truth, releasing, watches no one; when
    both raise it, the two alerts are one message, of one id)."""
    shown: list[Effect] = []
    for effect in decoy_effects:
        if isinstance(effect, Audit):
            shown.append(OwnerLog(effect.kind, effect.detail))
        elif isinstance(effect, OWNER_EFFECTS) or (
            isinstance(effect, Alert) and effect.what in ("new-client", "canary")
        ):
            shown.append(effect)
    return shown


def _with_decoy(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """After duress: the truth moves on, owner-addressed effects come from the decoy.

    The owner's *real* credentials act on the truth and end the decoy: the owner chose to
    act for real.
    """
    assert state.decoy is not None
    if isinstance(event, Status):
        return state, []  # looking is not acting: the decoy stays
    if isinstance(event, OwnerAction):
        return _decide(replace(state, decoy=None), event, now)
    decoy, decoy_effects = state.decoy, list[Effect]()
    # the decoy lives on too: time passes for it, protected people and custodians act on
    # it as on the real switch, so its log (and its state) holds what the real one would
    lives = isinstance(
        event, Tick | CanaryCheckIn | CanaryAlarm | Vote | WithdrawVote | ShareAccepted
    )
    try:
        truth, effects = _decide(replace(state, decoy=None), event, now)
    except Rejected as refused:
        # the truth refuses what the decoy takes (a share after a duress release-now: the
        # truth only triggered, the decoy releasing as the real world would): the sender
        # is refused, as the truth says; the decoy moves on, as the real switch would
        if not lives:
            raise
        try:
            decoy, decoy_effects = _decide(state.decoy, event, now)
        except Rejected:
            raise refused from None
        return replace(state, decoy=decoy), [RefuseOther(str(refused)), *_for_owner(decoy_effects)]
    if lives:
        with contextlib.suppress(Rejected):
            decoy, decoy_effects = _decide(state.decoy, event, now)
    return replace(truth, decoy=decoy), [
        *(e for e in effects if not isinstance(e, OWNER_EFFECTS)),
        *_for_owner(decoy_effects),
    ]


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


def _vote(
    state: SwitchState, event: Vote | WithdrawVote, now: int
) -> tuple[SwitchState, list[Effect]]:
    if event.custodian in state.revoked:
        raise Rejected(
            f"custodian {event.custodian} was revoked by the owner; their votes no longer count"
        )
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; votes no longer count")
    if isinstance(event, WithdrawVote):
        if event.custodian not in state.votes:
            raise Rejected("there is no vote of yours to withdraw")
        return replace(state, votes=state.votes - {event.custodian}), [
            Audit("vote-withdrawn", event.custodian)
        ]
    if event.custodian in state.votes and (
        len(state.votes) < state.threshold or state.phase not in LIVE
    ):
        return state, []  # the same vote twice counts once
    # (K votes standing in a live phase, as a state stored before votes were cleared on an
    # abort can hold: a repeat vote is a vote again, and triggers)
    votes = state.votes | {event.custodian}
    state = replace(state, votes=votes)
    effects: list[Effect] = [
        Audit("vote", f"{event.custodian} ({len(votes)} of {state.threshold})")
    ]
    if len(votes) >= state.threshold and state.phase in LIVE:
        state, more = _trigger(state, Cause.VOTES, now, f"{len(votes)} custodians voted")
        effects += more
    return state, effects


def _canary(state: SwitchState, event: CanaryAlarm, now: int) -> tuple[SwitchState, list[Effect]]:
    detail = f"{event.name}: {event.reason}"
    if event.trigger and state.phase in LIVE:
        new, effects = _trigger(state, Cause.CANARY, now, f"protected person {detail}")
        return new, [Alert("canary", detail), *effects]
    return state, [Audit("canary", detail), Alert("canary", detail)]


def _change_policy(
    state: SwitchState, event: ChangePolicy, now: int
) -> tuple[SwitchState, list[Effect]]:
    """New settings: in force at once, unless they lengthen the wait for a release too far.

    A release comes at most interval + grace + waiting after the owner falls silent, and
    a waiting period after any other trigger. The rule, against the settings the
    custodians were last told of (``told``: those the switch was armed with, or the last
    that took effect after a cooling-off): a change whose interval + grace + waiting, or
    whose waiting alone, exceeds theirs by more than ``max_pause`` silences the switch for
    longer than a pause may, and a long enough one (10 years) is a quiet stop. It takes
    the disarm's way: it is pending for the cooling-off, the custodians are told (and can
    vote), and it takes effect when the cooling-off ends; a missed check-in, a trigger or
    a disarm completing drops it, and a duress trigger still to come holds it until it
    fires (see :func:`_settle_settings`). Everything else (shorter settings, or longer by
    at most ``max_pause``) is in force at once and withdraws a change still pending.
    Measuring from ``told``, not from the settings in force, keeps many small
    lengthenings from adding up to a long one unseen."""
    if state.phase not in LIVE:
        raise Rejected(f"the switch is {state.phase}; its settings can no longer change")
    try:  # Policy refuses what cannot work (a zero interval, negative durations), in the
        # __post_init__ that dataclasses.replace runs
        policy = dataclasses.replace(
            state.policy,
            interval=event.interval,
            grace=event.grace,
            waiting=event.waiting,
            reminders=tuple(sorted(set(event.reminders), reverse=True)),
        )
    except AfterwordError as exc:
        raise Rejected(exc.message) from exc
    told = state.told or state.policy
    detail = _settings_detail(policy)
    if not _lengthens(told, policy):
        new = replace(state, policy=policy, told=told, settings_pending=None, settings_at=0)
        effects: list[Effect] = [Audit("settings", detail)]
        if state.settings_pending is not None:
            effects += [
                Audit("settings-withdrawn", "the longer settings pending will not take effect"),
                NotifyCustodians("settings-withdrawn"),
            ]
        return new, effects
    if state.phase is Phase.OVERDUE:
        raise Rejected(
            "the switch is overdue: check in first; settings that lengthen the wait for a "
            "release take effect only after the cooling-off, and a missed check-in drops them"
        )
    ends = now + state.policy.cooling_off
    new = replace(state, told=told, settings_pending=policy, settings_at=ends)
    return new, [
        Audit("settings-pending", f"{detail}; in force at {ends}, after the cooling-off"),
        NotifyCustodians("settings-pending"),
    ]


def _lengthens(told: Policy, policy: Policy) -> bool:
    """``policy`` lets a release wait longer than ``told`` by more than a pause may."""
    span = policy.interval + policy.grace + policy.waiting
    told_span = told.interval + told.grace + told.waiting
    return span > told_span + told.max_pause or policy.waiting > told.waiting + told.max_pause


def _settings_detail(policy: Policy) -> str:
    return (
        f"interval {policy.interval}s, grace {policy.grace}s, waiting {policy.waiting}s, "
        f"reminders {', '.join(f'{r}s' for r in policy.reminders) or 'none'}"
    )


SETTLED = (Phase.ARMED, Phase.PAUSED, Phase.DISARMING)
"""Phases in which pending settings still wait for their cooling-off."""


def _settle_settings(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    """Pending settings take effect once their cooling-off is over (:func:`_cooled_off`,
    as a disarm completes). A missed check-in drops them and the custodians are told, as
    it cancels a disarm; so do a trigger and the switch's end (the custodians hear of
    those anyway). Run after every decision, so no path leaves them pending past one."""
    pending = state.settings_pending
    if pending is None:
        return state, []
    if state.phase not in SETTLED:
        new = replace(state, settings_pending=None, settings_at=0)
        effects: list[Effect] = [
            Audit(
                "settings-cancelled",
                f"the switch is {state.phase}; the longer settings pending will not take effect",
            )
        ]
        if state.phase is Phase.OVERDUE:
            effects.append(NotifyCustodians("settings-cancelled"))
        return new, effects
    if not _cooled_off(state, state.settings_at, now):
        return state, []
    new = replace(state, policy=pending, told=pending, settings_pending=None, settings_at=0)
    return new, [
        Audit("settings", f"{_settings_detail(pending)}; the cooling-off is over"),
        NotifyCustodians("settings-changed"),
    ]


def _cooled_off(state: SwitchState, ends: int, now: int) -> bool:
    """A cooling-off (a disarm's, or longer settings') that ends at ``ends`` is over.

    A duress trigger still to come holds it until it fires (see :func:`_tick_disarming`):
    neither deleting the server's copies nor a longer wait may outrun a release the owner
    signalled under coercion."""
    return now >= ends and not state.duress_at


def _revoke(state: SwitchState, event: Revoke) -> tuple[SwitchState, list[Effect]]:
    if event.custodian in state.revoked:
        return state, []
    new = replace(
        state, revoked=state.revoked | {event.custodian}, votes=state.votes - {event.custodian}
    )
    return new, [Audit("revoked", event.custodian), NotifyCustodians("revoked")]


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


def _period_from(state: SwitchState, now: int) -> int:
    """Where a new check-in period starts: now, unless the clock was set back since the
    current one started. The model's rule, and the owner's: every check-in, abort or pause
    end that landed keeps the switch quiet for a full interval from the latest of them."""
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


def _tick(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    phase = state.phase
    state, alarms = _tick_canaries(state, now)
    if state.phase is not phase:  # a protected person's silence triggered: one step a tick
        return state, alarms
    state, effects = _tick_switch(state, now)
    return state, [*alarms, *effects]


def _tick_switch(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.duress_at and now >= state.duress_at and state.phase in LIVE:
        return _trigger(state, Cause.DURESS, now, "the owner acted under duress")
    if state.phase is Phase.DISARMING:
        return _tick_disarming(state, now)
    effects: list[Effect] = []
    if state.phase is Phase.ARMED and now >= state.deadline:
        state = replace(state, phase=Phase.OVERDUE, since=now, reminded=frozenset())
        effects.append(Audit("overdue", f"check-in was due at {state.deadline}"))
    if state.phase is Phase.OVERDUE and now >= state.grace_ends:
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


def _tick_disarming(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    """Disarming still needs check-ins; a missed one cancels it into the normal path.

    A duress trigger still to come (a duress action with ``policy.duress_delay``, during
    the cooling-off or before it) holds the disarm until it fires: disarming deletes the
    server's shares and the dossier, and a release the owner signalled under coercion must
    not be lost to a cooling-off that ended first. The owner, shown the decoy, sees the
    disarm complete on time."""
    if now >= state.deadline:
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


def _checkin(state: SwitchState, event: CheckIn, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
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
    if was is Phase.TRIGGERED:
        new, cleared = _clear_votes(new)
        effects += [*cleared, NotifyCustodians("aborted")]
    return new, effects + _new_client(event)


def _clear_votes(state: SwitchState) -> tuple[SwitchState, list[Effect]]:
    """A release the owner stopped (abort, or a late check-in) spends the votes standing
    then: they were cast before the owner acted, and left standing they could never
    trigger again (a repeat vote counts once). Custodians are told (``aborted``) that
    their votes were cleared, so those who still believe the owner is missing or
    coerced vote again, and K fresh votes trigger anew."""
    if not state.votes:
        return state, []
    cleared = ", ".join(sorted(state.votes))
    return replace(state, votes=frozenset()), [Audit("votes-cleared", cleared)]


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
    new = replace(state, phase=Phase.PAUSED, paused_until=event.until, since=now, last_checkin=now)
    return new, [Audit("paused", f"until {event.until}")]


def _pending_duress(state: SwitchState, now: int) -> int:
    """A delayed duress trigger still to come (its instant), or 0 if none or it came due.

    One that came due while the switch was already triggered joined that trigger: it was
    on its way to the same release, so the owner's real abort of that release stops it
    too. One still to come survives a trigger and its abort and fires at its time, as it
    survives a real check-in: acting for real does not withdraw a duress signal given
    before, only a real abort of the release that signal started does.
    """
    return state.duress_at if state.duress_at > now else 0


def _abort(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase is not Phase.TRIGGERED:
        raise Rejected(f"the switch is {state.phase}; only a pending release can be aborted")
    state = replace(state, duress_at=_pending_duress(state, now))
    new, effects = _rearm(state, now, "aborted", f"the owner stopped the {state.cause} release")
    new, cleared = _clear_votes(new)
    return new, [*effects, *cleared, NotifyCustodians("aborted")]


def _release_now(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; it cannot be released again")
    new = replace(state, phase=Phase.RELEASING, since=now, cause=Cause.DELIBERATE, triggered_at=now)
    return new, [
        Audit("triggered", f"cause {Cause.DELIBERATE}: the owner released on purpose"),
        Audit("releasing", f"{state.threshold} share(s) needed"),
        NotifyCustodians("submit"),
        SubmitServerShares(),
    ]


def _share(state: SwitchState, event: ShareAccepted, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase is Phase.RELEASED:
        return state, []  # late shares change nothing: released exactly once
    if state.phase is not Phase.RELEASING:
        raise Rejected(
            f"the switch is {state.phase}; shares are collected only once a release is due"
        )
    if event.custodian in state.shares:
        return state, []
    shares = state.shares | {event.custodian}
    effects: list[Effect] = [Audit("share", f"accepted from {event.custodian}")]
    if len(shares) < state.threshold:
        return replace(state, shares=shares), effects
    assert state.cause is not None
    new = replace(state, phase=Phase.RELEASED, shares=shares, released_at=now, since=now)
    return new, [
        *effects,
        PublishRelease(state.cause),
        Audit("released", f"cause {state.cause}, {len(shares)} share(s)"),
        NotifyRecipients(),
        NotifyCustodians("released"),
    ]
