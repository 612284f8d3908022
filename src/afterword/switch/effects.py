"""What a decision asks for: every effect ``decide`` returns, and ``OWNER_EFFECTS``.

The machine does no I/O; it answers with these records, and the caller (the engine)
carries them out in the transaction that stores the new state: audit entries, the owner's
decoy log, mail and alerts, publishing a release, deleting the server's copies. They live
apart from the rules (``machine/``) so the list of everything a switch can cause is
one page, and so the store can read ``Audit`` without reading the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from afterword.switch.state import Cause


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
    ``aborted``, ``released``, ``disarming``, ``settings-pending``, ..."""

    what: str


@dataclass(frozen=True)
class SubmitServerShares:
    """The server submits the share(s) it holds for this switch."""


@dataclass(frozen=True)
class AskPeers:
    """Ask the switch's other servers for a check-in newer than the one this server holds,
    before the owner's silence is counted (the server relays what it has; a peer that
    holds newer relays it back). Only a switch with peers asks (``SwitchState.peer_wait``)."""


@dataclass(frozen=True)
class PublishRelease:
    """Rebuild the key from the accepted shares, check it, sign the statement, publish."""

    cause: Cause


@dataclass(frozen=True)
class NotifyRecipients:
    """Send the release to its recipients (mail with a stable Message-ID, webhooks)."""


@dataclass(frozen=True)
class Alert:
    """Tell the owner's channels and the custodians something they must know (a canary)."""

    what: str
    detail: str = ""


@dataclass(frozen=True)
class DeleteServerCopies:
    """Disarmed: delete the server's share(s) and the dossier, irreversibly."""


@dataclass(frozen=True)
class RefuseOwner:
    """Answer the owner as a refused action would be answered (the state still changed:
    a duress action is refused exactly like the real one, yet triggers)."""

    message: str


@dataclass(frozen=True)
class OwnerLog:
    """An entry of the log the owner is shown while a decoy stands in for the truth
    (what the real action would have written); the real log gets the truth."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class RefuseOther:
    """Answer whoever sent the event (a custodian, a protected person) as refused, though
    the state changed: the truth refused it, the owner's decoy took it, as the real
    switch the decoy stands for would have. They see the truth, so they are refused;
    the owner is shown what the real world would show (their log, their state)."""

    message: str


Effect = (
    Audit
    | OwnerLog
    | RemindOwner
    | NotifyCustodians
    | SubmitServerShares
    | AskPeers
    | PublishRelease
    | NotifyRecipients
    | Alert
    | DeleteServerCopies
    | RefuseOwner
    | RefuseOther
)
OWNER_EFFECTS = (RemindOwner, RefuseOwner, OwnerLog)
"""Effects addressed to the owner: under duress these come from the decoy only."""
