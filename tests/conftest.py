"""Shared fixtures: real keys, real age identities, real bundles on disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.engine import Engine


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM stops a run as Ctrl-C does, fixtures torn down (the crash suite's servers
    stopped, the simulation's totals printed): ``make soak`` runs its suites as background
    jobs, which ignore SIGINT, and passes an interrupt on to them as SIGTERM."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


PASSPHRASE = "correct horse battery staple"


def require_tool(name: str) -> str:
    """The path of a system tool the tests use as an independent reference; fail if absent."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (Debian package)")
    return path


@pytest.fixture(scope="session")
def owner() -> OwnerKey:
    return OwnerKey.generate()


@pytest.fixture(scope="session")
def owner_keyfile(tmp_path_factory: pytest.TempPathFactory, owner: OwnerKey) -> Path:
    path = tmp_path_factory.mktemp("owner") / "owner.key"
    owner.save(path, PASSPHRASE)
    return path


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str
    path: Path


@pytest.fixture(scope="session")
def make_age_key(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], AgeKey]:
    folder = tmp_path_factory.mktemp("agekeys")

    def make(name: str) -> AgeKey:
        identity = pyrage.x25519.Identity.generate()
        path = folder / f"{name}.key"
        path.write_text(f"# created for tests\n{identity}\n")
        return AgeKey(str(identity), str(identity.to_public()), path)

    return make


def write_corpus(root: Path) -> dict[str, bytes]:
    """Nested folders, unicode names, an empty file, binary data; returns path -> bytes."""
    files = {
        "evidence/ledger.csv": b"date,amount\n2024-01-01,100\n",
        "evidence/photos/\u00e9t\u00e9 \u5199\u771f.jpg": os.urandom(70_000),
        "evidence/empty.txt": b"",
        "evidence/deep/a/b/c/notes.md": "caf\u00e9 \u2014 na\u00efve\n".encode(),
        "evidence/exactly-one-chunk.bin": os.urandom(65536),
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@dataclass(frozen=True)
class Sealed:
    result: SealResult
    corpus: dict[str, bytes]
    source: Path
    keys: dict[str, AgeKey]

    @property
    def bundle(self) -> Path:
        return self.result.bundle


@pytest.fixture
def sealed(tmp_path: Path, owner: OwnerKey, make_age_key: Callable[[str], AgeKey]) -> Sealed:
    """A 2-of-3 bundle: alice and bob hold age envelopes, carol a paper card."""
    source = tmp_path / "src"
    corpus = write_corpus(source)
    keys = {"alice": make_age_key("alice"), "bob": make_age_key("bob")}
    custodians = [
        Custodian("alice", keys["alice"].recipient),
        Custodian("bob", keys["bob"].recipient),
        Custodian("carol", "paper"),
    ]
    result = seal_bundle(
        [source / "evidence"],
        tmp_path / "bundle",
        owner,
        custodians,
        2,
        conditions="If I stop checking in, publish.",
    )
    return Sealed(result, corpus, source, keys)


def arm_bundle(
    engine: Engine,
    bundle: Path,
    *,
    custodians: Mapping[str, Any] | None = None,
    server_share: bool = True,
    **arm: Any,
) -> dict[str, Any]:
    """Arm a sealed bundle folder on ``engine`` as an owner's upload would: its manifest,
    notice, roster (or ``custodians``, a hostile one), dossier and, with ``server_share``,
    the server's own envelope; the rest (policy, contacts, ...) as ``Engine.arm`` takes it."""
    if "server_envelopes" not in arm:
        own = {"server": (bundle / "shares" / "server.age").read_bytes()} if server_share else {}
        arm["server_envelopes"] = own
    with open(bundle / "dossier.age", "rb") as dossier:
        return engine.arm(
            manifest=json.loads((bundle / "manifest.json").read_text()),
            notice=json.loads((bundle / "notice.json").read_text()),
            custodians=custodians or json.loads((bundle / "custodians.json").read_text()),
            dossier=dossier,
            **arm,
        )


def seal_throwaways(folder: Path, owner: OwnerKey, count: int) -> list[SealResult]:
    """An attacker's throwaway bundles: 1 of 1, one paper custodian (carol), one document."""
    doc = folder / "nothing.txt"
    doc.write_text("nothing")
    return [
        seal_bundle([doc], folder / f"t{i}", owner, [Custodian("carol", "paper")], 1)
        for i in range(count)
    ]
