"""The switch's lifecycle as a pure state machine: ``decide(state, event, now)``.

Every rule of a switch's life is here and nowhere else. ``decide`` does no I/O and reads
no clock: the caller passes ``now`` (seconds since the epoch) and carries out the returned
effects (mail, webhooks, publishing, audit entries) in the same transaction that stores the
new state. That makes the rules testable exhaustively and a lifecycle of years simulable
in milliseconds.

::

    armed --deadline--> overdue --grace--> triggered --waiting--> releasing --K shares--> released
      ^  \\               |                   |
      |   `--pause--> paused (bounded)     owner abort, or a late check-in (cause: missed)
      `---- check-in ------'
    any live phase --owner: release now--> releasing (cause: deliberate)
    (duress, custodian votes, canaries and disarming come with the next issue)

Time rules that keep a release from ever coming early:

- every period is counted from the moment the machine *observes* its start (the ``now`` of
  the event that entered the phase), never from when it should have started: downtime, a
  crashed worker or a clock jumping forward only ever delay a release;
- each tick advances at most to ``triggered``: the waiting period always runs in full after
  the trigger was observed, so the owner and custodians always get it;
- a ``now`` earlier than a recorded instant (a clock set back) changes nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from afterword.switch.policy import Policy


class Phase(enum.StrEnum):
    ARMED = "armed"
    OVERDUE = "overdue"
    TRIGGERED = "triggered"
    RELEASING = "releasing"
    RELEASED = "released"
    PAUSED = "paused"
    DISARMING = "disarming"
    DISARMED = "disarmed"


class Cause(enum.StrEnum):
    """Why a switch triggered: recorded in the audit log and the release statement."""

    MISSED = "missed"  # the owner fell silent past deadline and grace
    DELIBERATE = "deliberate"  # the owner chose to release now
    DURESS = "duress"  # reserved: the owner acted under duress (next issue)
    VOTES = "votes"  # reserved: K custodians voted (next issue)
    CANARY = "canary"  # reserved: a protected person fell silent (next issue)


# --- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time has passed: the scheduler delivers this when ``now >= next_event_at``."""


@dataclass(frozen=True)
class CheckIn:
    """The owner proved they are well (signed, or password + TOTP)."""

    method: str  # "signature", "password", ...
    client: str = ""  # who/where, for the log (key fingerprint, network, user agent)


@dataclass(frozen=True)
class Pause:
    """The owner suspends check-ins until ``until`` (at most policy.max_pause from now)."""

    until: int


@dataclass(frozen=True)
class Resume:
    """The owner ends a pause early."""


@dataclass(frozen=True)
class Abort:
    """The owner stops a pending release during the waiting period."""


@dataclass(frozen=True)
class ReleaseNow:
    """The owner releases on purpose; no waiting period."""


@dataclass(frozen=True)
class ShareAccepted:
    """A custodian's share arrived and matched its commitment."""

    custodian: str


Event = Tick | CheckIn | Pause | Resume | Abort | ReleaseNow | ShareAccepted


# --- effects ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audit:
    """An entry for the switch's hash-chained audit log."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class RemindOwner:
    """Tell the owner a check-in is due at ``deadline`` (or overdue, during grace)."""

    deadline: int
    overdue: bool


@dataclass(frozen=True)
class NotifyCustodians:
    """Tell custodians what happened and what to do: ``triggered``, ``submit``,
    ``aborted`` or ``released``."""

    what: str


@dataclass(frozen=True)
class SubmitServerShares:
    """The server submits the share(s) it holds for this switch."""


@dataclass(frozen=True)
class PublishRelease:
    """Rebuild the key from the accepted shares, check it, sign the statement, publish."""

    cause: Cause


@dataclass(frozen=True)
class NotifyRecipients:
    """Send the release to its recipients (mail with a stable Message-ID, webhooks)."""


Effect = (
    Audit | RemindOwner | NotifyCustodians | SubmitServerShares | PublishRelease | NotifyRecipients
)


class Rejected(Exception):
    """The event is not allowed in the current state; nothing changed.

    The message is for the person who sent it (an owner, a custodian).
    """


# --- state --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwitchState:
    """Everything the rules need about one switch. Times are seconds since the epoch."""

    policy: Policy
    threshold: int
    phase: Phase = Phase.ARMED
    deadline: int = 0  # next check-in due (armed, overdue)
    since: int = 0  # when the current phase was observed to begin
    reminded: frozenset[int] = frozenset()  # reminder instants already sent this period
    paused_until: int = 0
    cause: Cause | None = None
    shares: frozenset[str] = frozenset()  # custodians whose valid share was accepted
    released_at: int = 0
    last_checkin: int = 0
    checkins: int = 0

    @property
    def grace_ends(self) -> int:
        return self.since + self.policy.grace

    @property
    def release_at(self) -> int:
        return self.since + self.policy.waiting

    def reminder_times(self) -> list[int]:
        """Instants reminders are due in this period, in order."""
        if self.phase is Phase.ARMED:
            return sorted(self.deadline - o for o in self.policy.reminders if o > 0)
        if self.phase is Phase.OVERDUE:
            # at the start of grace, then at each offset before grace ends that falls in it
            later = (self.grace_ends - o for o in self.policy.reminders)
            return sorted({self.since, *(t for t in later if t > self.since)})
        return []

    def pending_reminder(self, now: int) -> int | None:
        """The latest reminder instant that is due and not yet sent (older ones are moot)."""
        due = [t for t in self.reminder_times() if t <= now and t not in self.reminded]
        return due[-1] if due else None

    @property
    def next_event_at(self) -> int | None:
        """The earliest instant this switch needs a Tick; None if only people can move it."""
        pending = [t for t in self.reminder_times() if t not in self.reminded]
        if self.phase is Phase.ARMED:
            return min([*pending, self.deadline])
        if self.phase is Phase.OVERDUE:
            return min([*pending, self.grace_ends])
        if self.phase is Phase.TRIGGERED:
            return self.release_at
        if self.phase is Phase.PAUSED:
            return self.paused_until
        return None


def arm(policy: Policy, threshold: int, now: int) -> tuple[SwitchState, list[Effect]]:
    """A new switch, armed at ``now`` with its first deadline one interval away."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    state = SwitchState(
        policy=policy, threshold=threshold, deadline=now + policy.interval, since=now
    )
    return state, [Audit("armed", f"first check-in due at {state.deadline}")]


# --- the rules ----------------------------------------------------------------------------


def decide(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """The one place a switch changes: return the new state and what must happen.

    Raises :class:`Rejected` (and changes nothing) for an event the state does not allow.
    """
    match event:
        case Tick():
            return _tick(state, now)
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
    raise TypeError(f"not a switch event: {event!r}")  # pragma: no cover


def _rearm(
    state: SwitchState, now: int, kind: str, detail: str
) -> tuple[SwitchState, list[Effect]]:
    deadline = now + state.policy.interval
    new = replace(
        state,
        phase=Phase.ARMED,
        deadline=deadline,
        since=now,
        reminded=frozenset(),
        paused_until=0,
        cause=None,
    )
    return new, [Audit(kind, f"{detail}; next check-in due at {deadline}")]


def _tick(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    effects: list[Effect] = []
    if state.phase is Phase.ARMED and now >= state.deadline:
        state = replace(state, phase=Phase.OVERDUE, since=now, reminded=frozenset())
        effects.append(Audit("overdue", f"check-in was due at {state.deadline}"))
    if state.phase is Phase.OVERDUE and now >= state.grace_ends:
        state = replace(
            state, phase=Phase.TRIGGERED, since=now, cause=Cause.MISSED, reminded=frozenset()
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


def _checkin(state: SwitchState, event: CheckIn, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; a check-in can no longer stop it")
    if state.phase is Phase.TRIGGERED and state.cause is not Cause.MISSED:
        raise Rejected(f"the switch was triggered ({state.cause}); only an abort stops it")
    was = state.phase
    new, effects = _rearm(state, now, "checked-in", f"by {event.method} {event.client}".strip())
    new = replace(new, last_checkin=now, checkins=state.checkins + 1)
    if was is Phase.TRIGGERED:
        effects.append(NotifyCustodians("aborted"))
    return new, effects


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


def _abort(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase is not Phase.TRIGGERED:
        raise Rejected(f"the switch is {state.phase}; only a pending release can be aborted")
    new, effects = _rearm(state, now, "aborted", f"the owner stopped the {state.cause} release")
    return new, [*effects, NotifyCustodians("aborted")]


def _release_now(state: SwitchState, now: int) -> tuple[SwitchState, list[Effect]]:
    if state.phase in (Phase.RELEASING, Phase.RELEASED, Phase.DISARMED):
        raise Rejected(f"the switch is {state.phase}; it cannot be released again")
    new = replace(state, phase=Phase.RELEASING, since=now, cause=Cause.DELIBERATE)
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
