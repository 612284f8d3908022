"""The worker loop: keeps going through failures, stops when told."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.delivery import Message
from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.store import Store
from afterword.switch.policy import Policy
from afterword.worker.loop import run


class FlakySender:
    """Fails (unexpectedly, not as a DeliveryError) the first time, then records."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("the mail library blew up")
        self.sent.append(message)


def test_worker_survives_a_failing_pass_and_stops(
    tmp_path: Path, owner: OwnerKey, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    clock = [1_800_000_000]
    engine = Engine(
        store,
        ServerKeys.load_or_create(tmp_path / "srv"),
        Config(tmp_path / "srv", min_duration=1),
        lambda: clock[0],
    )
    doc = tmp_path / "d.txt"
    doc.write_text("x")
    sealed = seal_bundle([doc], tmp_path / "b", owner, [Custodian("a", "paper")], 1)
    with open(sealed.bundle / "dossier.age", "rb") as f:
        engine.arm(
            manifest=json.loads((sealed.bundle / "manifest.json").read_text()),
            notice=json.loads((sealed.bundle / "notice.json").read_text()),
            custodians=json.loads((sealed.bundle / "custodians.json").read_text()),
            dossier=f,
            policy=Policy(interval=2, grace=0, waiting=60, reminders=(1,)),
            contacts=Contacts(["mailto:owner@example.org"], {}, []),
            server_envelopes={},
        )
    sender = FlakySender()
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(engine, sender, stop, 0.2))
    thread.start()
    deadline = time.monotonic() + 20
    while not sender.sent and time.monotonic() < deadline:
        clock[0] += 5  # virtual time: past the deadline, then past the retry backoff
        time.sleep(0.1)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert sender.sent and sender.sent[0].to == "mailto:owner@example.org"
    assert sender.calls >= 2  # the failed attempt was retried, not lost
    assert "failed unexpectedly" in caplog.text
