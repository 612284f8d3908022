"""A TCP proxy a test drives, to partition one server from everyone else.

``TcpProxy(target_port)`` listens on 127.0.0.1 (an ephemeral port, ``.port``, ``.url``) and
forwards every connection to ``127.0.0.1:target_port``, both ways, byte for byte.

- ``cut()`` drops every open connection (reset) and resets every new one as soon as it is
  accepted. That is what makes an HTTP client fail fast: it sees a reset (or the peer
  closing) at once, where a connection left unanswered would wait for its read timeout.
  ``cut(blackhole=True)`` instead accepts new connections and never answers, for tests of
  timeouts and late answers; those are reset by ``heal()`` or ``close()``.
- ``heal()`` forwards again; ``close()`` stops listening, resets every connection and joins
  every thread it started (so a test leaks none).
- ``block({pid, ...})`` cuts only the connections made by those processes (open and new),
  and leaves everyone else's: how a cluster keeps one server from reaching its peers
  while the test still reaches them. All the connections here come from loopback, so the
  proxy tells processes apart by which one holds the connecting socket (Linux's /proc);
  it looks only while a block is in force. ``block(())`` ends it; ``heal()`` does not.
- When the target does not answer (its server killed), a new connection is reset at once,
  as a cut one is: a killed server looks like a refused one, not like a hung one.

One thread accepts; each forwarded connection has one thread that pumps both directions
(``select`` over the two sockets). Counters: ``accepted`` (every connection seen),
``forwarded`` (connected through to the target), ``refused`` (reset or held because the
proxy was cut), ``unreachable`` (the target refused), and ``active`` (open now).
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN: the peer learns at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _socket_inode(local_port: int, remote_port: int) -> str | None:
    """The inode of the loopback TCP socket from ``local_port`` to ``remote_port``."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    local, remote, inode = fields[1], fields[2], fields[9]
                    if (
                        int(local.rsplit(":", 1)[1], 16) == local_port
                        and int(remote.rsplit(":", 1)[1], 16) == remote_port
                    ):
                        return inode
        except OSError:
            continue
    return None


def _holds_socket(pid: int, inode: str) -> bool:
    """Whether process ``pid`` has the socket ``inode`` open."""
    wanted = f"socket:[{inode}]"
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{name}") == wanted:
                return True
    return False


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket | None = None
    aborted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None  # the pump

    def abort(self) -> None:
        """Wake the pump (a shut-down socket reads as closed, a blocked send fails); the
        pump thread itself resets and closes both sockets."""
        with self.lock:
            self.aborted = True
            for sock in (self.client, self.upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = LOOPBACK) -> None:
        self.target = (target_host, target_port)
        self.accepted = 0
        self.forwarded = 0
        self.refused = 0
        self.unreachable = 0
        self._cut = False
        self._blackhole = False
        self._sources: frozenset[int] = frozenset()  # processes whose connections are cut
        self._closed = False
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._held: list[socket.socket] = []  # blackholed: accepted, never answered
        self._threads: set[threading.Thread] = set()
        self._listener = socket.create_server((LOOPBACK, 0), backlog=128)
        self.port = int(self._listener.getsockname()[1])
        self._wake_r, self._wake_w = socket.socketpair()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"tcpproxy-{self.port}-accept", daemon=True
        )
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._links)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def threads(self) -> list[threading.Thread]:
        """The proxy's threads still alive (none after ``close()``)."""
        with self._lock:
            alive = [t for t in self._threads if t.is_alive()]
        return ([self._acceptor] if self._acceptor.is_alive() else []) + alive

    # ------------------------------------------------------------------ what a test drives

    def cut(self, *, blackhole: bool = False) -> None:
        """Partition: drop every open connection; reset (default) or hold unanswered
        (``blackhole``) every new one until ``heal()``. Returns once the open ones are gone."""
        with self._lock:
            self._cut, self._blackhole = True, blackhole
        self._drop_all()

    def heal(self) -> None:
        """Forward new connections again (but from processes ``block`` names); connections
        held by a blackhole are reset (their requests were never delivered, and delivering
        them late would be a replay)."""
        with self._lock:
            self._cut = self._blackhole = False
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

    def block(self, sources: Iterable[int]) -> None:
        """Cut only the connections these processes make (open ones dropped, new ones
        reset), replacing the set named before; ``block(())`` ends it. Independent of
        ``cut``/``heal``. Returns once the open ones are gone."""
        with self._lock:
            self._sources = frozenset(sources)
            blocked = self._sources
        if blocked:
            self._drop_all(lambda link: self._made_by(link.client, blocked))

    @property
    def blocked(self) -> frozenset[int]:
        return self._sources

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            held, self._held = self._held, []
        self._wake_w.send(b"x")
        self._acceptor.join(5)
        self._listener.close()
        for sock in held:
            _reset(sock)
        self._drop_all()
        with self._lock:
            threads, self._threads = list(self._threads), set()
        for thread in threads:
            thread.join(5)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inside

    def _drop_all(self, which: Callable[[_Link], bool] | None = None) -> None:
        """Abort the open links (those ``which`` picks), and wait for their threads."""
        with self._lock:
            links = list(self._links)
        links = [link for link in links if which is None or which(link)]
        for link in links:
            link.abort()
        for link in links:
            if link.thread is not None:
                link.thread.join(5)

    def _made_by(self, conn: socket.socket, pids: frozenset[int]) -> bool:
        """Whether one of ``pids`` made the connection ``conn`` accepted."""
        if not pids:
            return False
        try:
            peer_port = int(conn.getpeername()[1])
        except OSError:
            return False
        inode = _socket_inode(peer_port, self.port)
        return inode is not None and any(_holds_socket(pid, inode) for pid in pids)

    def _accept_loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._listener, self._wake_r], [], [])
            if self._wake_r in readable:
                return
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setblocking(True)
            with self._lock:
                self.accepted += 1
                if self._closed:
                    _reset(conn)
                    return
                if self._cut:
                    self.refused += 1
                    if self._blackhole:
                        self._held.append(conn)
                    else:
                        _reset(conn)
                    continue
                link = _Link(conn)
                self._links.add(link)
                thread = threading.Thread(
                    target=self._serve, args=(link,), name=f"tcpproxy-{self.port}", daemon=True
                )
                link.thread = thread
                self._threads = {t for t in self._threads if t.is_alive()}
                self._threads.add(thread)
                thread.start()  # under the lock: close never joins an unstarted one

    def _serve(self, link: _Link) -> None:
        clean = False
        try:
            with self._lock:
                sources = self._sources
            if sources and self._made_by(link.client, sources):
                with self._lock:
                    self.refused += 1
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                with self._lock:
                    self.unreachable += 1
                return
            upstream.settimeout(None)
            with link.lock:
                link.upstream = upstream
                aborted = link.aborted
            if aborted:
                return
            with self._lock:
                self.forwarded += 1
            clean = self._pump(link, link.client, upstream)
        finally:
            # a connection both ends closed is closed politely (what was sent arrives);
            # one that was cut, failed or found no target is reset
            end = socket.socket.close if clean else _reset
            end(link.client)
            if link.upstream is not None:
                end(link.upstream)
            with self._lock:
                self._links.discard(link)

    @staticmethod
    def _pump(link: _Link, client: socket.socket, upstream: socket.socket) -> bool:
        """Both directions until both ends have closed theirs (a half-close is passed on);
        False if it ended otherwise (cut, or a socket error)."""
        other = {client: upstream, upstream: client}
        reading = [client, upstream]
        while reading:
            readable, _, _ = select.select(reading, [], [])
            for sock in readable:
                try:
                    data = sock.recv(CHUNK)
                    if link.aborted:
                        return False
                    if data:
                        other[sock].sendall(data)
                        continue
                    other[sock].shutdown(socket.SHUT_WR)
                except OSError:
                    return False
                reading.remove(sock)
        return not link.aborted
