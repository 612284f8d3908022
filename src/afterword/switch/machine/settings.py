"""The machine's rules on a switch's settings: a change of policy, in force at once or
pending for a cooling-off when it lengthens the wait for a release too far, and pending
settings settling once that cooling-off is over (or dropped by a miss, a trigger or the
switch's end).

Separate because these rules answer one question (may the wait for a release grow, and
when) that no other subject asks; ``_cooled_off`` is here, the disarm's schedule reads
it too.
"""

from __future__ import annotations

import dataclasses

from afterword.errors import AfterwordError
from afterword.switch.effects import Audit, Effect, NotifyCustodians
from afterword.switch.events import ChangePolicy
from afterword.switch.machine.rejected import Rejected
from afterword.switch.policy import Policy
from afterword.switch.state import LIVE, Phase, SwitchState, replace


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
