"""What the machine remembers of one switch: its ``Phase``, ``Cause``, ``SwitchState``
(with its protected people, ``Canary``), the phase groups ``LIVE`` and ``WATCHED``, and a
fast ``replace`` for these frozen records.

Apart from the rules (``machine/``) because it is the data they act on, and what the
store encodes (``codec.py``): the time a state says it next needs a tick
(``next_event_at``) is derived here from the fields alone; every change to a state is
decided in ``machine/``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, TypeVar

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
    DELIBERATE = "deliberate"  # the owner chose to release now, skipping the waiting period
    OWNER = "owner"  # the owner asked for a release, through the waiting period
    DURESS = "duress"  # reserved: the owner acted under duress (next issue)
    VOTES = "votes"  # reserved: K custodians voted (next issue)
    CANARY = "canary"  # reserved: a protected person fell silent (next issue)


@dataclass(frozen=True)
class Canary:
    """A protected person's own schedule: a check-in due every ``interval``, then grace."""

    name: str
    interval: int
    grace: int
    trigger: bool
    deadline: int  # next check-in due
    last_checkin: int = 0
    missed: bool = False  # the alarm for the current miss has been raised

    @property
    def alarm_at(self) -> int:
        return self.deadline + self.grace


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
    triggered_at: int = 0  # when the current trigger was observed (its cause's time)
    shares: frozenset[str] = frozenset()  # custodians whose valid share was accepted
    released_at: int = 0
    last_checkin: int = 0
    checkins: int = 0
    counted_from: int = 0  # the current check-in period counts from here (never lowered)
    votes: frozenset[str] = frozenset()  # custodians who say the owner is missing/coerced
    duress_at: int = 0  # a delayed silent trigger is due then (0: none pending)
    disarm_ends: int = 0  # disarming: when the cooling-off period ends
    revoked: frozenset[str] = frozenset()  # custodians who may no longer vote or look
    canaries: tuple[Canary, ...] = ()  # protected people, each with their own schedule
    decoy: SwitchState | None = None  # after duress: what the owner is shown
    # settings that lengthen the wait for a release, pending until their cooling-off ends
    settings_pending: Policy | None = None
    settings_at: int = 0  # when the pending settings take effect (held by pending duress)
    # the longest settings the custodians were told of (None: the ones in force, as armed)
    told: Policy | None = None
    # federation (issue 17): how long this server waits for its peers' answer before it
    # counts the owner silent (0: a switch on this server alone, nobody to ask), and when
    # it last asked them
    peer_wait: int = 0
    asked_at: int = 0
    # the protected person whose missed check-in triggered the current trigger ("": none,
    # or another cause): an in-time check-in relayed for them stops it (federation only)
    missed_by: str = ""

    @property
    def grace_ends(self) -> int:
        return self.since + self.policy.grace

    @property
    def release_at(self) -> int:
        return self.since + self.policy.waiting

    @property
    def trigger_due(self) -> int:
        """When the silence that triggers began to count: the grace's end, or with no
        grace the deadline itself (the same silence, so the same answer from the peers)."""
        return self.grace_ends if self.policy.grace else self.deadline

    def silent_at(self, due: int) -> int:
        """When a silence due at ``due`` may be counted. At ``due`` itself on a server
        alone; with peers, ``peer_wait`` after they were asked (at ``due`` or later), so
        a check-in another server heard has time to arrive first."""
        if self.peer_wait and self.asked_at >= due:
            return self.asked_at + self.peer_wait
        return due

    def reminder_times(self) -> list[int]:
        """Instants reminders are due in this period, in order."""
        if self.phase in (Phase.ARMED, Phase.DISARMING):
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
        times = [] if self.decoy is None else [self.decoy.next_event_at]
        if self.duress_at and self.phase in LIVE:
            times.append(self.duress_at)
        times.append(self._own_next_event())
        if self.settings_pending is not None:
            times += self.cooling_off_ends(self.settings_at)
        if self.phase in WATCHED:
            times += [c.alarm_at for c in self.canaries if not c.missed]
        due = [t for t in times if t is not None]
        return min(due) if due else None

    def _own_next_event(self) -> int | None:
        pending = [t for t in self.reminder_times() if t not in self.reminded]
        if self.phase is Phase.ARMED:
            return min([*pending, self.silent_at(self.deadline)])
        if self.phase is Phase.OVERDUE:
            return min([*pending, max(self.grace_ends, self.silent_at(self.trigger_due))])
        if self.phase is Phase.TRIGGERED:
            return self.release_at
        if self.phase is Phase.PAUSED:
            return self.paused_until
        if self.phase is Phase.DISARMING:  # (a pending duress trigger holds the disarm)
            deadline = self.silent_at(self.deadline)
            return min([*pending, deadline, *self.cooling_off_ends(self.disarm_ends)])
        return None

    def cooling_off_ends(self, ends: int) -> list[int]:
        """When a cooling-off that ends at ``ends`` needs a tick: then, unless a duress
        trigger still to come holds it (its own instant is on the schedule already)."""
        return [] if self.duress_at else [ends]


_Frozen = TypeVar("_Frozen", SwitchState, Canary)
_FIELDS = {cls: frozenset(f.name for f in fields(cls)) for cls in (SwitchState, Canary)}
if any(hasattr(cls, "__post_init__") for cls in _FIELDS):  # replace() would skip it
    raise TypeError("machine.replace copies fields: it cannot serve a class that checks them")


def replace(state: _Frozen, **changes: Any) -> _Frozen:
    """``dataclasses.replace`` for the machine's own frozen records, ten times cheaper.

    The generic one rebuilds the object through ``__init__`` field by field; these records
    have no ``__post_init__`` (checked above), so copying the fields and overriding the
    changed ones gives the same object. A scheduler transition makes two of these, and it
    was the largest cost in deciding one. Unknown field names are refused, as there.
    """
    cls = type(state)
    if not changes.keys() <= _FIELDS[cls]:
        unknown = sorted(changes.keys() - _FIELDS[cls])
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    new = object.__new__(cls)
    new.__dict__.update(state.__dict__, **changes)
    return new


LIVE = (Phase.ARMED, Phase.OVERDUE, Phase.PAUSED, Phase.DISARMING)
"""Phases a trigger (votes, duress, a canary) can start from."""
WATCHED = (*LIVE, Phase.TRIGGERED)
"""Phases in which a canary's silence still raises an alarm."""
