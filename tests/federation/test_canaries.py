"""A protected person on a switch on three real ``afterword serve`` processes, added and
checked in through the CLI (docs/federation.md, item 7): ``canary add`` with ``--server``
three times makes the links itself and prints one per server, every server knows her,
and a check-in at one server is relayed to the others."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afterword.crypto.keys import load_owner_key
from tests.conftest import PASSPHRASE
from tests.federation.cluster import ClusterFactory
from tests.federation.test_federation import (
    PEER_WAIT,
    arm_everywhere,
    cli,
    sealed,
    truth,
    wait_until,
)

pytestmark = pytest.mark.slow


def test_the_cli_adds_her_everywhere_and_her_check_in_reaches_every_server(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    cluster = cluster_factory(3, env={"AFTERWORD_PEER_WAIT": PEER_WAIT})
    bundle, switch = sealed(tmp_path, cluster, 2)
    arm_everywhere(cluster, bundle, tmp_path, "1h")
    servers = [arg for url in cluster.urls for arg in ("--server", url)]
    added = json.loads(
        cli(
            "canary", "add", *servers, "--owner-key", "owner.key", "--switch", switch,
            "--name", "mother", "--interval", "1d", "--on-miss", "trigger", "--json",
            cwd=tmp_path,
        ).stdout
    )  # fmt: skip
    token = added["token"]
    assert set(added["servers"]) == set(cluster.urls)
    for url, links in added["servers"].items():
        assert links == {
            "url": f"{url}/canary/{token}",
            "duress_url": f"{url}/canary/{added['duress_token']}",
        }
    said = cli("canary", "checkin", "--server", cluster[1].url, "--token", token, cwd=tmp_path)
    assert "Thank you, mother" in said.stdout
    owner = load_owner_key(tmp_path / "owner.key", PASSPHRASE)

    def relayed_to_all() -> bool:
        for i in (0, 2):
            log = truth(cluster, i, switch, owner)["audit"]
            if not any(e["kind"] == "canary-checkin" and "relayed" in e["detail"] for e in log):
                return False
        return True

    wait_until(relayed_to_all, timeout=30, why=lambda: "not relayed\n" + cluster.logs())
    assert [truth(cluster, i, switch, owner)["state"] for i in range(3)] == ["armed"] * 3
