"""Several real ``afterword serve`` processes, each behind a TCP proxy the test drives.

The harness for the federation tests of issue 17 (docs/federation.md, "Proof"): a test
asks ``cluster_factory(3)`` for three servers and gets them running, each with

- its own data directory, its own port, its own SMTP server (aiosmtpd, ``.smtp``), and
  ``AFTERWORD_MIN_DURATION=1s``;
- a ``TcpProxy`` in front (``.proxy``), and ``AFTERWORD_PUBLIC_URL`` set to the proxy's
  address: ``.url`` is how the rest of the world (the CLI, the other servers) reaches it,
  so ``servers[i].proxy.cut()`` partitions that server from everyone;
- optionally a clock offset (``AFTERWORD_TEST_CLOCK_OFFSET``, seconds), and optionally
  PostgreSQL: ``postgres_index=i`` gives server i a fresh database of its own on
  127.0.0.1:5432, dropped when the test ends (the others use SQLite in their data dir).

``kill(i)`` SIGKILLs a server, ``start(i)`` starts it again on the same data and port,
``well_known(i)`` reads its ``/.well-known/afterword`` through its proxy. Every process,
proxy, SMTP server and database is gone when the test ends, whether it passed or not.

Cutting a server's proxy stops everyone reaching it, but not it reaching the others
(they are reached through their own proxies). For a real partition:

- ``partition({0, 1}, {2})``: servers reach only the servers of their own group (one
  not named is a group of its own); the test itself still reaches every server.
- ``isolate(i)``: server i reaches nobody and nobody reaches it, the test included (its
  proxy is cut as well).
- ``heal()`` ends every cut, partition and isolation. Both survive ``start(i)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.delivery.servers import SmtpServer
from tests.e2e.serve import Server
from tests.federation.proxy import TcpProxy
from tests.store.conftest import fresh_database

DAY = 86400


@dataclass(frozen=True)
class Node:
    """One server of a cluster: the process, the proxy in front of it, its mail."""

    index: int
    process: Server
    proxy: TcpProxy
    smtp: SmtpServer
    database: str | None  # its PostgreSQL URL; None: SQLite in its data directory
    clock_offset: int

    @property
    def url(self) -> str:
        """Where everyone else reaches it: through its proxy."""
        return self.proxy.url

    @property
    def direct_url(self) -> str:
        """Where the process listens, past the proxy (for the harness's own checks)."""
        return self.process.url

    @property
    def data_dir(self) -> Path:
        return self.process.data_dir

    @property
    def messages(self) -> list[EmailMessage]:
        return self.smtp.messages

    def running(self) -> bool:
        return self.process.running()

    def log(self) -> str:
        return self.process.log()


class Cluster:
    """``n`` servers; use as a context manager (or through ``cluster_factory``)."""

    def __init__(
        self,
        root: Path,
        n: int,
        *,
        postgres_index: int | None = None,
        clock_offsets: Sequence[int] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        if n < 1:
            raise ValueError("a cluster has at least one server")
        if postgres_index is not None and not 0 <= postgres_index < n:
            raise ValueError(f"postgres_index {postgres_index} is not one of the {n} servers")
        offsets = list(clock_offsets) if clock_offsets is not None else [0] * n
        if len(offsets) != n:
            raise ValueError(f"{len(offsets)} clock offsets for {n} servers")
        self.root = root
        self.n = n
        self.postgres_index = postgres_index
        self.clock_offsets = offsets
        self.env = dict(env or {})  # more settings for every server (AFTERWORD_PEER_WAIT)
        self.servers: list[Node] = []
        self._stack = contextlib.ExitStack()
        self._groups: list[frozenset[int]] = []  # a partition in force (empty: none)
        self._isolated: set[int] = set()

    def __enter__(self) -> Cluster:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process, then the proxies, SMTP servers, and drop the databases."""
        self._stack.close()

    def _build(self) -> None:
        for i in range(self.n):
            smtp = self._stack.enter_context(SmtpServer())
            database = None
            if i == self.postgres_index:
                database = self._stack.enter_context(fresh_database("afterword_fed"))
            folder = self.root / f"server{i}"
            folder.mkdir(parents=True)
            env = {**self.env, "AFTERWORD_TEST_CLOCK_OFFSET": str(self.clock_offsets[i])}
            process = Server(folder / "data", database, smtp.url, env=env)
            proxy = TcpProxy(process.port)
            self._stack.callback(proxy.close)
            while proxy.port == process.port:  # free_port's port, handed out again
                proxy = TcpProxy(process.port)
                self._stack.callback(proxy.close)
            # the address the server names in what it sends is the one the world uses
            process.env["AFTERWORD_PUBLIC_URL"] = proxy.url
            self.servers.append(Node(i, process, proxy, smtp, database, self.clock_offsets[i]))
        self._stack.callback(self._stop_all)  # first out: every process before any proxy
        for node in self.servers:  # side by side: start-up is mostly imports and migrations
            node.process.launch()
        for node in self.servers:
            node.process.wait_ready()

    def _stop_all(self) -> None:
        """SIGTERM to all at once, then wait for each (SIGKILL after 10 s)."""
        for node in self.servers:
            proc = node.process.proc
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for node in self.servers:
            node.process.stop()

    # ------------------------------------------------------------------ what a test drives

    def __getitem__(self, i: int) -> Node:
        return self.servers[i]

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.servers]

    def kill(self, i: int) -> None:
        """SIGKILL server i (its proxy stays: its URL now resets every connection)."""
        self.servers[i].process.kill()

    def stop(self, i: int) -> None:
        """SIGTERM server i, as an operator stops it."""
        self.servers[i].process.stop()

    def start(self, i: int) -> None:
        """Start server i again, on the same data (directory or database) and port; a
        partition or isolation in force holds for the new process too."""
        self.servers[i].process.start()
        if self._groups or self._isolated:
            self._apply()

    def partition(self, *groups: Iterable[int]) -> None:
        """From now on servers reach only the servers of their own group (replacing any
        partition before); connections open across groups are dropped. A server named in
        no group is a group of its own. The test's own requests are not cut."""
        sets = [frozenset(group) for group in groups]
        named = [i for group in sets for i in group]
        if len(named) != len(set(named)) or not set(named) <= set(range(self.n)):
            raise ValueError(f"groups {groups} are not disjoint sets of servers 0..{self.n - 1}")
        sets += [frozenset({i}) for i in range(self.n) if i not in named]
        self._groups = sets
        self._apply()

    def isolate(self, i: int) -> None:
        """Server i reaches no server and nothing reaches it (its proxy is cut)."""
        self._isolated.add(i)
        self._apply()

    def heal(self) -> None:
        """End every partition, isolation and proxy cut."""
        self._groups, self._isolated = [], set()
        for node in self.servers:
            node.proxy.heal()
        self._apply()

    def _apply(self) -> None:
        """Tell each proxy which server processes it refuses (by pid, as they are now),
        and cut the proxies of isolated servers."""
        pids = {
            node.index: node.process.proc.pid
            for node in self.servers
            if node.process.proc is not None and node.running()
        }
        groups = list(self._groups) or [frozenset(range(self.n))]
        for i in self._isolated:  # an isolated server is a group of its own
            groups = [g - {i} for g in groups] + [frozenset({i})]
        for node in self.servers:
            mine = next(g for g in groups if node.index in g)
            node.proxy.block(pid for j, pid in pids.items() if j not in mine)
            if node.index in self._isolated:
                node.proxy.cut()

    def well_known(self, i: int, timeout: float = 5) -> dict[str, Any]:
        """Server i's ``/.well-known/afterword``, read as anyone would: through its proxy."""
        response = httpx.get(self.servers[i].url + "/.well-known/afterword", timeout=timeout)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def messages(self) -> list[EmailMessage]:
        """Every mail any server of the cluster sent, server by server."""
        return [m for node in self.servers for m in node.messages]

    def logs(self) -> str:
        """Every server's log, headed by its index (for an assertion's message)."""
        return "\n".join(f"--- server {node.index}\n{node.log()}" for node in self.servers)


ClusterFactory = Callable[..., Cluster]


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[ClusterFactory]:
    """``cluster_factory(n, postgres_index=None, clock_offsets=None, env=None)``: a running
    :class:`Cluster` of ``n`` servers, torn down with the test (several may be made)."""
    with contextlib.ExitStack() as stack:
        made = 0

        def make(
            n: int,
            postgres_index: int | None = None,
            clock_offsets: Sequence[int] | None = None,
            env: dict[str, str] | None = None,
        ) -> Cluster:
            nonlocal made
            root = tmp_path / f"cluster{made}"
            made += 1
            cluster = Cluster(
                root, n, postgres_index=postgres_index, clock_offsets=clock_offsets, env=env
            )
            return stack.enter_context(cluster)

        yield make
