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
- When the target does not answer (its server killed), a new connection is reset at once,
  as a cut one is: a killed server looks like a refused one, not like a hung one.

One thread accepts; each forwarded connection has one thread that pumps both directions
(``select`` over the two sockets). Counters: ``accepted`` (every connection seen),
``forwarded`` (connected through to the target), ``refused`` (reset or held because the
proxy was cut), ``unreachable`` (the target refused), and ``active`` (open now).
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"
CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a polite FIN: the peer learns at once."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@dataclass(eq=False)
class _Link:
    client: socket.socket
    upstream: socket.socket | None = None
    aborted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

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
        """Forward new connections again; connections held by a blackhole are reset (their
        requests were never delivered, and delivering them late would be a replay)."""
        with self._lock:
            self._cut = self._blackhole = False
            held, self._held = self._held, []
        for sock in held:
            _reset(sock)

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
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ inside

    def _drop_all(self) -> None:
        with self._lock:
            links, threads = list(self._links), list(self._threads)
        for link in links:
            link.abort()
        for thread in threads:
            thread.join(5)
        with self._lock:
            self._threads = {t for t in self._threads if t.is_alive()}

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
                self._threads = {t for t in self._threads if t.is_alive()}
                self._threads.add(thread)
                thread.start()  # under the lock: a cut or close never joins an unstarted one

    def _serve(self, link: _Link) -> None:
        clean = False
        try:
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
