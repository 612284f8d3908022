"""What keeps the web pages safe: CSRF tokens, owner sessions, security headers, rate limits.

- **CSRF**: a random cookie, and in every form a token that is an HMAC of that cookie under
  the server's secret. A page on another site can neither read the cookie nor compute the
  token, so it cannot make a browser submit a form here. Cookies are SameSite=Strict too.
- **Sessions**: an encrypted cookie (AES-GCM) naming one switch, when the session ends (one
  hour) and, unreadable to whoever holds the browser, whether the duress password opened
  it. Nothing is kept on the server, so web nodes sharing the server key all agree.
- **Headers**: every response carries a strict Content-Security-Policy (no script at all,
  styles and images from this site only, forms post only here, no framing), and asks for
  no referrer (release and custodian links must not leak to other sites) and no sniffing.
- **Rate limits**: in memory, per client address and switch, on sign-in, check-in and
  share submission; past the limit the answer is 429 with how long to wait.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
CSRF_FIELD = "csrf"
SESSION_SECONDS = 3600
CSRF_SECONDS = 24 * 3600


class ResponseStartHook:
    """ASGI middleware: :meth:`started` sees the start (status, headers) of every HTTP
    response, whatever made it, before it is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def started(self, message: Message) -> None:
        raise NotImplementedError

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_seen(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started(message)
            await send(message)

        await self.app(scope, receive, send_seen)


class SecurityHeaders(ResponseStartHook):
    """ASGI middleware: the security headers on every HTTP response, whatever made it."""

    def started(self, message: Message) -> None:
        headers = MutableHeaders(scope=message)
        for name, value in HEADERS.items():
            headers[name] = value


@dataclass(frozen=True)
class Limit:
    """At most ``count`` attempts in ``window`` seconds."""

    count: int
    window: float
    what: str  # for the message: "sign-in attempts"


@dataclass(frozen=True)
class Limits:
    signin: Limit = Limit(10, 900, "sign-in attempts")
    checkin: Limit = Limit(10, 600, "check-ins")
    share: Limit = Limit(10, 900, "share submissions")
    custodian: Limit = Limit(10, 900, "custodian code attempts")
    canary: Limit = Limit(10, 600, "check-ins")


class RateLimiter:
    """Sliding-window counts per key, in memory (per process), bounded in size."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, limit: Limit, key: tuple[str, ...]) -> int | None:
        """Count one attempt; None if it is allowed, else the seconds until one is."""
        now = self.clock()
        with self._lock:
            if len(self._hits) >= self.max_keys:
                self._prune(now, limit.window)
            times = self._hits.setdefault(key, deque())
            while times and times[0] <= now - limit.window:
                times.popleft()
            if len(times) >= limit.count:
                return max(1, int(times[0] + limit.window - now + 0.999))
            times.append(now)
            return None

    def _prune(self, now: float, window: float) -> None:
        stale = [k for k, t in self._hits.items() if not t or t[-1] <= now - window]
        for k in stale:
            del self._hits[k]
        if len(self._hits) >= self.max_keys:  # still full: forget the oldest half
            keep = sorted(self._hits.items(), key=lambda kv: kv[1][-1])[len(self._hits) // 2 :]
            self._hits = dict(keep)


def wait_text(seconds: int) -> str:
    minutes = (seconds + 59) // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass
class Security:
    """Cookies, tokens and limits for the pages; ``secret`` comes from the server key."""

    secret: bytes
    secure: bool  # the public URL is https: cookies are Secure and __Host- prefixed
    limits: Limits = field(default_factory=Limits)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    wall_clock: Callable[[], float] = time.time

    @property
    def csrf_cookie(self) -> str:
        return "__Host-afterword_csrf" if self.secure else "afterword_csrf"

    @property
    def session_cookie(self) -> str:
        return "__Host-afterword_session" if self.secure else "afterword_session"

    @property
    def custodian_cookie(self) -> str:
        return "__Host-afterword_custodian" if self.secure else "afterword_custodian"

    def _mac(self, purpose: str, text: str) -> str:
        return hmac.new(self.secret, f"{purpose}\0{text}".encode(), hashlib.sha256).hexdigest()

    def set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure,
        )

    # --- CSRF ---------------------------------------------------------------------------

    def csrf(self, request: Request) -> tuple[str, str | None]:
        """The token for this browser's forms, and a new cookie value to set if it had none."""
        cookie = request.cookies.get(self.csrf_cookie, "")
        fresh = None
        if len(cookie) != 32 or not cookie.isalnum():
            cookie = fresh = secrets.token_hex(16)
        return self._mac("csrf", cookie), fresh

    def csrf_ok(self, request: Request, token: object) -> bool:
        cookie = request.cookies.get(self.csrf_cookie, "")
        if not cookie or not isinstance(token, str):
            return False
        return hmac.compare_digest(self._mac("csrf", cookie), token)

    # --- owner sessions ----------------------------------------------------------------

    def seal(self, kind: str, payload: dict[str, Any], ttl: int = SESSION_SECONDS) -> str:
        """A cookie value only this server can read or make (AES-GCM, bound to ``kind``),
        that stops being accepted ``ttl`` seconds from now."""
        body = json.dumps({"p": payload, "e": int(self.wall_clock()) + ttl}, separators=(",", ":"))
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._session_key).encrypt(nonce, body.encode(), kind.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def unseal(self, kind: str, value: str) -> dict[str, Any] | None:
        """The payload of a genuine, live cookie value of ``kind``; else None."""
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            body = json.loads(AESGCM(self._session_key).decrypt(raw[:12], raw[12:], kind.encode()))
            payload, expires = body["p"], body["e"]
        except (ValueError, KeyError, TypeError, InvalidTag):
            return None
        if not isinstance(payload, dict) or not isinstance(expires, int):
            return None
        return payload if expires >= self.wall_clock() else None

    def new_session(self, switch_id: str, duress: bool = False) -> str:
        """An owner's session: whether the duress password opened it is sealed inside,
        unreadable to whoever holds the browser, and both kinds are the same size."""
        return self.seal("session", {"s": switch_id, "d": int(duress)})

    def session(self, request: Request) -> tuple[str, bool] | None:
        """(switch, duress) of this browser's owner session, if its cookie is genuine and live."""
        payload = self.unseal("session", request.cookies.get(self.session_cookie, ""))
        if payload is None or not isinstance(payload.get("s"), str):
            return None
        return payload["s"], bool(payload.get("d"))

    def session_switch(self, request: Request) -> str | None:
        found = self.session(request)
        return found[0] if found else None

    @property
    def _session_key(self) -> bytes:
        return hmac.new(self.secret, b"session key", hashlib.sha256).digest()

    # --- rate limits --------------------------------------------------------------------

    def limit(self, limit: Limit, request: Request, switch_id: str) -> str | None:
        """None if this attempt may go ahead, else what to tell the person."""
        client = request.client.host if request.client else "unknown"
        wait = self.limiter.hit(limit, (limit.what, client, switch_id))
        if wait is None:
            return None
        return (
            f"Too many {limit.what} for this switch from your address. "
            f"Wait {wait_text(wait)}, then try again."
        )
