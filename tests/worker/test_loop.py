"""The worker loop: keeps going through failures, stops when told."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.delivery import Dispatcher, Message, WebhookSender
from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.store import Store
from afterword.store.models import SwitchRow
from afterword.switch.policy import Policy
from afterword.worker.loop import DELIVERY_JOIN, MIN_WAIT, idle_wait, run
from tests.conftest import arm_bundle
from tests.delivery.servers import TricklingServer, WebhookServer

T0 = 1_800_000_000


class Clock:
    """A virtual clock the test moves (whole seconds, as the engine counts)."""

    now = T0

    def __call__(self) -> int:
        return self.now


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


def armed_engine(tmp_path: Path, owner: OwnerKey, clock: list[int], policy: Policy) -> Engine:
    """An engine on a virtual clock (``clock[0]``) with one switch armed at ``policy``."""
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
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
            policy=policy,
            contacts=Contacts(["mailto:owner@example.org"], {}, []),
            server_envelopes={},
        )
    return engine


def test_worker_survives_a_failing_pass_and_stops(
    tmp_path: Path, owner: OwnerKey, caplog: pytest.LogCaptureFixture
) -> None:
    clock = [1_800_000_000]
    policy = Policy(interval=2, grace=0, waiting=60, reminders=(1,))
    engine = armed_engine(tmp_path, owner, clock, policy)
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


def test_an_idle_worker_wakes_when_the_next_deadline_falls_due(
    tmp_path: Path, owner: OwnerKey
) -> None:
    """Not a fixed interval later: a deadline 3 s away is waited for 3 s less the part of
    the current second gone (the engine's clock counts whole seconds), and never longer
    than the interval; work already due is looked at again at once."""
    clock = [1_800_000_000]
    engine = armed_engine(tmp_path, owner, clock, Policy(interval=3, grace=0, waiting=60))
    assert engine.next_due() == clock[0] + 3  # the switch's deadline (no reminders)
    assert idle_wait(engine, 10.0, wall=lambda: 5.25) == pytest.approx(2.75)
    assert idle_wait(engine, 1.0, wall=lambda: 5.25) == 1.0
    clock[0] += 3
    assert idle_wait(engine, 10.0) == MIN_WAIT
    engine.tick()  # the switch goes overdue, and its owner is to be told: due now
    assert engine.next_due() == clock[0]
    engine.dispatch(FlakySender())  # the mail fails: tried again a minute on
    due = engine.next_due()
    assert due is not None and clock[0] < due <= clock[0] + 60


def test_an_idle_worker_with_nothing_due_or_no_database_waits_the_interval(
    tmp_path: Path, owner: OwnerKey
) -> None:
    clock = [1_800_000_000]
    engine = armed_engine(tmp_path, owner, clock, Policy(interval=3, grace=0, waiting=60))
    with engine.store.connection() as c:  # held by the breaker: the operator's to move
        c.execute(sa.update(SwitchRow).values(held=True))
    assert engine.next_due() is None
    assert idle_wait(engine, 0.7) == 0.7
    engine.store.close()
    (tmp_path / "db").unlink()
    (tmp_path / "db").mkdir()  # (a directory where the database was: it cannot open)
    assert idle_wait(engine, 0.7) == 0.7


def _arm(engine: Engine, tmp_path: Path, name: str, policy: Policy, recipients: list[str]) -> str:
    """Arm a switch whose key the server holds alone (k = 1), so that it releases by itself."""
    keys = ServerKeys.load_or_create(tmp_path / "srv")
    doc = tmp_path / f"{name}.txt"
    doc.write_text(name)
    sealed = seal_bundle(
        [doc], tmp_path / name, OwnerKey.generate(), [Custodian("server", keys.age_recipient)], 1
    )
    arm_bundle(engine, sealed.bundle, policy=policy, contacts=Contacts([], {}, recipients))
    return sealed.switch


def test_a_webhook_trickling_its_answer_delays_no_other_switch(
    tmp_path: Path, webhook_server: WebhookServer
) -> None:
    """The attack: a hostile switch's recipients accept the request, then send their status
    line a byte at a time, each read inside the read timeout. The sends are cut off at the
    webhook deadline, but they must not hold the scheduler even that long: a victim switch
    due later releases on time, and its own webhook goes out within a bound well under the
    hostile sends' total (it stayed armed for ever when tick and send shared a thread)."""
    clock = Clock()
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    engine = Engine(
        store,
        ServerKeys.load_or_create(tmp_path / "srv"),
        Config(tmp_path / "srv", min_duration=1),
        clock,
    )
    with TricklingServer(pause=0.5) as peer:
        hostile_urls = [f"{peer.url}{i}" for i in range(3)]
        _arm(engine, tmp_path, "hostile", Policy(interval=60, grace=0, waiting=0), hostile_urls)
        victim = _arm(
            engine,
            tmp_path,
            "victim",
            Policy(interval=120, grace=0, waiting=0),
            [webhook_server.url],
        )
        stop = threading.Event()
        deadline = 10.0  # each hostile send: 3 of them, 30 s in turn
        sender = Dispatcher(None, WebhookSender(timeout=2.0, deadline=deadline))
        thread = threading.Thread(target=run, args=(engine, sender, stop, 0.2), daemon=True)
        thread.start()
        try:
            start = time.monotonic()
            while peer.hits == 0 and time.monotonic() - start < 20:  # the hostile release
                clock.now += 30
                time.sleep(0.5)
            assert peer.hits >= 1
            stalled = time.monotonic()
            clock.now = max(clock.now, T0 + 120)  # the victim's deadline
            released = None
            while time.monotonic() - stalled < 30:
                if engine.status(victim)["state"] == "released":
                    released = time.monotonic() - stalled
                    break
                time.sleep(0.1)
            assert released is not None and released < 5, released
            webhook_server.wait_for(1, timeout=deadline + 10)
            assert time.monotonic() - stalled < deadline + 10  # not after all three (30 s)
        finally:
            stop.set()
            thread.join(DELIVERY_JOIN)
        assert not thread.is_alive()
