"""The federation harness proves itself on today's single-server product: real servers
start side by side, each its own; a cut proxy fails a request fast and a healed one
carries it again; a SIGKILLed server is gone and comes back as itself; a clock offset is
the server's own time; the PostgreSQL server keeps its switches in PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from afterword.client import Client
from afterword.crypto.bundle import Custodian, seal_bundle
from afterword.crypto.keys import OwnerKey
from tests.delivery.servers import text_of
from tests.federation.cluster import DAY, Cluster, ClusterFactory
from tests.owner_request import next_counter as request_number
from tests.store.conftest import PG_ADMIN

pytestmark = pytest.mark.slow

HOUR = 3600
FAST = 2.0  # seconds: what "fails fast" means here (a read timeout would be 10)


def well_known(url: str, timeout: float = 10) -> dict[str, Any]:
    response = httpx.get(url + "/.well-known/afterword", timeout=timeout)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def fails_within(url: str, seconds: float) -> httpx.TransportError:
    """A request to ``url`` fails at the transport (no HTTP answer) within ``seconds``,
    although its own timeout is 10 s."""
    start = time.monotonic()
    with pytest.raises(httpx.TransportError) as failed:
        well_known(url, timeout=10)
    took = time.monotonic() - start
    assert took < seconds, f"the request took {took:.1f} s to fail"
    return failed.value


def arm(
    tmp_path: Path,
    url: str,
    *,
    interval: int,
    reminders: list[int],
    owner_contact: str = "mailto:owner@example.org",
) -> tuple[str, OwnerKey]:
    """Seal a one-document, 1-of-1 paper bundle and arm it on ``url``; (switch, owner).
    The reminders go to ``owner_contact`` (a mail address or a webhook)."""
    owner = OwnerKey.generate()
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = tmp_path / "evidence.txt"
    doc.write_text("the ledger")
    bundle = tmp_path / f"bundle-{time.monotonic_ns()}"
    seal_bundle([doc], bundle, owner, [Custodian("carol", "paper")], 1)
    policy = {
        "interval": interval,
        "grace": HOUR,
        "waiting": HOUR,
        "reminders": reminders,
        "cooling_off": DAY,
        "duress_delay": 0,
    }
    contacts = {
        "owner": [owner_contact],
        "custodians": {},
        "recipients": ["mailto:press@example.org"],
        "alert_custodians": False,
    }
    with Client(url, timeout=30) as client:
        armed = client.arm(bundle, policy=policy, contacts=contacts, server_custodians=[])
    return str(armed["switch"]), owner


def status(url: str, switch: str, owner: OwnerKey) -> dict[str, Any]:
    with Client(url, timeout=30) as client:
        return client.owner(switch, owner, "status", request_number())


def test_three_servers_start_each_with_its_own_key(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(3)
    seen = [cluster.well_known(i) for i in range(3)]
    assert len({w["server_key"] for w in seen}) == 3
    assert len({w["recipient"] for w in seen}) == 3
    assert len(set(cluster.urls)) == 3
    for node, answer in zip(cluster.servers, seen, strict=True):
        assert node.running()
        assert node.url != node.direct_url  # the world's address is the proxy's
        assert well_known(node.direct_url) == answer  # and it is that server behind it
        assert node.proxy.forwarded >= 1
        assert node.database is None and (node.data_dir / "afterword.db").is_file()


def test_a_cut_fails_fast_and_a_heal_carries_again(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(3)
    cut = cluster[1]
    with httpx.Client(timeout=10) as kept:  # a connection open when the cut comes
        kept.get(cut.url + "/.well-known/afterword").raise_for_status()
        assert cut.proxy.active == 1

        cut.proxy.cut()
        assert cut.proxy.active == 0
        with pytest.raises(httpx.TransportError):
            kept.get(cut.url + "/.well-known/afterword")
        fails_within(cut.url, FAST)
        assert cut.proxy.refused >= 1
        # partitioned from everyone, but alive, and the others still answer
        assert cut.running()
        well_known(cut.direct_url)
        for i in (0, 2):
            cluster.well_known(i)

        cut.proxy.heal()
        assert cluster.well_known(1)["server_key"] == well_known(cut.direct_url)["server_key"]
        kept.get(cut.url + "/.well-known/afterword").raise_for_status()


def test_a_blackhole_answers_nothing_until_healed(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(1)
    node = cluster[0]
    node.proxy.cut(blackhole=True)
    start = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        well_known(node.url, timeout=1)
    assert time.monotonic() - start >= 0.9  # held, not refused
    node.proxy.heal()
    cluster.well_known(0)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def test_a_partition_keeps_servers_from_each_other_not_the_test(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    """Server 0 sends its owner's reminder to a webhook on server 1 (any request of one
    server to another would do; a 404 is still a connection): across a partition the
    connection is refused, and once healed it goes through."""
    cluster = cluster_factory(2)
    hook = cluster[1].url + "/hook"
    cluster.partition({0}, {1})
    arm(tmp_path / "a", cluster[0].url, interval=HOUR, reminders=[HOUR], owner_contact=hook)
    wait_until(lambda: cluster[1].proxy.refused >= 1, 15, "server 0 refused at server 1")
    assert cluster[1].proxy.blocked == {cluster[0].process.proc.pid}  # type: ignore[union-attr]
    for i in (0, 1):  # the test itself still reaches both
        cluster.well_known(i)

    cluster.heal()
    assert cluster[1].proxy.blocked == frozenset()
    before, refused = cluster[1].proxy.forwarded, cluster[1].proxy.refused
    arm(tmp_path / "b", cluster[0].url, interval=HOUR, reminders=[HOUR], owner_contact=hook)
    wait_until(lambda: cluster[1].proxy.forwarded > before, 15, "server 0 got through")
    assert cluster[1].proxy.refused == refused


def test_an_isolated_server_reaches_nobody_and_nobody_it_even_restarted(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory(3)
    cluster.isolate(2)
    fails_within(cluster[2].url, FAST)
    well_known(cluster[2].direct_url)  # alive behind its cut proxy
    pid = cluster[2].process.proc.pid  # type: ignore[union-attr]
    assert cluster[0].proxy.blocked == cluster[1].proxy.blocked == {pid}
    assert cluster[2].proxy.is_cut  # and nobody at all reaches it
    cluster.kill(2)
    cluster.start(2)
    new = cluster[2].process.proc.pid  # type: ignore[union-attr]
    assert new != pid
    assert cluster[0].proxy.blocked == cluster[1].proxy.blocked == {new}
    fails_within(cluster[2].url, FAST)
    cluster.heal()
    cluster.well_known(2)
    assert all(node.proxy.blocked == frozenset() for node in cluster.servers)


def test_kill_makes_it_unreachable_and_start_brings_it_back(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory(3)
    before = cluster.well_known(2)
    cluster.kill(2)
    assert not cluster[2].running()
    fails_within(cluster[2].url, FAST)  # the proxy finds nobody behind it: reset at once
    assert cluster[2].proxy.unreachable >= 1
    cluster.well_known(0)
    cluster.start(2)
    assert cluster[2].running()
    after = cluster.well_known(2)
    assert after["server_key"] == before["server_key"]
    assert after["recipient"] == before["recipient"]


def test_a_clock_offset_is_the_servers_own_time(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    """Armed at the same moment with the same interval, the switch on the server three
    days ahead is due three days later; its worker holds nothing for it (a constant
    offset is no clock jump), and it sends its reminder as the others do, naming its
    proxy's address."""
    cluster = cluster_factory(2, clock_offsets=[0, 3 * DAY])
    interval = 4 * HOUR
    due: list[int] = []
    armed = []
    for i, node in enumerate(cluster.servers):
        # a reminder due at once (as long before the deadline as the interval): a mail
        switch, owner = arm(tmp_path / str(i), node.url, interval=interval, reminders=[interval])
        armed.append((switch, owner))
        now = time.time()
        shown = status(node.url, switch, owner)
        assert shown["state"] == "armed"
        due.append(shown["deadline"])
        assert abs(shown["deadline"] - (now + node.clock_offset + interval)) < 60
    assert abs(due[1] - due[0] - 3 * DAY) < 60

    for node, (switch, owner) in zip(cluster.servers, armed, strict=True):
        reminders = node.smtp.wait_for(1, timeout=15)
        assert any(node.url in text_of(m) for m in reminders), cluster.logs()
        shown = status(node.url, switch, owner)
        assert shown["state"] == "armed" and not shown["held"], shown
    # "check-in due by <the deadline>": each server's own
    assert cluster[0].messages[0]["Subject"] != cluster[1].messages[0]["Subject"]


def test_the_postgresql_server_keeps_its_switches_in_postgresql(
    cluster_factory: ClusterFactory, tmp_path: Path
) -> None:
    cluster: Cluster = cluster_factory(2, postgres_index=1)
    sqlite, pg = cluster[0], cluster[1]
    assert sqlite.database is None and pg.database is not None
    assert not (pg.data_dir / "afterword.db").exists()
    switch, _ = arm(tmp_path / "pg", pg.url, interval=HOUR, reminders=[])
    other, _ = arm(tmp_path / "sqlite", sqlite.url, interval=HOUR, reminders=[])
    engine = sa.create_engine(pg.database)
    try:
        with engine.connect() as c:
            ids = set(c.execute(sa.text("SELECT id FROM switches")).scalars())
    finally:
        engine.dispose()
    assert ids == {switch}
    assert other not in ids


def test_a_server_that_cannot_start_fails_with_its_log_and_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFTERWORD_ARM_QUOTA", "many")  # every server refuses to start
    cluster = Cluster(tmp_path, 2, postgres_index=1)
    try:
        with pytest.raises(AssertionError, match="did not start") as failed:
            cluster.__enter__()
    finally:
        cluster.close()  # were this test to fail: the servers would be up (closing twice is fine)
    assert "AFTERWORD_ARM_QUOTA" in str(failed.value)  # with the log of the one that failed
    for node in cluster.servers:
        assert not node.running()
        assert node.proxy.threads() == []
    database = cluster[1].database
    assert database is not None
    admin = sa.create_engine(PG_ADMIN)
    try:
        with admin.connect() as c:
            names = set(c.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    finally:
        admin.dispose()
    assert database.rsplit("/", 1)[1] not in names
