"""What the owner's dashboard is given (``Engine.dashboard_view``): the session's view,
the custodians in roster order and the check-in settings, the decoy's under duress."""

from __future__ import annotations

import json

from afterword.crypto.keys import OwnerKey
from afterword.engine.context import OwnerSession
from afterword.store import repository as repo
from tests.engine.test_two_worlds import (
    DURESS_PASSWORD,
    LONG,
    PASSWORD,
    Fixture,
    World,
    fixture,  # noqa: F401  (the module's sealed bundle and migrated template)
    make_world,
)

CUSTODIANS = {"alice": "mailto:alice@example.org", "carol": ""}


def script(world: World, password: str) -> OwnerSession:
    """Sign in, revoke carol and shorten the interval, with ``password``."""
    e, switch = world.engine, world.switch
    session = e.sign_in(switch, password)
    e.session_action(session, "revoke", {"custodian": "carol"})
    e.session_action(session, "settings", {"interval": 3000, "reminders": [900]})
    return session


def test_the_dashboard_has_the_session_view_the_custodians_and_the_settings(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
) -> None:
    world = make_world(fixture, owner, LONG, CUSTODIANS)
    try:
        session = script(world, PASSWORD)
        shown = world.engine.dashboard_view(session)
        assert {k: v for k, v in shown.items() if k != "custodians"} == (
            world.engine.session_view(session)
        )
        with world.store.transaction() as s:
            row = repo.get_switch(s, world.switch)
            assert row is not None
            roster = [c["label"] for c in json.loads(row.custodians)["custodians"]]
        assert [c["label"] for c in shown["custodians"]] == roster  # in roster order
        by_label = {c["label"]: c for c in shown["custodians"]}
        assert by_label["carol"] == {
            "label": "carol",
            "submitted": False,
            "voted": False,
            "revoked": True,
            "contact": "",
        }
        assert by_label["alice"]["contact"] == "mailto:alice@example.org"
        assert not by_label["alice"]["revoked"]
        assert shown["policy"] == {
            "interval": 3000,
            "grace": 600,
            "waiting": 600,
            "reminders": [900],
        }
    finally:
        world.store.close()


def test_under_duress_the_dashboard_is_the_decoys_and_the_truth_stays(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
) -> None:
    real_world = make_world(fixture, owner, LONG, CUSTODIANS)
    forced_world = make_world(fixture, owner, LONG, CUSTODIANS)
    try:
        real = real_world.engine.dashboard_view(script(real_world, PASSWORD))
        forced_session = script(forced_world, DURESS_PASSWORD)
        forced = forced_world.engine.dashboard_view(forced_session)
        # the coerced owner sees what the real one would: the revoke, the settings
        for key in ("custodians", "revoked", "policy", "recipients"):
            assert forced[key] == real[key], key
        # the truth: nobody was revoked and the settings are the armed ones
        truth = forced_world.engine.status(forced_world.switch)
        assert truth["revoked"] == [] and truth["policy"]["interval"] == 3600
        assert forced["policy"]["interval"] == 3000  # the decoy's
    finally:
        real_world.store.close()
        forced_world.store.close()


def test_the_real_password_is_shown_the_truth_while_a_decoy_stands(
    fixture: Fixture,  # noqa: F811
    owner: OwnerKey,
) -> None:
    """The dashboard's settings and custodians are the session's world, as its status is:
    after a duress change, a session of the real password sees the armed settings and no
    one revoked (before issue 16 the settings came from the decoy for every session)."""
    world = make_world(fixture, owner, LONG, CUSTODIANS)
    try:
        script(world, DURESS_PASSWORD)  # the decoy: carol revoked, interval 3000
        real = world.engine.sign_in(world.switch, PASSWORD)
        shown = world.engine.dashboard_view(real)
        assert shown["policy"]["interval"] == 3600
        assert shown["revoked"] == [] and not any(c["revoked"] for c in shown["custodians"])
    finally:
        world.store.close()
