"""The mass-trigger breaker against adversaries (issue 15, item 2).

The notice publishes a switch's id and policy, so anyone can arm a crowd of throwaway
switches due in the same minute as a victim. Counting triggers per pass let such a crowd
hold the victim's release. The breaker now keys on what no outsider can move: this
server's wall clock jumping ahead of its boot clock. The crowd holds nobody; a real jump
still holds what it made due, and the held switches' custodians and the operator are
mailed. On SQLite and PostgreSQL, with a real SMTP server on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import Config, Contacts, Engine, ServerKeys
from afterword.store import Store
from afterword.store.models import OutboxRow, SwitchRow
from afterword.switch.policy import Policy
from afterword.worker.loop import run_once
from tests.conftest import arm_bundle, seal_throwaways
from tests.delivery.servers import SmtpServer, text_of

T0 = 1_800_000_000
VICTIM = Policy(interval=3600, grace=0, waiting=60)
HOSTILE = Policy(interval=60, grace=0, waiting=60)
OPERATOR = "mailto:operator@example.org"
CROWD = 101  # one more than the default breaker_threshold


class Clocks:
    """The wall clock and the boot clock, in virtual time: time passing moves both, a
    clock jump moves the wall clock alone."""

    def __init__(self) -> None:
        self.now = T0
        self.boot = 1000.0

    def __call__(self) -> int:
        return self.now

    def monotonic(self) -> float:
        return self.boot

    def advance(self, seconds: int) -> None:
        self.now += seconds
        self.boot += seconds


def new_engine(store: Store, tmp_path: Path, clocks: Clocks, batch: int = 500) -> Engine:
    keys = ServerKeys.load_or_create(tmp_path / "server")
    config = Config(tmp_path / "server", min_duration=1, operator=[OPERATOR], batch=batch)
    return Engine(store, keys, config, clocks, monotonic=clocks.monotonic)


def arm(engine: Engine, sealed: SealResult, policy: Policy, server_share: bool = False) -> str:
    arm_bundle(
        engine,
        sealed.bundle,
        server_share=server_share,
        policy=policy,
        contacts=Contacts(
            ["mailto:owner@example.org"], {"carol": f"mailto:carol-{sealed.switch}@x"}, []
        ),
    )
    return sealed.switch


def seal_victim(engine: Engine, tmp_path: Path, owner: OwnerKey, name: str) -> SealResult:
    """1 of 2, the server one of them: it releases with no human in the loop."""
    doc = tmp_path / f"{name}.txt"
    doc.write_text(name)
    custodians = [Custodian("server", engine.keys.age_recipient), Custodian("carol", "paper")]
    return seal_bundle([doc], tmp_path / name, owner, custodians, 1)


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory, owner: OwnerKey) -> list[SealResult]:
    """The attacker's throwaway 1-of-1 bundles, sealed once for both databases."""
    return seal_throwaways(tmp_path_factory.mktemp("crowd"), owner, CROWD)


def phases(store: Store) -> dict[str, tuple[str, bool]]:
    with store.connection() as c:
        rows = c.execute(sa.select(SwitchRow.id, SwitchRow.phase, SwitchRow.held)).all()
    return {r.id: (r.phase, bool(r.held)) for r in rows}


def test_a_crowd_due_in_the_victims_minute_never_holds_its_release(
    store: Store, tmp_path: Path, owner: OwnerKey, crowd: list[SealResult]
) -> None:
    clocks = Clocks()
    engine = new_engine(store, tmp_path, clocks)
    victim = arm(engine, seal_victim(engine, tmp_path, owner, "victim"), VICTIM, True)
    sender = Dispatcher(Mailer(MailConfig.from_url("smtp://127.0.0.1:9")), WebhookSender())
    run_once(engine, sender)  # the worker is running: its first pass is long past
    clocks.advance(VICTIM.interval - HOSTILE.interval)
    # read off the notice: the victim's deadline is T0 + 3600; the crowd's too
    hostile = [arm(engine, sealed, HOSTILE) for sealed in crowd]
    deadline = T0 + VICTIM.interval
    triggered_together = 0
    while clocks.now <= deadline + VICTIM.waiting:
        report = engine.tick()
        assert not report.held, "a crowd of switches is not a clock jump"
        if clocks.now == deadline:
            triggered_together = report.triggered
        clocks.advance(30)
    assert triggered_together == CROWD + 1  # all in the one pass the old breaker counted
    state = phases(store)
    assert state[victim] == ("released", False)  # on time: deadline + waiting
    assert all(state[h] == ("releasing", False) for h in hostile)  # waiting for carol
    with store.connection() as c:
        to = c.execute(sa.select(OutboxRow.to)).scalars().all()
    assert OPERATOR not in to  # no false alarm either


def test_a_real_clock_jump_holds_what_it_made_due_and_tells_custodians_and_operator(
    store: Store, tmp_path: Path, owner: OwnerKey, smtp_server: SmtpServer
) -> None:
    clocks = Clocks()
    engine = new_engine(store, tmp_path, clocks, batch=2)  # the jump outlasts one batch
    jumped = [
        arm(engine, seal_victim(engine, tmp_path, owner, f"v{i}"), VICTIM, True) for i in range(3)
    ]
    due = arm(engine, seal_victim(engine, tmp_path, owner, "due"), HOSTILE, True)
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    run_once(engine, sender)  # first pass, at T0: nothing due
    clocks.advance(HOSTILE.interval + 30)  # `due` is past its deadline, truly
    clocks.now += 10 * 86400  # and the wall clock jumps ten days ahead of the boot clock
    held: list[str] = []
    for _ in range(3):
        held += engine.tick().held
        clocks.advance(1)
    assert sorted(held) == sorted(jumped)  # over two batches; `due` was due anyway
    state = phases(store)
    assert all(state[s] == ("armed", True) for s in jumped)  # nothing triggered early
    assert state[due] == ("triggered", False)
    while engine.dispatch(sender):
        pass
    mails = {(m["To"], m["Subject"]): text_of(m) for m in smtp_server.messages}
    for switch in jumped:
        body = mails[(f"carol-{switch}@x", f"afterword: switch {switch} is held")]
        assert "wall clock jumped forward" in body and "Nothing was released" in body
        assert "Keep your share" in body and f"/s/{switch}" in body
    alerts = [m for m in smtp_server.messages if m["To"] == "operator@example.org"]
    assert len(alerts) == 2  # one a pass that held
    text = "".join(text_of(m) for m in alerts)
    assert "afterword operator release-held" in text and "wall clock jumped" in text
    assert not any(m["Subject"].endswith("is held") and due in m["Subject"] for m in alerts)
    # the operator checks the clock: the held switches go on
    assert engine.release_held() == 3
    assert all(phases(store)[s] == ("triggered", False) for s in jumped)


def test_a_clock_that_keeps_pace_with_the_boot_clock_holds_nothing(
    store: Store, tmp_path: Path, owner: OwnerKey
) -> None:
    """Worker passes far apart (an idle server) are no jump: the boot clock moved too."""
    clocks = Clocks()
    engine = new_engine(store, tmp_path, clocks)
    switches = [
        arm(engine, seal_victim(engine, tmp_path, owner, f"s{i}"), VICTIM, True) for i in range(2)
    ]
    engine.tick()
    clocks.advance(10 * 86400)
    clocks.now += 59  # within the slack: NTP stepping the clock a little
    report = engine.tick()
    assert not report.held and report.processed == 2
    assert all(phases(store)[s] == ("triggered", False) for s in switches)
