"""The real app, served by uvicorn on loopback in a background thread, over both databases.

``api`` starts a fresh server per test on the ``store`` fixture (SQLite, then PostgreSQL);
``bundles`` seals two 2-of-3 bundles once per session (same owner, so one can be passed
off as the other): ``main`` and ``other``. Every test here also checks that nothing the
server logged holds a share's words or an age secret key.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyrage
import pytest
import uvicorn

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import ShareEnvelope
from afterword.engine import Config, Engine, ServerKeys
from afterword.store import Store
from afterword.store.models import SwitchRow
from afterword.web.app import create_app
from tests.conftest import AgeKey, write_corpus
from tests.delivery.servers import smtp_server  # noqa: F401
from tests.store.conftest import pg_url, store  # noqa: F401

T0 = 1_800_000_000
POLICY: dict[str, Any] = {"interval": 3600, "grace": 600, "waiting": 600, "reminders": [1800]}
CONTACTS: dict[str, Any] = {
    "owner": ["mailto:owner@example.org"],
    "custodians": {"carol": "mailto:carol@example.org"},
    "recipients": ["mailto:press@example.org", "https://hooks.example.org/release"],
}
PARTS = ("manifest", "notice", "custodians", "dossier")


class Clock:
    """The engine's clock: tests move it; the server thread reads it."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


@dataclass(frozen=True)
class Bundle:
    sealed: SealResult
    mnemonics: dict[str, str]  # custodian label -> share words

    @property
    def switch(self) -> str:
        return self.sealed.switch

    @property
    def path(self) -> Path:
        return self.sealed.bundle

    def part(self, name: str) -> bytes:
        return (self.path / ("dossier.age" if name == "dossier" else f"{name}.json")).read_bytes()

    def doc(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.part(name))
        return data

    def envelope(self, label: str) -> bytes:
        return (self.path / "shares" / f"{label}.age").read_bytes()


@dataclass(frozen=True)
class Bundles:
    main: Bundle
    other: Bundle
    owner: OwnerKey

    def mnemonics(self) -> list[str]:
        return [*self.main.mnemonics.values(), *self.other.mnemonics.values()]


def card_words(path: Path) -> str:
    text = path.read_text()
    body = text.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0]
    return " ".join(re.findall(r"[a-z]+", body))


@pytest.fixture(scope="session")
def server_keys(tmp_path_factory: pytest.TempPathFactory) -> ServerKeys:
    return ServerKeys.load_or_create(tmp_path_factory.mktemp("server-keys"))


@pytest.fixture(scope="session")
def bundles(
    tmp_path_factory: pytest.TempPathFactory,
    owner: OwnerKey,
    make_age_key: Callable[[str], AgeKey],
    server_keys: ServerKeys,
) -> Bundles:
    """Two bundles of the same owner: server + alice (age) + carol (paper), any 2 of 3."""
    root = tmp_path_factory.mktemp("web-bundles")
    write_corpus(root / "src")
    alice = make_age_key("web-alice")
    made = []
    for name in ("main", "other"):
        sealed = seal_bundle(
            [root / "src" / "evidence"],
            root / name,
            owner,
            [
                Custodian("server", server_keys.age_recipient),
                Custodian("alice", alice.recipient),
                Custodian("carol", "paper"),
            ],
            2,
            conditions="If I stop checking in, publish.",
        )
        shares = sealed.bundle / "shares"
        alice_env = pyrage.decrypt(
            (shares / "alice.age").read_bytes(), [pyrage.x25519.Identity.from_str(alice.identity)]
        )
        mnemonics = {
            "server": ShareEnvelope.from_json(
                json.loads(server_keys.decrypt((shares / "server.age").read_bytes()))
            ).mnemonic,
            "alice": ShareEnvelope.from_json(json.loads(alice_env)).mnemonic,
            "carol": card_words(shares / "carol.txt"),
        }
        made.append(Bundle(sealed, mnemonics))
    return Bundles(made[0], made[1], owner)


@dataclass
class Api:
    url: str
    http: httpx.Client
    engine: Engine
    clock: Clock
    data_dir: Path
    bundles: Bundles

    def switch_ids(self) -> list[str]:
        with self.engine.store.transaction() as s:
            return sorted(row.id for row in s.query(SwitchRow).all())

    def files(self) -> list[str]:
        """Every file under the data directory, relative (the key file lives elsewhere)."""
        return sorted(
            str(p.relative_to(self.data_dir)) for p in self.data_dir.rglob("*") if p.is_file()
        )

    def arm(
        self,
        bundle: Bundle | None = None,
        *,
        replace: dict[str, bytes] | None = None,
        omit: tuple[str, ...] = (),
        policy: str | None = None,
        contacts: str | None = None,
        envelopes: list[tuple[str, bytes]] | None = None,
        extra: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /switches as `afterword arm` does, with any part replaced or left out."""
        bundle = bundle or self.bundles.main
        replace = replace or {}
        files: list[tuple[str, tuple[str, bytes, str]]] = [
            (name, (name, replace.get(name, bundle.part(name)), "application/octet-stream"))
            for name in PARTS
            if name not in omit
        ]
        if envelopes is None:
            envelopes = [("server.age", bundle.envelope("server"))]
        files += [
            ("envelopes", (fname, blob, "application/octet-stream")) for fname, blob in envelopes
        ]
        data = {
            "policy": json.dumps(POLICY) if policy is None else policy,
            "contacts": json.dumps(CONTACTS) if contacts is None else contacts,
        }
        data.update(extra or {})
        for name in omit:
            data.pop(name, None)
        return self.http.post("/switches", files=files, data=data)


def start_server(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    # log_config=None: uvicorn installs no handlers of its own, so its records reach the
    # root logger (and caplog) like the app's
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="afterword-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@contextmanager
def served(app: Any) -> Iterator[httpx.Client]:
    """A client of ``app`` served on loopback by :func:`start_server`, stopped after."""
    server, thread, url = start_server(app)
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def api(
    store: Store,  # noqa: F811
    tmp_path: Path,
    server_keys: ServerKeys,
    bundles: Bundles,
) -> Iterator[Api]:
    clock = Clock()
    data_dir = tmp_path / "server"
    engine = Engine(
        store, server_keys, Config(data_dir, "http://127.0.0.1:9", min_duration=1), clock
    )
    server, thread, url = start_server(create_app(engine))
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            yield Api(url, http, engine, clock, data_dir, bundles)
    finally:
        server.should_exit = True
        thread.join(10)


SECRET_KEY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]+", re.IGNORECASE)


def leaks(text: str, mnemonics: list[str], run: int = 4) -> list[str]:
    """What in ``text`` gives a secret away: an age secret key, or ``run`` words in a row
    of a share (single SLIP-39 words are common English, so alone they prove nothing)."""
    found = ["an age secret key"] if SECRET_KEY.search(text) else []
    words = " " + " ".join(re.findall(r"[a-z]+", text.lower())) + " "
    for mnemonic in mnemonics:
        share = mnemonic.split()
        for i in range(len(share) - run + 1):
            if " " + " ".join(share[i : i + run]) + " " in words:
                found.append(f"share words {' '.join(share[i : i + run])!r}...")
                break
    return found


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog: pytest.LogCaptureFixture, bundles: Bundles) -> Iterator[None]:
    """Everything logged while a test ran (the server thread too, tracebacks included)
    holds no run of share words and no age secret key."""
    # SQL echo is off in a real server, and httpcore is this test's client, not the server.
    # (set_level also sets the capture handler's level: the root's DEBUG must come last)
    caplog.set_level(logging.WARNING, logger="sqlalchemy")
    caplog.set_level(logging.INFO, logger="httpcore")
    caplog.set_level(logging.DEBUG)
    yield
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    text = "\n".join(caplog.handler.format(r) for r in records)
    assert not leaks(text, bundles.mnemonics()), leaks(text, bundles.mnemonics())
