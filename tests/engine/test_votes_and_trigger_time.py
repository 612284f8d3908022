"""Votes and the trigger time at the engine, on real databases and a real SMTP server:
custodians told of an abort can vote again, and the signed release statement says when
the switch triggered."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from afterword.crypto.bundle import Custodian, SealResult, seal_bundle
from afterword.crypto.keys import OwnerKey
from afterword.crypto.release import load_statement
from afterword.crypto.shares import custodian_credential
from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import Config, Contacts, Engine, OwnerSession, ServerKeys
from afterword.store import Store
from afterword.switch.policy import Policy
from tests.conftest import AgeKey, arm_bundle, write_corpus
from tests.delivery.servers import SmtpServer, text_of
from tests.engine.test_engine import Clock, card_words, run_until, signed

POLICY = Policy(interval=3600, grace=600, waiting=600, reminders=(1800,))


@pytest.fixture
def paper(
    store: Store, tmp_path: Path, owner: OwnerKey, make_age_key: Callable[[str], AgeKey]
) -> tuple[Engine, Clock, SealResult]:
    """A 2-of-3 switch: the server's share and two paper custodians, a and b."""
    clock = Clock()
    keys = ServerKeys.load_or_create(tmp_path / "server")
    engine = Engine(
        store, keys, Config(tmp_path / "server", "http://127.0.0.1:9", min_duration=1), clock
    )
    write_corpus(tmp_path / "src")
    sealed = seal_bundle(
        [tmp_path / "src" / "evidence"],
        tmp_path / "bundle",
        owner,
        [Custodian("server", keys.age_recipient), Custodian("a", "paper"), Custodian("b", "paper")],
        2,
    )
    arm_bundle(
        engine,
        sealed.bundle,
        policy=POLICY,
        contacts=Contacts(
            owner=["mailto:owner@example.org"],
            custodians={"a": "mailto:a@example.org", "b": "mailto:b@example.org"},
            recipients=["mailto:press@example.org"],
        ),
    )
    return engine, clock, sealed


def vote(engine: Engine, sealed: SealResult, label: str) -> str:
    words = " ".join(card_words(sealed.bundle, label).split())
    code = custodian_credential(words, sealed.switch, label)
    return str(engine.custodian(sealed.switch, code, "vote")["state"])


def test_custodians_told_of_an_abort_can_vote_again_and_trigger_again(
    paper: tuple[Engine, Clock, SealResult], owner: OwnerKey, smtp_server: SmtpServer
) -> None:
    engine, clock, sealed = paper
    switch = sealed.switch
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    assert vote(engine, sealed, "a") == "armed"
    assert vote(engine, sealed, "b") == "triggered"
    clock.now += 60
    status = engine.owner_request(switch, signed(owner, engine, switch, "abort"))
    assert status["state"] == "armed"
    engine.dispatch(sender)
    told = [m for m in smtp_server.messages if m["To"] == "a@example.org"]
    assert "votes to release it that stood until now were cleared" in (text_of(told[-1]).lower())
    assert "vote again (2 fresh votes trigger it again)" in text_of(told[-1])
    # the custodians still believe the owner is coerced: they vote again, and it triggers
    clock.now += 60
    assert vote(engine, sealed, "a") == "armed"
    assert vote(engine, sealed, "b") == "triggered"
    status = engine.status(switch)
    assert status["cause"] == "votes"
    kinds = [e["kind"] for e in status["audit"]]
    assert kinds[-6:] == ["triggered", "aborted", "votes-cleared", "vote", "vote", "triggered"]


def test_the_release_statement_says_when_the_switch_triggered(
    paper: tuple[Engine, Clock, SealResult], smtp_server: SmtpServer
) -> None:
    engine, clock, sealed = paper
    switch = sealed.switch
    sender = Dispatcher(Mailer(MailConfig.from_url(smtp_server.url)), WebhookSender())
    # silent: overdue at +60 min, triggered at +70, releasing at +80 (the server's share in)
    run_until(engine, clock, clock.now + 80 * 60 + 120, sender)
    status = engine.status(switch)
    assert status["state"] == "releasing"
    triggered = [e["at"] for e in status["audit"] if e["kind"] == "triggered"]
    assert len(triggered) == 1
    # custodian a brings the second share two days later
    clock.now += 2 * 86400
    words = " ".join(card_words(sealed.bundle, "a").split())
    assert engine.submit_share(switch, words)["state"] == "released"
    release, _ = engine.release(switch)
    statement = load_statement(json.loads(release.statement), engine.keys.public_key)
    assert statement["triggered_at"] == triggered[0]
    assert statement["released_at"] == clock.now
    assert statement["released_at"] - statement["triggered_at"] > 2 * 86400


def test_the_dashboard_shows_votes_the_machine_cleared_as_cleared(
    paper: tuple[Engine, Clock, SealResult], owner: OwnerKey
) -> None:
    """Who stands as voting is the state's typed set, not the log's "vote" lines: after an
    abort cleared the votes, the log still holds both votes and no withdrawal."""
    engine, clock, sealed = paper
    switch = sealed.switch
    session = OwnerSession(switch, duress=False)
    vote(engine, sealed, "a")
    voted = {c["label"]: c["voted"] for c in engine.dashboard_view(session)["custodians"]}
    assert voted == {"server": False, "a": True, "b": False}
    assert vote(engine, sealed, "b") == "triggered"
    clock.now += 60
    engine.owner_request(switch, signed(owner, engine, switch, "abort"))
    shown = engine.dashboard_view(session)
    assert [c["voted"] for c in shown["custodians"]] == [False, False, False]
    assert [e["kind"] for e in shown["audit"]].count("vote") == 2  # what the prose said
    assert vote(engine, sealed, "b") == "armed"  # a fresh vote stands again
    voted = {c["label"]: c["voted"] for c in engine.dashboard_view(session)["custodians"]}
    assert voted == {"server": False, "a": False, "b": True}
