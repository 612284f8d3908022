"""The TCP proxy alone, against a real HTTP receiver on loopback (no afterword server):
it forwards both ways, a cut drops what is open and resets what comes, a heal forwards
again, and closing it leaves no thread behind."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.delivery.servers import WebhookServer, refusing_port
from tests.federation.proxy import TcpProxy


@pytest.fixture
def proxy(webhook_server: WebhookServer) -> Iterator[TcpProxy]:
    with TcpProxy(webhook_server.port) as p:
        yield p


def test_it_forwards_both_ways_and_counts(proxy: TcpProxy, webhook_server: WebhookServer) -> None:
    webhook_server.respond(201, {"X-Back": "yes"})
    body = {"payload": "x" * 200_000}  # more than one read's worth each way
    with httpx.Client(timeout=5) as client:
        for _ in range(3):  # one kept-alive connection
            answer = client.post(proxy.url + "/in", json=body)
            assert answer.status_code == 201 and answer.headers["X-Back"] == "yes"
    assert [r.body for r in webhook_server.requests] == [body] * 3
    assert (proxy.accepted, proxy.forwarded, proxy.refused) == (1, 1, 0)
    httpx.post(proxy.url + "/in", json={}, timeout=5)
    assert (proxy.accepted, proxy.forwarded) == (2, 2)


def test_a_cut_resets_open_and_new_connections_and_a_heal_forwards(
    proxy: TcpProxy, webhook_server: WebhookServer
) -> None:
    with httpx.Client(timeout=10) as client:
        client.post(proxy.url + "/in", json={}).raise_for_status()
        proxy.cut()
        assert proxy.active == 0 and proxy.is_cut
        start = time.monotonic()
        with pytest.raises(httpx.TransportError):
            client.post(proxy.url + "/in", json={})
        with pytest.raises(httpx.TransportError):
            httpx.post(proxy.url + "/in", json={}, timeout=10)
        assert time.monotonic() - start < 1
        assert proxy.refused >= 1
        assert len(webhook_server.requests) == 1  # nothing got through

        proxy.heal()
        client.post(proxy.url + "/in", json={}).raise_for_status()
    assert len(webhook_server.requests) == 2


def test_a_blackhole_holds_new_connections_unanswered(
    proxy: TcpProxy, webhook_server: WebhookServer
) -> None:
    proxy.cut(blackhole=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(proxy.url + "/in", json={}, timeout=0.5)
    assert proxy.refused == 1 and not webhook_server.requests
    proxy.heal()
    httpx.post(proxy.url + "/in", json={}, timeout=5).raise_for_status()


CHILD = """
import sys, httpx
url = sys.argv[1]
with httpx.Client(timeout=5) as kept:
    kept.post(url, json={}).raise_for_status()
    print("first", flush=True)
    sys.stdin.readline()
    for name, send in (("kept", kept.post), ("new", httpx.post)):
        try:
            send(url, json={}, timeout=5).raise_for_status()
            print(name, "ok", flush=True)
        except httpx.TransportError:
            print(name, "failed", flush=True)
"""


def test_a_block_cuts_one_process_only(proxy: TcpProxy, webhook_server: WebhookServer) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, proxy.url + "/in"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "first"
        with httpx.Client(timeout=5) as mine:
            mine.post(proxy.url + "/in", json={}).raise_for_status()
            assert proxy.active == 2
            proxy.block({child.pid})
            assert proxy.active == 1  # the child's connection went, not mine
            mine.post(proxy.url + "/in", json={}).raise_for_status()
        child.stdin.write("\n")
        child.stdin.flush()
        said = [child.stdout.readline().strip() for _ in range(2)]
        assert said == ["kept failed", "new failed"]
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert proxy.refused >= 1 and proxy.blocked == {child.pid}
    httpx.post(proxy.url + "/in", json={}, timeout=5).raise_for_status()
    proxy.block(())
    assert proxy.blocked == frozenset()


def test_no_target_resets_at_once() -> None:
    with refusing_port() as port, TcpProxy(port) as proxy:
        start = time.monotonic()
        with pytest.raises(httpx.TransportError):
            httpx.get(proxy.url, timeout=10)
        assert time.monotonic() - start < 1
        assert (proxy.accepted, proxy.forwarded, proxy.unreachable) == (1, 0, 1)


def test_close_leaves_no_thread_and_no_listener(webhook_server: WebhookServer) -> None:
    proxy = TcpProxy(webhook_server.port)
    clients = [httpx.Client(timeout=5) for _ in range(5)]
    for client in clients:  # five connections open, each with its pump thread
        client.post(proxy.url + "/in", json={}).raise_for_status()
    proxy.cut(blackhole=True)
    held = httpx.Client(timeout=0.3)
    with pytest.raises(httpx.ReadTimeout):
        held.post(proxy.url + "/in", json={})
    assert len(proxy.threads()) == 1  # the acceptor; the pumps went with the cut
    proxy.heal()
    clients[0].post(proxy.url + "/in", json={}).raise_for_status()
    proxy.close()
    assert proxy.threads() == []
    # by name too (the receiver's own handler threads come and go as they please)
    assert not [t for t in threading.enumerate() if t.name.startswith(f"tcpproxy-{proxy.port}")]
    with pytest.raises(httpx.ConnectError):  # nothing listens there now
        httpx.get(proxy.url, timeout=1)
    for client in [*clients, held]:
        client.close()
