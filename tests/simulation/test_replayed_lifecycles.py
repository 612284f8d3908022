"""Lifecycles that once broke a promise, each replayed as small as it gets: a kill right
after disarming leaves no dossier, and the seeds a full soak failed keep every promise."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from afterword.engine import ServerKeys
from afterword.store.models import ServerEnvelopeRow, ShareRow
from afterword.switch.policy import Policy
from tests.simulation.sim import Simulation, signed_request
from tests.simulation.world import Clock, Crash, Faults, PoolBundle, Server, arm_bundle

HOUR = 3600


def test_a_kill_right_after_disarming_still_leaves_no_dossier(
    pool: list[PoolBundle], server_dir: Path, tmp_path: Path
) -> None:
    """Found with the simulation's kill point between a commit and its after-commit work:
    the disarm's commit (whose signed log says the dossier was deleted) landed, the unlink
    never ran, and nothing deleted the file after a restart. Fixed by ``Engine.sweep`` on a
    worker's first pass (058ccc9)."""
    bundle = pool[0]
    clock, faults = Clock(), Faults()
    keys = ServerKeys.load_or_create(server_dir / "keys")
    server = Server(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "data", keys, clock, faults)
    try:
        arm_bundle(server, bundle, Policy(interval=48 * HOUR, cooling_off=HOUR))
        signed_request(server.engine, bundle.switch, bundle.owner, "disarm")
        clock.now += 2 * HOUR
        faults.at = "after-commit"
        with pytest.raises(Crash):
            server.engine.tick()  # disarmed and committed; killed before the file goes
        server.kill()  # restarted
        server.engine.tick()
        assert server.engine.status(bundle.switch)["state"] == "disarmed"
        assert server.store is not None
        with server.store.transaction() as s:
            kept = s.scalar(select(func.count()).select_from(ShareRow)) or 0
            kept += s.scalar(select(func.count()).select_from(ServerEnvelopeRow)) or 0
        assert kept == 0  # the rows went with the commit
        assert not server.engine.dossier_path(bundle.switch).exists()
    finally:
        server.close()


@pytest.mark.slow  # seconds of lifecycles: make test runs them, test-fast not
@pytest.mark.parametrize("seed", [2315, 2867, 3584, 3694])
def test_the_seeds_the_full_soak_failed_now_keep_every_promise(
    seed: int, pool: list[PoolBundle], server_dir: Path, tmp_path: Path
) -> None:
    """The first full ``make soak`` (199e097, seeds 1000-5199) failed these four; each
    replays a violation step for step on that code. 2315: with the worker down, a
    protected person's silence ran out during a disarm's cooling-off, their late check-in
    erased it, and the disarm then deleted the dossier; 3694: an owner's abort did not
    spend a silence no tick had seen, which triggered after it; 2867 and 3584: a duress
    check-in during the cooling-off, its delayed trigger lost to the disarm. The rules
    are pinned in tests/switch/test_coercion.py (the two tests after the canary alarms)."""
    sim = Simulation(seed, pool, ServerKeys.load_or_create(server_dir / "keys"), tmp_path)
    stats = sim.run(24)
    assert stats.violations == [] and stats.lifecycles >= 24
