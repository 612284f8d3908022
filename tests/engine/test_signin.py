"""Issue 15, item 20: what an owner's sign-in and revokes leave behind.

A sign-in from a network the switch has never seen is in the log and in the owner's
mail, alike for the real and the duress password; a second revoke in one phase is a
second notice, not a duplicate the outbox drops."""

from __future__ import annotations

from afterword.crypto.keys import OwnerKey
from afterword.store.models import OutboxRow
from tests.engine.test_two_worlds import (
    PASSWORD,
    Fixture,
    fixture,  # noqa: F401  (the module's sealed bundle and migrated template)
    make_world,
)


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
