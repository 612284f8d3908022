"""Issue 15, item 20: what an owner's sign-in and revokes leave behind.

A sign-in from a network the switch has never seen is in the log and in the owner's
mail, alike for the real and the duress password; a second revoke in one phase is a
second notice, not a duplicate the outbox drops."""

from __future__ import annotations

from typing import Any

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.store.models import NetworkRow, OutboxRow
from tests.engine.test_two_worlds import (
    DURESS_PASSWORD,
    LONG,
    PASSWORD,
    Fixture,
    Player,
    answer,
    fixture,  # noqa: F401  (the module's sealed bundle and migrated template)
    make_world,
)
from tests.two_worlds import difference

HOME = "192.0.2.0/24 Mozilla/5.0 (X11; Linux x86_64)"  # as client_of() puts a caller
AWAY = "2001:db8:7::/48 Mozilla/5.0 (Android 14)"
CAFE = "198.51.100.0/24 Mozilla/5.0 (Macintosh)"


def sign_ins(fx: Fixture, owner: OwnerKey, delay: int, coerced: bool) -> tuple[Any, Any, Any]:
    """One script, in one world: the password is the duress one where ``coerced``. What
    the owner is answered, what they see at the end, and the networks the switch keeps."""
    world = make_world(fx, owner, delay)
    try:
        e, switch, clock = world.engine, world.switch, world.clock
        password = DURESS_PASSWORD if coerced else PASSWORD
        answers = [
            e.sign_in(switch, password, None, HOME).switch,  # new: logged and mailed
            e.sign_in(switch, password, None, HOME.replace("X11", "Wayland")).switch,  # known
        ]
        clock.now += 60
        answers.append(
            answer(lambda: e.password_action(switch, password, None, "status", None, AWAY))
        )
        clock.now += 60  # a check-in's own new-client alert names the network: one mail
        answers.append(
            answer(lambda: e.password_action(switch, password, None, "checkin", None, CAFE))
        )
        player = Player(fx, owner, world, coerced)
        player.ever_duress = coerced
        seen = player.final()
        with world.store.transaction() as s:
            networks = sorted(r.network for r in s.query(NetworkRow).filter_by(switch_id=switch))
        return answers, seen, networks
    finally:
        world.store.close()


@pytest.mark.parametrize("delay", [0, LONG])
def test_a_sign_in_from_a_new_network_is_logged_and_mailed_alike_under_duress(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
    delay: int,
) -> None:
    real_answers, real, networks = sign_ins(fixture, owner, delay, coerced=False)
    forced_answers, forced, forced_networks = sign_ins(fixture, owner, delay, coerced=True)
    # what it does, in the real world: each new network once in the log, by the server's
    # own /24 or /48 (never the user agent), and a mail for each but the check-in's
    entries = [(x["kind"], x["detail"]) for x in real["log"] if x["kind"] == "new-network"]
    assert entries == [
        ("new-network", "192.0.2.0/24, sign-in"),
        ("new-network", "2001:db8:7::/48, status"),
        ("new-network", "198.51.100.0/24, checkin"),
    ]
    alerts = [(subject, body) for _, subject, body in real["mail"] if "new" in subject]
    switch = fixture.sealed.switch
    assert [subject for subject, _ in alerts] == [
        f"afterword: sign-in to switch {switch} from a new network",
        f"afterword: sign-in to switch {switch} from a new network",
        f"afterword: new-client alert on switch {switch}",
    ]
    assert "never seen: 192.0.2.0/24, sign-in." in alerts[0][1]
    assert "never seen: 2001:db8:7::/48, status." in alerts[1][1] and "Mozilla" not in alerts[1][1]
    assert "change it, and tell your custodians" in alerts[0][1]
    # kept in the typed table (the arm's own, no address: "unknown"), not read from the log
    assert (
        networks
        == forced_networks
        == sorted(["unknown", "192.0.2.0/24", "2001:db8:7::/48", "198.51.100.0/24"])
    )
    # and the duress password leaves the owner exactly the same: answers, status, log, mail
    assert forced_answers == real_answers, difference(forced_answers, real_answers)
    for key in ("status", "export", "log", "mail"):
        assert forced[key] == real[key], (key, difference(forced[key], real[key]))


def test_a_second_revoke_in_one_phase_sends_its_own_notice(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
) -> None:
    custodians = {"alice": "mailto:alice@example.org", "carol": "mailto:carol@example.org"}
    world = make_world(fixture, owner, 0, custodians)
    try:
        e = world.engine
        e.password_action(world.switch, PASSWORD, None, "revoke", {"custodian": "alice"})
        world.clock.now += 60
        shown = e.password_action(world.switch, PASSWORD, None, "revoke", {"custodian": "carol"})
        assert shown["revoked"] == ["alice", "carol"] and shown["state"] == "armed"
        with world.store.transaction() as s:
            rows = s.query(OutboxRow).filter(OutboxRow.subject.contains("revoked")).all()
            notices = sorted((r.to, r.created_at) for r in rows)
        t0 = world.clock.now - 60
        # each revoke tells every custodian with an address: two notices each, four in all
        assert notices == [
            ("mailto:alice@example.org", t0),
            ("mailto:alice@example.org", t0 + 60),
            ("mailto:carol@example.org", t0),
            ("mailto:carol@example.org", t0 + 60),
        ]
    finally:
        world.store.close()
