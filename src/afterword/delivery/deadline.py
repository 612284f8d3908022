"""A total deadline for one HTTP exchange, enforced beneath httpx.

httpx's timeouts bound each network operation, not the request: a receiver that sends its
answer one byte every few seconds keeps every read under the read timeout and the request
alive forever. Anyone may arm a switch with a webhook they run, so that receiver is a
hostile one. The backend here wraps httpcore's own: while :func:`time_limit` is active on the
calling thread, every connect, DNS lookup, TLS handshake, read and write is given at most
the time left before the deadline, and fails with httpcore's timeout once it has passed.
httpx maps those to :class:`httpx.TimeoutException`, which the webhook sender already
reports as a transient failure, retried by the outbox like any other.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

_local = threading.local()


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Within the block, HTTP through :func:`deadline_transport` on this thread ends by
    ``seconds`` from now (a timeout exception past that)."""
    _local.until = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.until = None


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before the deadline; ``error`` if none is left."""
    until = getattr(_local, "until", None)
    if until is None:
        return timeout
    left = until - time.monotonic()
    if left <= 0:
        raise error("the delivery's deadline has passed")
    return left if timeout is None else min(timeout, left)


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of ``host``, waiting at most ``timeout`` for the resolver.

    ``getaddrinfo`` cannot be interrupted, so it runs on a daemon thread that is left to
    finish on its own (the system resolver's own timeouts end it) if the answer is late."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    answer: list[Any] = []

    def lookup() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answer.append(exc)

    thread = threading.Thread(target=lookup, name="afterword-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not answer:
        raise httpcore.ConnectTimeout(f"no DNS answer for {host} in time")
    if isinstance(answer[0], OSError):
        raise httpcore.ConnectError(str(answer[0]))
    addresses = [str(info[4][0]) for info in answer[0]]
    return list(dict.fromkeys(addresses))  # in the resolver's order, once each


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # (one recv: the time left bounds it; TLS reads bound their total since 3.5)
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        sock = self._inner.get_extra_info("socket")
        if not isinstance(sock, socket.socket):
            self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))
            return
        # httpcore's loop gives each partial send the whole timeout: a receiver that
        # takes a byte at a time would stretch it without end. The time left, each send.
        view = memoryview(buffer)
        while view:
            sock.settimeout(_left(timeout, httpcore.WriteTimeout))
            try:
                sent = sock.send(view)
            except TimeoutError as exc:
                raise httpcore.WriteTimeout(str(exc)) from exc
            except OSError as exc:
                raise httpcore.WriteError(str(exc)) from exc
            view = view[sent:]

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        # (a handshake's timeout bounds its total duration, not each read, since 3.5)
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's synchronous backend, every step bounded by the thread's deadline."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port, _left(timeout, httpcore.ConnectTimeout))
        failure: Exception = httpcore.ConnectError(f"{host} has no address")
        for address in addresses:  # as socket.create_connection does, one after another
            try:
                stream = self._inner.connect_tcp(
                    address,
                    port,
                    _left(timeout, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _Stream(stream)
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def deadline_transport() -> httpx.HTTPTransport:
    """httpx's default transport (its TLS settings and pool limits) over
    :class:`DeadlineBackend`.

    httpx 0.29 takes no network backend (encode/httpx#3749 would add one), so the
    transport's connection pool is replaced by one built with it; if a later httpx keeps
    its pool elsewhere this fails at once rather than silently losing the deadline."""
    transport = httpx.HTTPTransport()
    if not isinstance(getattr(transport, "_pool", None), httpcore.ConnectionPool):
        raise RuntimeError("httpx.HTTPTransport no longer keeps a _pool: update deadline.py")
    transport._pool.close()
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=100,  # httpx's defaults
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=DeadlineBackend(),
    )
    return transport
