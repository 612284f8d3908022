"""Issue 15, item 10: a duress owner action does the database work of the real one.

A coercer who times the server's answers must not learn which credential was used, so
the statements an owner action sends (their verb and table) must be the same for the
real and the duress credential, for every owner action, on twin switches with the same
history: fresh, and after one earlier action (real in the real twin, duress in the other:
there a decoy stands). Counted on the real store engine with SQLAlchemy's
``before_cursor_execute``, which hears every statement (``afterword.store.sql`` too).

Rows written may differ by a few within those statements (the duress entry and, when it
triggers at once, the custodians' notices; a real release's own entries and kept share).
``benchmarks/duress_timing.py`` measures the time over HTTP."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from afterword.crypto.keys import OwnerKey
from afterword.errors import AfterwordError
from afterword.store import Store
from tests.engine.test_two_worlds import (  # noqa: F401  (fixture: the module's bundle)
    DURESS_PASSWORD,
    LONG,
    PASSWORD,
    Fixture,
    fixture,
    make_world,
    signed,
)

ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("checkin", {}),
    ("status", {}),
    ("audit", {}),
    ("pause", {"in": 3000}),
    ("resume", {}),  # refused: not paused
    ("abort", {}),  # refused while armed; taken once triggered
    ("release", {}),  # through the waiting period
    ("release", {"skip_waiting": True}),
    ("disarm", {}),
    ("settings", {"interval": 5400, "grace": 900}),
    ("settings", {"recipients": ["mailto:x@example.org"]}),
    ("canary-add", {"name": "mother", "interval": 2400, "grace": 300, "on_miss": "trigger"}),
    ("revoke", {"custodian": "alice"}),
    ("set-duress", {"duress_password": "another one"}),
]
TABLES = ("switches", "audit", "owner_log", "outbox", "nonces", "clients", "shares",
          "canary_tokens", "refusals")  # fmt: skip
_TABLE = re.compile(r'^(?:INSERT INTO|UPDATE|DELETE FROM|COPY|SELECT .*? FROM) "?(\w+)', re.I)


def shape(statement: str) -> tuple[str, str]:
    """A statement as (verb, table): its literals and parameters do not count."""
    text = " ".join(statement.split())
    match = _TABLE.match(text)
    return text.split(" ", 1)[0].upper(), match.group(1) if match else ""


def work(
    fx: Fixture, owner: OwnerKey, action: str, params: dict[str, Any], *, duress: bool,
    before: bool, delay: int, via: str,
) -> tuple[Counter[tuple[str, str]], dict[str, int], Any]:  # fmt: skip
    """One owner action on a new switch: its statements as (verb, table), the rows it
    added to each table, and its answer."""
    world = make_world(fx, owner, delay)
    engine, key = world.engine, fx.duress_key if duress else owner
    password = DURESS_PASSWORD if duress else PASSWORD

    def act(action: str, params: dict[str, Any], request: Any = None) -> Any:
        try:
            if via == "password":
                answer = engine.password_action(world.switch, password, None, action, params)
            else:
                answer = engine.owner_request(world.switch, request or signed(key, world, action))
        except AfterwordError as exc:
            return ("refused", exc.message)
        return ("ok", answer.get("state", answer.get("afterword")))

    try:
        if before:  # the same history in both twins, but for the credential
            act("checkin", {})
            world.clock.now += 60
        params = dict(params)
        if "in" in params:
            params = {"until": world.clock.now + params.pop("in")}
        # a challenge is no database work: asked before the counting starts
        request = signed(key, world, action, **params) if via == "signed" else None
        counts = _counts(world.store)
        heard, answer = statements(world.store, lambda: act(action, params, request))
        added = {t: n - counts[t] for t, n in _counts(world.store).items() if n != counts[t]}
        return heard, added, answer
    finally:
        world.store.close()


def statements(store: Store, call: Callable[[], Any]) -> tuple[Counter[tuple[str, str]], Any]:
    """What ``call`` sends to the store's database, as (verb, table), and what it returns."""
    heard: list[tuple[str, str]] = []
    listen = lambda *args: heard.append(shape(args[2]))  # noqa: E731
    sa.event.listen(store.engine, "before_cursor_execute", listen)
    try:
        result = call()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", listen)
    return Counter(heard), result


def _counts(store: Store) -> dict[str, int]:
    with store.connection() as c:
        return {
            table: int(c.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one())
            for table in TABLES
        }


@pytest.mark.parametrize("delay", [0, LONG], ids=["trigger-now", "trigger-later"])
@pytest.mark.parametrize("before", [False, True], ids=["fresh", "decoy-stands"])
def test_a_duress_action_sends_the_statements_of_the_real_one(
    fixture: Fixture,  # noqa: F811  (the bundle fixture of test_two_worlds)
    owner: OwnerKey,
    before: bool,
    delay: int,
) -> None:
    for i, (action, params) in enumerate(ACTIONS):
        via = ("password", "signed")[i % 2]
        case = {"before": before, "delay": delay, "via": via}
        real = work(fixture, owner, action, params, duress=False, **case)
        forced = work(fixture, owner, action, params, duress=True, **case)
        what = f"{action} {params} ({via})"
        assert forced[2] == real[2], f"{what}: the answers differ (the twins are not twins)"
        assert forced[0] == real[0], (
            f"{what}: only under duress {dict(forced[0] - real[0])}, "
            f"only for real {dict(real[0] - forced[0])}"
        )
        # rows, within those statements, may differ by a few: the duress entry, the
        # trigger's entry and notices, a protected person added in the truth as well as
        # the decoy; the real release's own entries, notice and kept share (4 at most)
        more = sum(forced[1].values()) - sum(real[1].values())
        assert abs(more) <= 4, f"{what}: rows added for real {real[1]}, under duress {forced[1]}"


def wrong_guess(fx: Fixture, owner: OwnerKey, door: str, *, duress: bool) -> Counter[Any]:
    """The statements of a wrong guess at ``door``, after a check-in (a duress one: a
    decoy stands)."""
    world = make_world(fx, owner, LONG)
    engine, switch = world.engine, world.switch
    try:
        password = DURESS_PASSWORD if duress else PASSWORD
        engine.password_action(switch, password, None, "checkin")
        world.clock.now += 60
        request = signed(fx.forger, world, "checkin")

        def guess() -> Any:
            try:
                if door == "password":
                    return engine.password_action(switch, "not it", None, "checkin")
                return engine.owner_request(switch, request)
            except AfterwordError as exc:
                return exc.message

        heard, answer = statements(world.store, guess)
        assert answer in ("wrong password or code", "the request's signature does not "
                          "verify with the owner key")  # fmt: skip
        return heard
    finally:
        world.store.close()


@pytest.mark.parametrize("door", ["password", "signed"])
def test_a_wrong_guess_costs_the_same_whether_a_decoy_stands_or_not(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
    door: str,
) -> None:
    """A coercer can time a wrong password (or a forged request) of their own: once a
    decoy stands, the refusal is written to the owner's log too, so it is without one."""
    real = wrong_guess(fixture, owner, door, duress=False)
    forced = wrong_guess(fixture, owner, door, duress=True)
    assert forced == real, f"only with a decoy {forced - real}, only without {real - forced}"
    assert real[("INSERT", "owner_log")] == 1
