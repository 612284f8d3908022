"""Attack: one hostile server on the roster answers every signed check-in with a 409 that
names the highest counter there is (2**53-1). `afterword checkin` believes it, signs that
counter, and the honest servers take it. From then on no check-in can ever be newer (and
the CLI cannot even sign the next one): the owner is locked out of every server, checks in
"in time" and is refused, and the honest servers release: promise 1 broken by one peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afterword.cli import servers as cli_servers
from afterword.client import ServerError
from afterword.crypto.checkin import MAX_COUNTER
from afterword.crypto.keys import OwnerKey
from afterword.engine.federation import StaleCheckIn
from afterword.errors import AfterwordError
from tests.engine.federation import PEER_WAIT, POLICY, T0, Federation, close, federation


def fake_client(fed: Federation, hostile: str) -> type:
    class FakeClient:
        def __init__(self, url: str) -> None:
            self.url = url

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def signed_checkin(self, switch: str, doc: dict[str, Any]) -> dict[str, Any]:
            if self.url == hostile:  # a lie, as any server can tell
                raise ServerError("stale", status=409, body={"counter": MAX_COUNTER})
            engine = fed.world.node(self.url).engine
            try:
                return engine.signed_checkin(switch, doc, client="10.1.2.3 cli")
            except StaleCheckIn as exc:
                raise ServerError(exc.message, status=409, body={"counter": exc.highest}) from None
            except AfterwordError as exc:
                raise ServerError(exc.message, status=409) from None

    return FakeClient


def test_a_hostile_peer_409_locks_the_owner_out_of_every_server(
    tmp_path: Path, owner: OwnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        urls = [n.url for n in w.nodes]
        monkeypatch.setattr(cli_servers, "Client", fake_client(fed, hostile=urls[2]))
        monkeypatch.setattr(cli_servers.time, "time", lambda: w.now)
        keyfile = tmp_path / "owner.key"
        ok_each_time = []
        end = T0 + 4 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT)
        while w.now < end:  # the owner checks in every half interval, to every server
            w.run(w.now + POLICY.interval // 2)
            try:
                said = cli_servers.checkin_everywhere(urls, owner, keyfile, fed.switch)
                ok_each_time.append(any("error" not in a for a in said.values()))
            except AfterwordError:
                ok_each_time.append(False)
        honest = [n.engine.status(fed.switch) for n in w.nodes[:2]]
        assert [h["state"] for h in honest] == ["armed", "armed"], (
            [h["state"] for h in honest],
            ok_each_time,
        )
    finally:
        close(fed)


def test_a_check_in_refused_for_the_switchs_state_says_why(
    tmp_path: Path, owner: OwnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a 409 that names no counter is the switch refusing (it is released, disarmed ...),
    # not a stale check-in: the owner is told the server's own reason
    fed = federation(tmp_path, owner)
    try:
        w = fed.world
        urls = [n.url for n in w.nodes]
        monkeypatch.setattr(cli_servers, "Client", fake_client(fed, hostile=""))
        monkeypatch.setattr(cli_servers.time, "time", lambda: w.now)
        w.run(T0 + 2 * (POLICY.interval + POLICY.grace + POLICY.waiting + 2 * PEER_WAIT))
        assert set(fed.states()) == {"released"}, fed.states()  # silent: released
        said = cli_servers.checkin_everywhere(urls, owner, tmp_path / "owner.key", fed.switch)
        errors = [a["error"] for a in said.values()]
        assert len(errors) == 3, said
        for error in errors:
            assert "showed none" not in error and "released" in error, error
    finally:
        close(fed)
