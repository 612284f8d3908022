"""What the two-worlds tests share (tests/engine/test_two_worlds.py on the engine,
tests/web/test_two_worlds_http.py over HTTP): the random script, the rule that a coerced
owner stays coerced, the masking of what is random per world, and the failure message.

A script is a list of steps; an owner step is ``("owner", (action, params), via, forced)``
where ``forced`` means "under duress, in the duress world". The other steps are played
alike in both worlds: time passing with a worker pass, wrong passwords, forged requests,
custodians (who are not the owner: they use their codes), shares and protected people."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from afterword.engine import Config, Engine, ServerKeys
from afterword.store import Store

# keys whose values are random per world: canary links, challenge nonces
MASKED_KEYS = frozenset({"token", "duress_token", "url", "duress_url", "nonce"})

OWNER_ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("checkin", {}),
    ("status", {}),
    ("audit", {}),
    ("pause", {"in": 3000}),
    ("resume", {}),
    ("abort", {}),
    ("release", {"skip_waiting": True}),
    ("disarm", {}),
    ("settings", {"interval": 5400, "grace": 900}),
    ("settings", {"waiting": 1200}),
    ("canary-add", {"name": "mother", "interval": 2400, "grace": 300, "on_miss": "trigger"}),
    ("canary-add", {"name": "sister", "interval": 1800, "grace": 0, "on_miss": "alert"}),
    ("revoke", {"custodian": "alice"}),
    # a day between check-ins: past max_pause, so pending for the cooling-off (item 14)
    ("settings", {"interval": 86400}),
    # issue 19: the owner's release through the waiting period (the default)
    ("release", {}),
]

OTHER_STEPS = [
    st.tuples(st.just("wait"), st.sampled_from([60, 300, 900, 1800, 2400, 3700])),
    st.tuples(st.just("wrong-password"), st.sampled_from(["checkin", "status"])),
    st.tuples(st.just("forged"), st.sampled_from(["checkin", "status", "abort"])),
    st.tuples(st.just("vote"), st.sampled_from(["alice", "carol"])),
    st.tuples(st.just("withdraw"), st.sampled_from(["alice", "carol"])),
    st.tuples(st.just("bad-code"), st.just("status")),
    st.tuples(st.just("share"), st.just("carol")),
    st.tuples(st.just("bad-share"), st.just("")),
    st.tuples(st.just("canary"), st.sampled_from(["mother", "sister"]), st.booleans()),
]


def script(vias: list[str], extra: tuple[Any, ...] = (), max_size: int = 14) -> Any:
    """Random scripts whose owner steps go by one of ``vias``; ``extra``: more step kinds."""
    owner_step = st.tuples(
        st.just("owner"),
        st.sampled_from(OWNER_ACTIONS),
        st.sampled_from(vias),
        st.booleans(),  # in the duress world: under duress (the coercer present)
    )
    other = st.one_of(*OTHER_STEPS, *extra)
    return st.lists(st.one_of(owner_step, owner_step, other), min_size=1, max_size=max_size)


def stay_coerced(steps: list[Any]) -> list[Any]:
    """From the first duress action on, every owner step is under duress.

    A release under way is truth the coercer must not see; the owner's real credentials
    would show it, so once coerced, the script stays coerced: a real action shows the
    truth, which differs from the real world wherever a duress action did not bind it (a
    trigger, a revoke, settings), and the next decoy starts from that truth. (The owner's
    log across duress, real, duress is pinned where the truth met is the real world's:
    tests/engine/test_two_worlds.py::test_a_real_action_between_duress_ones_keeps_the_first_decoys_log)"""
    first = next((i for i, s in enumerate(steps) if s[0] == "owner" and s[3]), None)
    if first is None:
        return steps
    return [(*s[:3], True) if s[0] == "owner" and i >= first else s for i, s in enumerate(steps)]


def mask(value: Any, strings: tuple[tuple[re.Pattern[str], str], ...] = ()) -> Any:
    """``value`` with what is random per world masked: the values of MASKED_KEYS, and in
    every string what the ``strings`` patterns match (replaced by their replacement)."""
    if isinstance(value, dict):
        return {k: "<masked>" if k in MASKED_KEYS else mask(v, strings) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(mask(v, strings) for v in value)
    if isinstance(value, str):
        for pattern, replacement in strings:
            value = pattern.sub(replacement, value)
    return value


def difference(forced: Any, real: Any) -> Any:
    """Where two observations differ, for the failure message."""
    if isinstance(forced, dict) and isinstance(real, dict):
        keys = sorted(set(forced) | set(real))
        return {
            k: difference(forced.get(k), real.get(k)) for k in keys if forced.get(k) != real.get(k)
        }
    if (
        isinstance(forced, list | tuple)
        and isinstance(real, list | tuple)
        and len(forced) == len(real)
    ):
        return [difference(f, r) for f, r in zip(forced, real, strict=True) if f != r]
    return {"duress world": forced, "real world": real}


def world_engine(template: Path, folder: Path, keys: ServerKeys, clock: Any) -> Engine:
    """An engine on a copy of the migrated, empty ``template`` database in ``folder``,
    on the virtual ``clock``: one world of a pair."""
    folder.mkdir()
    shutil.copy(template, folder / "afterword.db")
    store = Store(f"sqlite:///{folder / 'afterword.db'}")
    return Engine(store, keys, Config(folder, "http://127.0.0.1:9", min_duration=1), clock)


def assert_alike(
    steps: list[Any], delay: int, real: tuple[list[Any], Any], forced: tuple[list[Any], Any]
) -> None:
    """Each played step's observation (``(i, item, seen)``) and the final observations
    (a dict) of the real world and the duress world are the same, but for a real
    credential's own answers after a duress action (``"real-after-duress"``)."""
    for (i, item, real_seen), (_, _, forced_seen) in zip(real[0], forced[0], strict=True):
        if forced_seen == "real-after-duress":
            continue
        assert forced_seen == real_seen, (
            f"{steps} (delay {delay}): at step {i} {item}, what the owner sees differs: "
            f"{difference(forced_seen, real_seen)}"
        )
    for key, real_seen in real[1].items():
        assert forced[1][key] == real_seen, (
            f"{steps} (delay {delay}): the {key} differs: {difference(forced[1][key], real_seen)}"
        )
