"""What can happen to a switch: every event ``decide`` takes, and ``OwnerAction``.

The machine's inputs, on one page of plain frozen records with no behaviour. They live
apart from the rules (``machine/``) as h11 keeps ``_events.py`` beside ``_state.py``:
a reader finds what a switch can be told here, and what it does about it there. Whoever
turns a request, a tick or a share into an event (the engine) imports them from here or,
as before, from ``afterword.switch.machine``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    """Time has passed: the scheduler delivers this when ``now >= next_event_at``."""


@dataclass(frozen=True)
class CheckIn:
    """The owner proved they are well (signed, or password + TOTP)."""

    method: str  # "signature", "password", ...
    client: str = ""  # who/where, for the log (key fingerprint, network, user agent)
    new_client: bool = False  # never seen on this switch: the owner's channels are told


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
    """The owner releases on purpose: through the waiting period, as any trigger (cause
    ``owner``: abortable, custodians told), or at once with ``skip_waiting`` (cause
    ``deliberate``: no way back)."""

    skip_waiting: bool = False


@dataclass(frozen=True)
class ShareAccepted:
    """A custodian's share arrived and matched its commitment."""

    custodian: str


@dataclass(frozen=True)
class Disarm:
    """The owner retires the switch: a cooling-off period first, custodians told."""


@dataclass(frozen=True)
class Vote:
    """A custodian says the owner is missing or coerced; K votes trigger the release."""

    custodian: str


@dataclass(frozen=True)
class WithdrawVote:
    custodian: str


@dataclass(frozen=True)
class Status:
    """The owner looks at the switch. Changes nothing, but is an owner action: under
    duress, looking is enough to trigger."""


@dataclass(frozen=True)
class Revoke:
    """The owner withdraws a custodian's right to vote and to see the switch's state.

    (Their share still counts towards a release: a release must never be lost.)"""

    custodian: str


@dataclass(frozen=True)
class ChangePolicy:
    """The owner changes how often they check in and what follows a miss. The current
    deadline stands; the new interval counts from the next check-in. A change that
    lengthens the wait for a release too far waits out the cooling-off first (see
    :func:`afterword.switch.machine.settings._change_policy`)."""

    interval: int
    grace: int
    waiting: int
    reminders: tuple[int, ...]


@dataclass(frozen=True)
class AddCanary:
    """The owner adds a protected person with their own check-in schedule."""

    name: str
    interval: int
    grace: int
    trigger: bool  # on a miss or duress: trigger the release (True) or only alert


@dataclass(frozen=True)
class CanaryCheckIn:
    """A protected person checked in; ``duress`` if they used their duress link.
    ``in_time``: relayed by another server of the switch, which took it before this
    person's alarm there (so it is no miss, however late it arrives here)."""

    name: str
    duress: bool = False
    in_time: bool = False


@dataclass(frozen=True)
class CanaryAlarm:
    """A protected person fell silent or signalled duress (their own machine decided)."""

    name: str
    reason: str  # "missed" or "duress"
    trigger: bool  # the owner's choice for this canary: trigger the release, or alert


OwnerAction = (
    CheckIn
    | Pause
    | Resume
    | Abort
    | ReleaseNow
    | Disarm
    | Status
    | Revoke
    | AddCanary
    | ChangePolicy
)


@dataclass(frozen=True)
class Duress:
    """An owner action made with duress credentials.

    The answer is what ``action`` would have got; the switch triggers silently (after
    ``policy.duress_delay``); from then on the owner sees a decoy, custodians the truth.
    """

    action: OwnerAction


Event = (
    Tick
    | CheckIn
    | Pause
    | Resume
    | Abort
    | ReleaseNow
    | ShareAccepted
    | Disarm
    | Vote
    | WithdrawVote
    | CanaryAlarm
    | CanaryCheckIn
    | Status
    | Revoke
    | AddCanary
    | ChangePolicy
    | Duress
)
