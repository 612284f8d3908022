"""The simulation's shared pieces: one pool of sealed bundles per test session (sealing
is the expensive part), the seeds to run, and a summary of what was simulated."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from afterword.engine import ServerKeys, passwords
from tests.simulation.federated import FedStats
from tests.simulation.sim import Stats
from tests.simulation.world import PoolBundle, seal_pool
from tests.store.conftest import pg_url  # noqa: F401

POOL = 8
TOTALS = Stats()
FED_TOTALS = FedStats()  # the federated simulation's (test_federated.py)


def seeds() -> list[int]:
    """``AFTERWORD_SIM_SEED=N`` replays one seed; ``AFTERWORD_SEEDS`` (from ``make soak
    SEEDS=...``) is a list (``1,5,9``), a range (``1-500``) or a count (``500``: seeds
    1000-1499); otherwise the short set ``make test`` runs."""
    one = os.environ.get("AFTERWORD_SIM_SEED", "").strip()
    if one:
        return [int(one)]
    text = os.environ.get("AFTERWORD_SEEDS", "").strip()
    if not text:
        return [1, 2, 3, 4]
    if "-" in text:
        low, high = text.split("-", 1)
        chosen = list(range(int(low), int(high) + 1))
    elif "," in text:
        chosen = [int(s) for s in text.split(",") if s.strip()]
    else:
        chosen = list(range(1000, 1000 + int(text)))
    # AFTERWORD_SIM_SHARD=i/n: this process takes every n-th seed (make soak runs n at once)
    shard, _, shards = os.environ.get("AFTERWORD_SIM_SHARD", "0/1").partition("/")
    return chosen[int(shard) :: int(shards)]


def lifecycles_per_seed() -> int:
    return int(os.environ.get("AFTERWORD_SIM_LIFECYCLES", "24"))


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Where each seed's world lives: on tmpfs when there is one (fsyncs cost nothing
    there, and the simulation is about logic, not disks; the crash suite covers disks)."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("sim")
        return
    folder = shm / f"afterword-sim-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pool(server_dir: Path) -> list[PoolBundle]:
    keys = ServerKeys.load_or_create(server_dir / "keys")
    return seal_pool(server_dir / "pool", keys, POOL, random.Random(0))


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """scrypt's parameters travel with each hash (engine/passwords.py), so the simulation
    hashes with cheap ones: the same code paths, microseconds instead of 60 ms a password.
    For the simulation's tests only: the rest of the suite keeps the real cost."""
    monkeypatch.setattr(passwords, "N", 2**4)


@pytest.fixture(autouse=True)
def quiet_logs() -> Iterator[None]:
    """The faults make the service log loudly (that is its job); not the test's output."""
    logging.disable(logging.CRITICAL)
    yield
    logging.disable(logging.NOTSET)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The totals, and with ``AFTERWORD_SIM_REPORT=FILE`` in FILE too: the single-server
    simulation's as before, and the federated one's under ``"federated"``."""
    if not TOTALS.batches and not FED_TOTALS.lifecycles:
        return
    summary = TOTALS.summary() if TOTALS.batches else {}
    if summary:
        terminalreporter.write_line("simulation: " + json.dumps(summary))
    if FED_TOTALS.lifecycles:
        summary["federated"] = FED_TOTALS.summary()
        terminalreporter.write_line("federated simulation: " + json.dumps(summary["federated"]))
    report = os.environ.get("AFTERWORD_SIM_REPORT")
    if report:
        Path(report).write_text(json.dumps(summary, indent=1) + "\n")


@pytest.fixture(scope="session")
def hostile_pool(server_dir: Path) -> list[PoolBundle]:
    """The attacker's own bundles, sealed for the same server (see hostile.py)."""
    keys = ServerKeys.load_or_create(server_dir / "keys")
    return seal_pool(server_dir / "hostile-pool", keys, 8, random.Random(1))
