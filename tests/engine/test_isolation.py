"""One hostile switch never delays another switch, nor the outbox (issue 15, item 1).

An attacker may arm on any server. A switch whose release raises (its server share needs
more shares than its roster says, or rebuilds another secret's key) must be quarantined
alone: the victim due at the same instant releases on time, the outbox still delivers,
and the operator and the hostile switch's own custodians are told. Arming refuses what
it can check. On SQLite and PostgreSQL, with real rows (no mocks)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pyrage
import pytest
import sqlalchemy as sa

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import ShareEnvelope
from afterword.delivery import Message
from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.errors import FormatError
from afterword.store import Store
from afterword.store.models import OutboxRow, ServerEnvelopeRow, SwitchRow
from afterword.switch.policy import Policy
from afterword.worker.loop import run_once
from tests.conftest import arm_bundle

T0 = 1_800_000_000
POLICY = Policy(interval=3600, grace=0, waiting=60)
OPERATOR = "mailto:operator@example.org"


class Recorder:
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def new_engine(store: Store, tmp_path: Path, clock: Clock) -> Engine:
    keys = ServerKeys.load_or_create(tmp_path / "server")
    config = Config(tmp_path / "server", min_duration=1, operator=[OPERATOR])
    return Engine(store, keys, config, clock)


def seal(
    engine: Engine, tmp_path: Path, owner: OwnerKey, name: str, threshold: int = 1
) -> SealResult:
    doc = tmp_path / f"{name}.txt"
    doc.write_text(name)
    custodians = [Custodian("server", engine.keys.age_recipient), Custodian("carol", "paper")]
    return seal_bundle([doc], tmp_path / name, owner, custodians, threshold)


def arm(
    engine: Engine,
    sealed: SealResult,
    *,
    roster: dict[str, Any] | None = None,
    envelope: bytes | None = None,
) -> str:
    b = sealed.bundle
    arm_bundle(
        engine,
        b,
        custodians=roster,
        policy=POLICY,
        contacts=Contacts(
            ["mailto:owner@example.org"], {"carol": f"mailto:carol-{sealed.switch}@x"}, []
        ),
        server_envelopes={"server": envelope or (b / "shares" / "server.age").read_bytes()},
    )
    return sealed.switch


def poison(engine: Engine, store: Store, tmp_path: Path, owner: OwnerKey, switch: str) -> None:
    """A switch armed before arming checked its shares (or one no check at arm can catch):
    its server's share becomes one of a 2-of-2 split, where the roster promised 1 of 1."""
    other = seal(engine, tmp_path, owner, f"other-{switch}", threshold=2)
    with store.connection() as c:
        c.execute(
            sa.update(ServerEnvelopeRow)
            .where(ServerEnvelopeRow.switch_id == switch)
            .values(envelope=(other.bundle / "shares" / "server.age").read_bytes())
        )


def test_a_failing_switch_is_quarantined_alone_and_the_victim_releases_on_time(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    clock = Clock()
    engine = new_engine(store, tmp_path, clock)
    poisoned = arm(engine, seal(engine, tmp_path, owner, "poisoned"))
    clock.now += 1  # the victim falls due a second later: the poisoned row sorts first
    victim = arm(engine, seal(engine, tmp_path, owner, "victim"))
    poison(engine, store, tmp_path, owner, poisoned)
    sender = Recorder()
    deadline = T0 + 1 + POLICY.interval + POLICY.waiting
    while clock.now <= deadline + 1:
        run_once(engine, sender)  # raises if the tick fails, as it did for every pass
        clock.now += 30
    victim_status = engine.status(victim)
    assert victim_status["state"] == "released"  # on time, in the same pass as the poison
    released = [m for m in sender.sent if m.to == f"mailto:carol-{victim}@x"]
    assert any("released" in m.subject.lower() for m in released)  # the outbox delivered
    with store.connection() as c:
        row = c.execute(sa.select(SwitchRow).where(SwitchRow.id == poisoned)).one()
    assert row.quarantined_at is not None and row.phase == "triggered"  # as it was
    poisoned_status = engine.status(poisoned)
    assert poisoned_status["audit"][-1]["kind"] == "quarantined"
    assert "not enough shares" in poisoned_status["audit"][-1]["detail"]
    told = {m.to: m for m in sender.sent if m.data.get("quarantined") is not None}
    assert set(told) == {OPERATOR, f"mailto:carol-{poisoned}@x"}
    assert f"afterword operator unquarantine {poisoned}" in told[OPERATOR].text
    assert "nothing was released" in told[f"mailto:carol-{poisoned}@x"].text
    # quarantined switches are no longer due: the scheduler has nothing left to retry
    assert engine.tick().processed == 0 and engine.next_due() is None
    # the operator may put it back; it fails alone again, and is told once more
    assert engine.unquarantine(poisoned) is True
    report = engine.tick()
    assert report.quarantined == [poisoned]
    with store.connection() as c:
        ids = c.execute(sa.select(OutboxRow.id).where(OutboxRow.switch_id == poisoned)).scalars()
        assert len([i for i in ids if i.startswith("quarantine-")]) == 4


def test_the_outbox_is_dispatched_even_when_the_tick_fails(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    clock = Clock()
    engine = new_engine(store, tmp_path, clock)
    arm(engine, seal(engine, tmp_path, owner, "a"))
    with store.transaction() as s:
        s.add(
            OutboxRow(
                id="due-mail", switch_id="x", to="mailto:someone@x", subject="s", body="b",
                data="{}", created_at=T0, attempts=0, next_attempt_at=T0,
            )
        )  # fmt: skip

    def broken_tick() -> None:
        raise RuntimeError("a bug in the tick")

    engine.tick = broken_tick  # type: ignore[assignment,method-assign]
    sender = Recorder()
    with pytest.raises(RuntimeError, match="a bug in the tick"):
        run_once(engine, sender)
    assert [m.id for m in sender.sent] == ["due-mail"]


def test_arm_refuses_a_roster_threshold_the_server_shares_do_not_have(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    engine = new_engine(store, tmp_path, Clock())
    sealed = seal(engine, tmp_path, owner, "two", threshold=2)
    roster = json.loads((sealed.bundle / "custodians.json").read_text())
    roster = owner.sign({**roster, "threshold": 1})  # signed, and a lie
    with pytest.raises(FormatError, match=r"says 1 shares release .* server.s shares need 2"):
        arm(engine, sealed, roster=roster)
    assert engine.next_due() is None


def test_arm_refuses_server_shares_of_another_secret(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    engine = new_engine(store, tmp_path, Clock())
    sealed = seal(engine, tmp_path, owner, "mine")
    other = seal(engine, tmp_path, owner, "theirs")
    roster = json.loads((sealed.bundle / "custodians.json").read_text())
    theirs = json.loads((other.bundle / "custodians.json").read_text())
    roster = owner.sign({**roster, "custodians": theirs["custodians"]})  # their commitments
    # their server share, re-addressed to this switch and sealed for this server
    theirs_share = ShareEnvelope.from_json(
        json.loads(engine.keys.decrypt((other.bundle / "shares" / "server.age").read_bytes()))
    )
    readdressed = dataclasses.replace(theirs_share, switch=sealed.switch)
    envelope = pyrage.encrypt(
        json.dumps(readdressed.to_json()).encode(),
        [pyrage.x25519.Recipient.from_str(engine.keys.age_recipient)],
    )
    with pytest.raises(FormatError, match="rebuild a key that does not open this dossier"):
        arm(engine, sealed, roster=roster, envelope=envelope)
    assert engine.next_due() is None


def test_the_operator_releases_a_victim_held_with_a_poisoned_switch(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    """Found by the simulation's hostile neighbours: the breaker holds a crowd, a hostile
    switch among it whose release raises. Releasing the held switches must quarantine that
    one alone and move the others on; its error rolled the operator's whole release back
    (every switch stayed held, for ever: a lost release)."""
    clock = Clock()
    keys = ServerKeys.load_or_create(tmp_path / "server")
    config = Config(tmp_path / "server", min_duration=1, operator=[OPERATOR], breaker_threshold=1)
    engine = Engine(store, keys, config, clock)
    poisoned = arm(engine, seal(engine, tmp_path, owner, "poisoned"))
    victim = arm(engine, seal(engine, tmp_path, owner, "victim"))
    poison(engine, store, tmp_path, owner, poisoned)
    clock.now += POLICY.interval
    assert sorted(engine.tick().held) == sorted([poisoned, victim])  # the breaker holds both
    clock.now += 600  # the operator looks
    assert engine.release_held() == 2
    assert engine.status(victim)["state"] == "triggered"  # its waiting period from now
    clock.now += POLICY.waiting
    # a worker restarted now cannot tell a clock jump from downtime in its first pass: it
    # holds both again, and the operator releases them again; the poisoned one's release
    # raises now
    engine = Engine(store, keys, config, clock)
    assert sorted(engine.tick().held) == sorted([poisoned, victim])
    assert engine.release_held() == 2
    assert engine.status(victim)["state"] == "released"
    with store.connection() as c:
        row = c.execute(sa.select(SwitchRow).where(SwitchRow.id == poisoned)).one()
    assert row.quarantined_at is not None and not row.held
    assert engine.status(poisoned)["audit"][-1]["kind"] == "quarantined"
