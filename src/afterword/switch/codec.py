"""SwitchState <-> plain JSON values, for storage. Pure and lossless.

A stored state that cannot be read back is refused loudly (``ValueError``), never guessed
at: a wrong guess could release a switch, or lose one.
"""

from __future__ import annotations

from typing import Any

from afterword.switch.policy import DEFAULT_COOLING_OFF, Policy
from afterword.switch.state import Canary, Cause, Phase, SwitchState

VERSION = 1


def policy_to_json(policy: Policy) -> dict[str, Any]:
    return {
        "interval": policy.interval,
        "grace": policy.grace,
        "waiting": policy.waiting,
        "reminders": list(policy.reminders),
        "max_pause": policy.max_pause,
        "cooling_off": policy.cooling_off,
        "duress_delay": policy.duress_delay,
    }


def policy_from_json(data: dict[str, Any]) -> Policy:
    return Policy(
        interval=int(data["interval"]),
        grace=int(data["grace"]),
        waiting=int(data["waiting"]),
        reminders=tuple(int(r) for r in data["reminders"]),
        max_pause=int(data["max_pause"]),
        cooling_off=int(data.get("cooling_off", DEFAULT_COOLING_OFF)),
        duress_delay=int(data.get("duress_delay", 0)),
    )


def state_to_json(state: SwitchState) -> dict[str, Any]:
    decoy = state_to_json(state.decoy) if state.decoy is not None else None
    return {
        "decoy": decoy,
        "votes": sorted(state.votes),
        "revoked": sorted(state.revoked),
        "canaries": [
            {
                "name": c.name,
                "interval": c.interval,
                "grace": c.grace,
                "trigger": c.trigger,
                "deadline": c.deadline,
                "last_checkin": c.last_checkin,
                "missed": c.missed,
            }
            for c in state.canaries
        ],
        "duress_at": state.duress_at,
        "disarm_ends": state.disarm_ends,
        "settings_pending": _policy_or_none(state.settings_pending),
        "settings_at": state.settings_at,
        "told": _policy_or_none(state.told),
        "v": VERSION,
        "policy": policy_to_json(state.policy),
        "threshold": state.threshold,
        "phase": state.phase.value,
        "deadline": state.deadline,
        "since": state.since,
        "reminded": sorted(state.reminded),
        "paused_until": state.paused_until,
        "cause": state.cause.value if state.cause else None,
        "triggered_at": state.triggered_at,
        "shares": sorted(state.shares),
        "released_at": state.released_at,
        "last_checkin": state.last_checkin,
        "checkins": state.checkins,
        "counted_from": state.counted_from,
        # federation only (a switch on one server stores what it stored before)
        **({"peer_wait": state.peer_wait, "asked_at": state.asked_at} if state.peer_wait else {}),
        **({"missed_by": state.missed_by} if state.missed_by else {}),
    }


def state_from_json(data: dict[str, Any]) -> SwitchState:
    if data.get("v") != VERSION:
        raise ValueError(f"stored switch state has unknown version {data.get('v')!r}")
    try:
        return SwitchState(
            policy=policy_from_json(data["policy"]),
            threshold=int(data["threshold"]),
            phase=Phase(data["phase"]),
            deadline=int(data["deadline"]),
            since=int(data["since"]),
            reminded=frozenset(int(t) for t in data["reminded"]),
            paused_until=int(data["paused_until"]),
            cause=Cause(data["cause"]) if data["cause"] is not None else None,
            # states stored before it was kept: 0, the engine then reads the audit log's time
            triggered_at=int(data.get("triggered_at", 0)),
            shares=frozenset(str(s) for s in data["shares"]),
            released_at=int(data["released_at"]),
            last_checkin=int(data["last_checkin"]),
            checkins=int(data["checkins"]),
            # states stored before it was kept: the last check-in is the best lower bound
            counted_from=int(data.get("counted_from", data["last_checkin"])),
            votes=frozenset(str(v) for v in data.get("votes", [])),
            revoked=frozenset(str(v) for v in data.get("revoked", [])),
            canaries=tuple(_canary(c) for c in data.get("canaries", [])),
            duress_at=int(data.get("duress_at", 0)),
            disarm_ends=int(data.get("disarm_ends", 0)),
            decoy=state_from_json(data["decoy"]) if data.get("decoy") else None,
            # states stored before settings could be pending: none pending, and the
            # custodians' last word the settings in force (the best that can be known)
            settings_pending=_policy_from(data.get("settings_pending")),
            settings_at=int(data.get("settings_at", 0)),
            told=_policy_from(data.get("told")),
            peer_wait=int(data.get("peer_wait", 0)),
            asked_at=int(data.get("asked_at", 0)),
            missed_by=str(data.get("missed_by", "")),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"stored switch state is incomplete: {exc}") from exc


def _policy_or_none(policy: Policy | None) -> dict[str, Any] | None:
    return None if policy is None else policy_to_json(policy)


def _policy_from(data: dict[str, Any] | None) -> Policy | None:
    return None if data is None else policy_from_json(data)


def _canary(data: dict[str, Any]) -> Canary:
    return Canary(
        name=str(data["name"]),
        interval=int(data["interval"]),
        grace=int(data["grace"]),
        trigger=bool(data["trigger"]),
        deadline=int(data["deadline"]),
        last_checkin=int(data["last_checkin"]),
        missed=bool(data["missed"]),
    )
