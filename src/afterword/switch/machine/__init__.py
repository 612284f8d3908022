"""The switch's lifecycle as a pure state machine: ``decide(state, event, now)``.

Every rule of a switch's life is in this package and nowhere else. ``decide`` does no I/O
and reads no clock: the caller passes ``now`` (seconds since the epoch) and carries out the
returned effects (mail, webhooks, publishing, audit entries) in the same transaction that
stores the new state. That makes the rules testable exhaustively and a lifecycle of years
simulable in milliseconds.

The records the rules act on live beside the package, one subject a file: the events
(``switch/events.py``), the effects (``switch/effects.py``) and the state
(``switch/state.py``). This module re-exports them, so ``from afterword.switch.machine
import Tick, Audit, SwitchState`` keeps working; every *decision* is in this package.

The rules, by subject (each module imports only those before it in this list, so none
needs another that needs it back):

- ``rejected.py``: :class:`Rejected`, the one answer of a rule that refuses an event;
- ``settings.py``: new settings (``_change_policy``, ``_lengthens``), pending ones
  settling after their cooling-off (``_settle_settings``), and when a cooling-off is over
  (``_cooled_off``, a disarm's too);
- ``schedule.py``: the clock: a trigger and the waiting period (``_trigger``, with the
  delayed duress trigger it keeps, ``_pending_duress``), a new check-in period
  (``_period_from``, ``_rearm``), the switch's own tick (``_tick_switch``), a disarm's
  cooling-off (``_tick_disarming``) and, on a switch with several servers, asking the
  peers before a silence counts (``_ask_first``);
- ``canaries.py``: protected persons: added, checking in, falling silent
  (``_tick_canaries``), a silence run out counting before any later event
  (``_overdue_alarms``), and on a switch with several servers a check-in another server
  took in time (:func:`canary_in_time`) that no late arrival makes a miss, and that stops
  the trigger this server began alone for it (``_stoppable_alarm``);
- ``custodians.py``: votes, shares, revoking a custodian, and clearing the votes an
  owner's stop spends (``_clear_votes``);
- ``owner.py``: the owner's own actions: check-in, pause, abort, release now, disarm;
- ``dispatch.py``: the dispatcher: ``_decide`` (the alarms first, then the event, then
  settling settings) and ``_act`` (which rule takes which event), and ``_tick``;
- ``duress.py``: a duress action (``_duress``), the decoy it leaves (``_with_decoy``,
  ``_for_owner``) and what the owner is shown (:func:`owner_view`);
- this module: :func:`arm` and :func:`decide`, the two ways in.

::

    armed --deadline--> overdue --grace--> triggered --waiting--> releasing --K shares--> released
      ^  \\               |                   |
      |   `--pause--> paused (bounded)     owner abort, or a late check-in (cause: missed)
      `---- check-in ------'
    any live phase --owner: release now--> triggered (cause: owner; the waiting period runs)
    any live or triggered phase --owner: release now, skipping the wait--> releasing
        (cause: deliberate)
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
- on a switch with several servers (``peer_wait``), a silence counts only once the peers
  were asked for a newer check-in and had ``peer_wait`` to relay it (``AskPeers``): a
  server the owner could not reach does not trigger while another one heard the owner.

And two that keep one from being lost:

- a protected person's silence that has run out counts before any later event, ticked or
  not: what the worker's downtime let pass unseen is not erased by a late check-in;
- a duress trigger still to come holds a disarm until it fires;
- settings that would lengthen the time to a release by more than ``max_pause`` beyond
  what the custodians were last told take the disarm's cooling-off, told to the custodians
  (see ``settings._change_policy``): a long enough lengthening is a quiet stop.

The underscored names are the rules' own, shared among these modules only; callers use
what ``__all__`` lists.
"""

from __future__ import annotations

from afterword.switch.effects import (
    OWNER_EFFECTS,
    Alert,
    AskPeers,
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
from afterword.switch.machine.canaries import canary_in_time
from afterword.switch.machine.dispatch import _decide
from afterword.switch.machine.duress import _duress, _with_decoy, owner_view
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.settings import SETTLED
from afterword.switch.policy import Policy
from afterword.switch.state import LIVE, WATCHED, Canary, Cause, Phase, SwitchState, replace

__all__ = [  # the rules' own names, and the records they act on (imported from here too)
    "LIVE", "OWNER_EFFECTS", "SETTLED", "WATCHED", "Abort", "AddCanary", "Alert", "AskPeers",
    "Audit",
    "Canary", "CanaryAlarm", "CanaryCheckIn", "Cause", "ChangePolicy", "CheckIn",
    "DeleteServerCopies", "Disarm", "Duress", "Effect", "Event", "NotifyCustodians",
    "NotifyRecipients", "OwnerAction", "OwnerLog", "Pause", "Phase", "Policy",
    "PublishRelease", "RefuseOther", "RefuseOwner", "Rejected", "ReleaseNow", "RemindOwner",
    "Resume", "Revoke", "ShareAccepted", "Status", "SubmitServerShares", "SwitchState",
    "Tick", "Vote", "WithdrawVote", "arm", "canary_in_time", "decide", "owner_view", "replace",
]  # fmt: skip


def arm(
    policy: Policy, threshold: int, now: int, peer_wait: int = 0
) -> tuple[SwitchState, list[Effect]]:
    """A new switch, armed at ``now`` with its first deadline one interval away.
    ``peer_wait``: on a switch with several servers, how long to wait for the peers'
    answer before counting the owner silent (0: this server alone)."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if peer_wait < 0:
        raise ValueError("peer_wait must be 0 or more")
    state = SwitchState(
        policy=policy,
        threshold=threshold,
        deadline=now + policy.interval,
        since=now,
        counted_from=now,
        peer_wait=peer_wait,
    )
    return state, [Audit("armed", f"first check-in due at {state.deadline}")]


def decide(state: SwitchState, event: Event, now: int) -> tuple[SwitchState, list[Effect]]:
    """The one place a switch changes: return the new state and what must happen.

    Raises :class:`Rejected` (and changes nothing) for an event the state does not allow.
    """
    if isinstance(event, Duress):
        return _duress(state, event.action, now)
    if state.decoy is not None:
        return _with_decoy(state, event, now)
    return _decide(state, event, now)
