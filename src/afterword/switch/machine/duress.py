"""The machine's rules on duress: an owner action under duress is answered as the real one
would be while the switch triggers silently (maybe delayed), and the decoy it leaves lives
on beside the truth: owner-facing answers, mail and log come from the decoy
(:func:`owner_view`, ``_for_owner``), everyone else gets the truth (``_with_decoy``).

Separate because these rules run the others twice, once on each world; they sit above the
dispatcher and call ``_decide`` downward, for the decoy and for the truth.
"""

from __future__ import annotations

import contextlib

from afterword.switch.effects import (
    OWNER_EFFECTS,
    Alert,
    Audit,
    Effect,
    OwnerLog,
    RefuseOther,
    RefuseOwner,
)
from afterword.switch.events import (
    AddCanary,
    CanaryAlarm,
    CanaryCheckIn,
    Event,
    OwnerAction,
    ShareAccepted,
    Status,
    Tick,
    Vote,
    WithdrawVote,
)
from afterword.switch.machine.canaries import _add_canary, _overdue_alarms
from afterword.switch.machine.dispatch import _decide
from afterword.switch.machine.rejected import Rejected
from afterword.switch.machine.schedule import _trigger
from afterword.switch.machine.settings import _settle_settings
from afterword.switch.state import LIVE, Cause, SwitchState, replace


def owner_view(state: SwitchState) -> SwitchState:
    """What owner-facing answers and pages show: the decoy after duress, else the truth."""
    return state.decoy if state.decoy is not None else state


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
