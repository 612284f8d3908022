"""Real receivers on loopback for delivery tests, and for end-to-end tests to reuse.

``SmtpServer`` is an aiosmtpd server that keeps every accepted mail as an
``email.message.EmailMessage``; ``WebhookServer`` is a stdlib ``ThreadingHTTPServer`` that
keeps every request. Both bind port 0 on 127.0.0.1 (no port races, nothing leaves the
machine) and can be told to fail, so the classification of every failure is tested against
a real peer rather than a mock.

Reuse from another test package's ``conftest.py``::

    from tests.delivery.servers import smtp_server, webhook_server  # noqa: F401

or use the context managers directly: ``with SmtpServer() as smtp: ...``.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- SMTP


class _LoopbackController(Controller):
    """An aiosmtpd Controller that binds port 0 and learns the port the kernel chose.

    The stock Controller needs a fixed port up front; picking a "free" one and binding it
    later races with other processes.
    """

    def _create_server(self) -> Any:
        return self._bind_any_port()

    async def _bind_any_port(self) -> Any:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server


class SmtpEnvelope(NamedTuple):
    mail_from: str | None
    rcpt_tos: list[str]


class SmtpServer:
    """An SMTP server on 127.0.0.1 that records what it accepts.

    ``messages`` holds accepted mails in order; ``envelopes`` their SMTP envelopes. Set
    ``rcpt_reply`` (e.g. ``"550 5.1.1 no such user"``) to answer every RCPT TO with it, or
    ``data_reply`` to answer DATA with it; ``None`` accepts. With ``credentials`` the server
    offers AUTH (without TLS, loopback only) and requires it.
    """

    def __init__(self, credentials: tuple[str, str] | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[SmtpEnvelope] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.rcpt_attempts = 0
        self._cond = threading.Condition()
        kwargs: dict[str, Any] = {}
        if credentials is not None:
            kwargs.update(
                authenticator=self._authenticator(credentials),
                auth_require_tls=False,
                auth_required=True,
            )
        self._controller = _LoopbackController(
            self, hostname=LOOPBACK, port=0, server_hostname="localhost", **kwargs
        )

    @staticmethod
    def _authenticator(credentials: tuple[str, str]) -> Any:
        user, password = credentials

        def check(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (
                data.login.decode(),
                data.password.decode(),
            ) == (user, password)
            return AuthResult(success=ok, handled=False)

        return check

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def url(self) -> str:
        return f"smtp://{LOOPBACK}:{self.port}"

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[EmailMessage]:
        """Wait until at least ``count`` mails arrived (for tests of background workers)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
            return list(self.messages)

    # aiosmtpd handler hooks (called on the server's event-loop thread)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.rcpt_attempts += 1
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._cond:
            self.messages.append(parsed)
            self.envelopes.append(SmtpEnvelope(envelope.mail_from, list(envelope.rcpt_tos)))
            self._cond.notify_all()
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port where connecting is refused, reserved while the block runs.

    The socket is bound but never listens, so the kernel answers every connection attempt
    with a reset and no other process can start listening there meanwhile.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


@contextlib.contextmanager
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel completes the handshake) but
    never says anything: the shape of a hung server, for timeout tests."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK, 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


class TricklingServer:
    """A hostile webhook receiver on loopback: it reads the request, then sends its status
    line one byte every ``pause`` seconds, for ever (each read well inside a per-read
    timeout, the request never done). ``url`` is its ``http://`` URL; ``hits`` counts
    the requests that reached it."""

    def __init__(self, pause: float = 0.5) -> None:
        self.pause = pause
        self.hits = 0
        self._stopping = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((LOOPBACK, 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                self.hits += 1
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                    conn.send(bytes([byte]))
                    if self._stopping.wait(self.pause):
                        return
            except OSError:
                return

    def __enter__(self) -> TricklingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        self._sock.close()


# --------------------------------------------------------------------------- webhooks


class Headers(dict[str, str]):
    """Request header fields keyed by lower-case name; lookups ignore case, as HTTP does."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class Request(NamedTuple):
    """One recorded request: unpacks as ``(headers, body)``; ``body`` is the parsed JSON, or
    the raw bytes if the body was not JSON."""

    headers: Headers
    body: Any


@dataclass(frozen=True)
class Reply:
    """How the webhook server answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds to wait before answering (the request is recorded first), for timeouts.
    delay: float = 0.0


class WebhookServer:
    """An HTTP server on 127.0.0.1 that records every request and answers as scripted.

    ``url`` is ``http://127.0.0.1:PORT/hook`` (any path is accepted; ``paths`` records
    them). ``requests`` holds ``(headers, json body)`` pairs in arrival order, ``raw`` their
    bodies' bytes. ``default``
    is the reply to every request; ``script(...)`` queues replies used one per request
    before falling back to ``default``.
    """

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.raw: list[bytes] = []  # each request's body as it arrived, byte for byte
        self.paths: list[str] = []
        self.default = Reply()
        self._queue: list[Reply] = []
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer((LOOPBACK, 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hook"

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order, then with ``default``."""
        with self._lock:
            self._queue.extend(replies)

    def respond(self, status: int, headers: Mapping[str, str] | None = None) -> None:
        """Answer every following request with ``status`` (shorthand for ``default``)."""
        self.default = Reply(status, dict(headers or {}))

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Request]:
        """Wait until at least ``count`` requests arrived (for tests of background workers)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
            return list(self.requests)

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in a delayed reply
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, path: str, headers: Headers, raw: bytes) -> Reply:
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        with self._lock:
            self.requests.append(Request(headers, body))
            self.raw.append(raw)
            self.paths.append(path)
            self._lock.notify_all()
            return self._queue.pop(0) if self._queue else self.default

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # an idle keep-alive connection does not keep a thread forever

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                fields: dict[str, str] = {}
                for name, value in self.headers.items():
                    key = name.lower()
                    fields[key] = f"{fields[key]}, {value}" if key in fields else value
                reply = owner._record(self.path, Headers(fields), raw)
                if reply.delay and owner._stopping.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (a timeout test); nothing to answer

            do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A fresh SMTP server on 127.0.0.1: ``.url``, ``.messages``, ``.rcpt_reply``..."""
    with SmtpServer() as server:
        yield server


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """A fresh webhook receiver on 127.0.0.1: ``.url``, ``.requests``, ``.respond(...)``..."""
    with WebhookServer() as server:
        yield server


def elapsed(start: float) -> float:
    """Seconds since ``start`` (a ``time.monotonic()`` value)."""
    return time.monotonic() - start


def text_of(mail: EmailMessage) -> str:
    """A received mail's plain text (every mail afterword sends has an HTML twin)."""
    body = mail.get_body(("plain",))
    assert body is not None, mail
    return str(body.get_content())
