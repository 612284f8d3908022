"""Longer settings through the engine, on SQLite and PostgreSQL, with a real SMTP server:
the custodians are mailed when settings that let the switch stay silent longer are asked
for, and again when they take effect or are dropped (issue 15, item 14)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.crypto.shares import custodian_credential
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import Engine
from afterword.store import Store
from afterword.switch.policy import Policy
from tests.delivery.servers import SmtpServer, WebhookServer, text_of
from tests.engine.test_engine import (
    Clock,
    arm_it,
    card_words,
    run_until,
    setup,  # noqa: F401 (a fixture, asked for by name)
    signed,
)

# an hour between check-ins; two hours' cooling-off; lengthenings up to an hour at once
POLICY = Policy(interval=3600, grace=600, waiting=600, max_pause=3600, cooling_off=7200)
DAY = 86400


def custodian_mail(smtp: SmtpServer) -> list[EmailMessage]:
    return [m for m in smtp.messages if m["To"] == "carol@example.org"]


def subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in custodian_mail(smtp)]


def settings(engine: Engine, owner: OwnerKey, switch: str, **values: Any) -> dict[str, Any]:
    return engine.owner_request(switch, signed(owner, engine, switch, "settings", **values))


@dataclass
class World:
    engine: Engine
    clock: Clock
    sender: Dispatcher
    switch: str
    carol: str  # her custodian code


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    store: Store,  # parametrized (SQLite, PostgreSQL): named here so that ``setup`` gets it
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
) -> World:
    """A switch armed with POLICY; carol, a custodian, is mailed at the real SMTP server."""
    engine, clock, sealed, _ = request.getfixturevalue("setup")
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    switch = arm_it(engine, sealed, smtp_server, webhook_server, POLICY)
    carol = custodian_credential(card_words(sealed.bundle, "carol"), switch, "carol")
    return World(engine, clock, sender, switch, carol)


def test_a_day_between_check_ins_waits_out_the_cooling_off_and_custodians_are_mailed(
    world: World, owner: OwnerKey, smtp_server: SmtpServer
) -> None:
    engine, clock, sender, switch = world.engine, world.clock, world.sender, world.switch
    asked = clock.now
    answer = settings(engine, owner, switch, interval=DAY)
    assert answer["policy"]["interval"] == 3600  # not yet
    assert answer["settings_pending"]["interval"] == DAY
    assert answer["settings_at"] == asked + 7200
    engine.dispatch(sender)
    [pending] = custodian_mail(smtp_server)
    assert pending["Subject"] == f"afterword: switch {switch} settings-pending"
    text = text_of(pending)
    assert "a check-in every 1 day" in text and "vote now" in text
    assert engine.custodian(switch, world.carol)["settings_at"] == asked + 7200
    # the old interval still counts: a check-in within the hour keeps the switch armed
    run_until(engine, clock, asked + 3000, sender)
    checked = engine.owner_request(switch, signed(owner, engine, switch, "checkin"))
    assert checked["deadline"] == asked + 3000 + 3600
    run_until(engine, clock, asked + 6000, sender)
    engine.owner_request(switch, signed(owner, engine, switch, "checkin"))
    run_until(engine, clock, asked + 7200 + 61, sender)
    status = engine.status(switch)
    assert status["policy"]["interval"] == DAY and status["settings_pending"] is None
    assert status["state"] == "armed" and status["settings_at"] is None
    assert subjects(smtp_server) == [
        f"afterword: switch {switch} settings-pending",
        f"afterword: switch {switch} settings-changed",
    ]
    kinds = [e["kind"] for e in status["audit"]]
    assert "settings-pending" in kinds and kinds.index("settings-pending") < kinds.index("settings")
    # from the next check-in, a day
    checked = engine.owner_request(switch, signed(owner, engine, switch, "checkin"))
    assert checked["deadline"] == clock.now + DAY


def test_a_missed_check_in_drops_longer_settings_and_the_switch_triggers_on_the_old_ones(
    world: World, owner: OwnerKey, smtp_server: SmtpServer
) -> None:
    engine, clock, sender, switch = world.engine, world.clock, world.sender, world.switch
    armed = clock.now
    settings(engine, owner, switch, interval=DAY, grace=DAY, waiting=DAY)
    run_until(engine, clock, armed + 3600 + 600 + 120, sender)  # silent: overdue, triggered
    status = engine.status(switch)
    assert status["state"] == "triggered" and status["policy"]["waiting"] == 600
    assert status["release_at"] <= armed + 3600 + 600 + 60 + 600  # the old waiting period
    assert subjects(smtp_server) == [
        f"afterword: switch {switch} settings-pending",
        f"afterword: switch {switch} settings-cancelled",
        f"afterword: switch {switch} triggered",
    ]


def test_shorter_settings_change_at_once_and_tell_no_one(
    world: World, owner: OwnerKey, smtp_server: SmtpServer
) -> None:
    engine, sender, switch = world.engine, world.sender, world.switch
    answer = settings(engine, owner, switch, interval=1800, waiting=3000)  # +1800s in all
    assert answer["policy"]["interval"] == 1800 and answer["settings_pending"] is None
    engine.dispatch(sender)
    assert custodian_mail(smtp_server) == []
