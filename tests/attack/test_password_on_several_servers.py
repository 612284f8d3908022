"""Attack: a hostile server of a switch armed with a check-in password.

Every server the owner arms is sent the password (it keeps a hash), and sees it again
whenever the owner signs in there. A password is checked by knowing it, so a hostile
server could sign in as the owner at each of its peers and ask for the release: K
servers releasing publish, a false release by one server. A signed request is what no
server can make, so a switch on several servers takes signed credentials only: arming
one with a password, a TOTP or a duress password is refused (by the server, and by the
CLI before it reaches one), and no server of such a switch answers to a password.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.crypto.servers import SEVERAL_SERVERS_NO_PASSWORD
from afterword.engine import Contacts
from afterword.errors import FormatError
from tests.attack.helpers import signed
from tests.cli.test_cli import refused, run
from tests.conftest import arm_bundle
from tests.engine.federation import POLICY, close, federation


@pytest.mark.parametrize(
    "credentials",
    [
        {"password": "correct horse battery"},
        {"password": "correct horse battery", "totp": True},
        {"password": "correct horse battery", "duress_password": "wrong horse battery"},
    ],
    ids=["password", "totp", "duress-password"],
)
def test_a_switch_on_several_servers_takes_no_password(
    tmp_path: Path, owner: OwnerKey, credentials: dict[str, object]
) -> None:
    fed = federation(tmp_path, owner)  # armed on three servers, by key
    try:
        fresh = fed.world.nodes[0].engine
        sealed = fed.sealed.bundle
        # the same bundle and roster again, with a password: refused before anything is kept
        with pytest.raises(FormatError) as refusal:
            arm_bundle(
                fresh,
                sealed,
                server_envelopes={"s0": (sealed / "shares" / "s0.age").read_bytes()},
                policy=POLICY,
                contacts=Contacts(["mailto:owner@example.org"], {}, ["mailto:press@x.org"]),
                servers=fed.roster,
                **credentials,
            )
        assert refusal.value.message == SEVERAL_SERVERS_NO_PASSWORD[0]
        assert "key file" in (refusal.value.hint or "")
        # and a password sign-in finds no password on any server of the switch
        for node in fed.world.nodes:
            with pytest.raises(Exception, match="wrong password"):
                node.engine.password_action(
                    fed.switch, "correct horse battery", None, "release", client="10.9.9.9 x"
                )
        assert set(fed.states()) == {"armed"}
    finally:
        close(fed)


def test_the_cli_refuses_a_password_for_several_servers_before_reaching_one(
    tmp_path: Path,
) -> None:
    # nothing listens on these ports: the refusal must come before any connection
    line = refused(
        run(
            "arm",
            tmp_path / "bundle",
            "--server",
            "http://127.0.0.1:9",
            "--server",
            "http://127.0.0.1:10",
            "--owner-key",
            tmp_path / "owner.key",
            "--interval",
            "7d",
            "--password",
            cwd=tmp_path,
            env={"AFTERWORD_CHECKIN_PASSWORD": "correct horse battery"},
        ),
        "takes no check-in password",
    )
    assert "127.0.0.1" not in line  # not a connection error: nothing was reached


def test_no_duress_password_can_be_set_later_on_a_switch_on_several_servers(
    tmp_path: Path, owner: OwnerKey
) -> None:
    # set-duress is relayed to every peer as it came: a duress password in it would be
    # known to each server, and any one could then raise a silent trigger on the others
    fed = federation(tmp_path, owner)
    try:
        engine = fed.world.nodes[0].engine
        for key in (owner.signing, fed.duress):  # refused alike, real or duress
            with pytest.raises(FormatError) as refusal:
                signed(key, engine, fed.switch, "set-duress", duress_password="hidden horse 1")
            assert refusal.value.message == SEVERAL_SERVERS_NO_PASSWORD[0]
        fed.world.run(fed.world.now + 60)  # the relays delivered: nothing set anywhere
        for node in fed.world.nodes:
            with pytest.raises(Exception, match="wrong password"):
                node.engine.password_action(
                    fed.switch, "hidden horse 1", None, "checkin", client="10.9.9.9 x"
                )
    finally:
        close(fed)
