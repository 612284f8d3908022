"""Whole lifecycles on the real engine in virtual time, with faults; see sim.py.

``make test`` runs a short seed set; ``make soak SEEDS=...`` runs many. A failing seed is
named in the failure, with the command that replays it.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from afterword.engine import ServerKeys
from afterword.engine import apply as apply_module
from afterword.engine import outbox as outbox_module
from afterword.switch import machine
from afterword.switch.policy import Policy
from afterword.worker.loop import run_once
from tests.simulation.conftest import TOTALS, lifecycles_per_seed, seeds
from tests.simulation.hostile import ATTACKER
from tests.simulation.sim import DAY, HOUR, JITTER, Simulation, Stats, Violation
from tests.simulation.world import Clock, Faults, PoolBundle, RecordingSender, Server, arm_bundle

pytestmark = pytest.mark.slow  # a minute of lifecycles: make test runs it, test-fast not


@pytest.fixture
def world(server_dir: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = server_dir / request.node.name.replace("/", "_").replace("[", "-").rstrip("]")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def keys_of(server_dir: Path) -> ServerKeys:
    return ServerKeys.load_or_create(server_dir / "keys")


def simulate(
    seed: int,
    pool: list[PoolBundle],
    server_dir: Path,
    world: Path,
    n: int,
    *,
    broken: bool = False,
    **options: Any,
) -> Stats:
    sim = Simulation(seed, pool, keys_of(server_dir), world, **options)
    try:
        return sim.run(n)
    finally:
        if not broken:  # the broken services' runs are not part of the tally
            TOTALS.merge(sim.stats)


@pytest.mark.parametrize("seed", seeds())
def test_lifecycles_with_faults_keep_every_promise(
    seed: int, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    replay = f"replay: AFTERWORD_SIM_SEED={seed} .venv/bin/pytest tests/simulation -k 'keep_every'"
    try:
        stats = simulate(seed, pool, server_dir, world, lifecycles_per_seed())
    except Violation as exc:
        pytest.fail(f"{exc}\n{replay}")
    assert stats.violations == []
    assert stats.lifecycles >= lifecycles_per_seed()
    # the schedule did what it is for: faults struck, and switches reached their ends
    assert sum(stats.faults.values()) > 0, stats.faults
    assert sum(n for k, n in stats.outcomes.items() if k.startswith("released")) > 0


def test_lifecycles_without_faults_keep_every_promise(
    pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    stats = simulate(7, pool, server_dir, world, 16, faults=False)
    assert stats.violations == []
    assert not any(k.startswith("kill") for k in stats.faults)


# --- the oracle can fail: each of these breaks the service on purpose -------------------


def _break_decide(monkeypatch: pytest.MonkeyPatch, breakage: Any) -> None:
    real = machine.decide

    def broken(state: machine.SwitchState, event: machine.Event, now: int) -> Any:
        return breakage(real, state, event, now)

    monkeypatch.setattr(apply_module, "decide", broken)


def test_a_service_that_skips_the_waiting_period_is_caught(
    monkeypatch: pytest.MonkeyPatch, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    def early(real: Any, state: Any, event: Any, now: int) -> Any:
        new, effects = real(state, event, now)
        if new.phase is machine.Phase.TRIGGERED and new.policy.waiting:
            new = dataclasses.replace(new, since=new.since - new.policy.waiting)
        return new, effects

    _break_decide(monkeypatch, early)
    with pytest.raises(Violation, match=r"waiting period|the model justifies"):
        simulate(11, pool, server_dir, world, 64, broken=True, faults=False)


def test_a_service_that_ignores_check_ins_is_caught(
    monkeypatch: pytest.MonkeyPatch, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    def deaf(real: Any, state: Any, event: Any, now: int) -> Any:
        if isinstance(event, machine.CheckIn):
            return state, []
        return real(state, event, now)

    _break_decide(monkeypatch, deaf)
    with pytest.raises(Violation, match="no such cause held"):
        simulate(12, pool, server_dir, world, 64, broken=True, faults=False)


def test_a_service_whose_retries_differ_is_caught(
    monkeypatch: pytest.MonkeyPatch, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    real = outbox_module._message
    attempts: dict[str, int] = {}

    def drifting(row: Any) -> Any:
        message = real(row)
        attempts[row.id] = attempts.get(row.id, 0) + 1
        return dataclasses.replace(message, text=f"{message.text}\nattempt {attempts[row.id]}")

    monkeypatch.setattr(outbox_module, "_message", drifting)
    with pytest.raises(Violation, match="two different release messages"):
        simulate(13, pool, server_dir, world, 64, broken=True, faults=False, mail_failing=0.6)


def test_a_service_that_forgets_the_disarm_cooling_off_is_caught(
    monkeypatch: pytest.MonkeyPatch, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    def hasty(real: Any, state: Any, event: Any, now: int) -> Any:
        new, effects = real(state, event, now)
        if new.phase is machine.Phase.DISARMING:
            new = dataclasses.replace(new, disarm_ends=now)
        return new, effects

    _break_decide(monkeypatch, hasty)
    with pytest.raises(Violation, match="disarmed at"):
        simulate(14, pool, server_dir, world, 96, broken=True, faults=False)


def test_a_service_that_lengthens_settings_at_once_is_caught(
    monkeypatch: pytest.MonkeyPatch, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    """Item 14: settings past max_pause that skip the cooling-off are a quiet stop."""

    def quiet(real: Any, state: Any, event: Any, now: int) -> Any:
        new, effects = real(state, event, now)
        if isinstance(event, machine.ChangePolicy) and new.settings_pending is not None:
            new = dataclasses.replace(
                new, policy=new.settings_pending, settings_pending=None, settings_at=0
            )
        return new, effects

    _break_decide(monkeypatch, quiet)
    with pytest.raises(Violation, match="took effect at once"):
        simulate(15, pool, server_dir, world, 64, broken=True, faults=False)


def test_lifecycles_on_postgresql_keep_every_promise(
    pg_url: str, pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    """The same world on PostgreSQL (row locks, SKIP LOCKED claims), a smaller seed set."""
    for seed in seeds()[:2]:
        stats = simulate(seed + 500, pool, server_dir, world / str(seed), 8, url=pg_url)
        assert stats.violations == []
        assert stats.lifecycles >= 8


# --- hostile neighbours (hostile.py) -----------------------------------------------------


@pytest.mark.parametrize("seed", seeds()[::2])  # make soak: half its seeds again
def test_lifecycles_among_hostile_neighbours_keep_every_promise(
    seed: int,
    pool: list[PoolBundle],
    hostile_pool: list[PoolBundle],
    server_dir: Path,
    world: Path,
) -> None:
    """The honest switches' promises, exactly as strict, with an attacker on the server:
    a lying roster, a poisoned switch, a crowd timed to a victim's deadline, floods."""
    replay = f"replay: AFTERWORD_SIM_SEED={seed} .venv/bin/pytest tests/simulation -k hostile"
    try:
        stats = simulate(
            seed + 9000, pool, server_dir, world, lifecycles_per_seed(), hostile=hostile_pool
        )
    except Violation as exc:
        pytest.fail(f"{exc}\n{replay}")
    assert stats.violations == []
    assert stats.lifecycles >= lifecycles_per_seed()
    # the attacker was there: every batch lied, and floods struck
    assert stats.actions["hostile-roster-lie"] == stats.batches
    # the poisoned switch's release ran and failed alone, every batch
    assert stats.actions["hostile-poisoned-quarantined"] == stats.batches, stats.actions
    assert sum(n for k, n in stats.actions.items() if k.startswith("flood-")) > 0
    assert sum(n for k, n in stats.outcomes.items() if k.startswith("released")) > 0


CROWD_BREAKER = 5  # an operator's setting: more than 5 triggers in one pass are held


def crowd_world(
    pool: list[PoolBundle], hostile_pool: list[PoolBundle], server_dir: Path, world: Path
) -> tuple[Server, str, int]:
    """A victim (an honest 1-of-n switch: the server's share releases it) and a crowd of
    the attacker's throwaway switches, more than the breaker lets through, armed to
    trigger in the very second the victim's grace ends. Returns the server, the victim's
    id and the instant its release is due (grace end + waiting)."""
    clock = Clock()
    world.mkdir(parents=True, exist_ok=True)
    server = Server(f"sqlite:///{world / 'afterword.db'}", world / "data", keys_of(server_dir),
                    clock, Faults())  # fmt: skip
    server.breaker = CROWD_BREAKER
    server.kill()  # started again with the breaker's setting
    victim = next(b for b in pool if b.threshold == 1)
    policy = Policy(interval=DAY, grace=HOUR, waiting=HOUR)
    arm_bundle(server, victim, policy)
    for bundle in hostile_pool:
        arm_bundle(
            server, bundle, Policy(interval=DAY + HOUR, grace=0, waiting=0), ATTACKER, (ATTACKER,)
        )
    assert len(hostile_pool) > CROWD_BREAKER
    return server, victim.switch, clock.now + DAY + HOUR + HOUR


def run_crowd_until(server: Server, until: int, sender: RecordingSender) -> None:
    """The worker, every minute of virtual time; nobody answers the breaker's alert."""
    while server.clock.now < until:
        server.clock.now += 60
        run_once(server.engine, sender)


def test_a_crowd_timed_to_a_victims_deadline_releases_nothing_early(
    pool: list[PoolBundle], hostile_pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    server, victim, due = crowd_world(pool, hostile_pool, server_dir, world)
    try:
        sender = RecordingSender(random.Random(0))
        run_crowd_until(server, due - 120, sender)
        assert server.engine.status(victim)["state"] in ("armed", "overdue", "triggered")
        # the crowd's own switches release (they are the attacker's); the victim does not
        early = [m for m in sender.received if m.data.get("event") == "released"]
        assert not [m for m in early if victim in m.id], [m.id for m in early]
        assert early, "the crowd did not strike: the test proves nothing"
    finally:
        server.close()


def test_a_crowd_timed_to_a_victims_deadline_does_not_hold_the_victim(
    pool: list[PoolBundle], hostile_pool: list[PoolBundle], server_dir: Path, world: Path
) -> None:
    server, victim, due = crowd_world(pool, hostile_pool, server_dir, world)
    try:
        run_crowd_until(server, due + 10 * JITTER, RecordingSender(random.Random(0)))
        assert server.engine.status(victim)["state"] == "released"  # on time, operator or not
    finally:
        server.close()
