"""Webhook delivery: one JSON ``POST`` per attempt, keyed by ``Idempotency-Key``.

The receiver may see the same message more than once (the connection can drop after it
answered), so every attempt carries the outbox id as ``Idempotency-Key`` and in the body,
and the body bytes are identical on every retry (keys sorted): a receiver can deduplicate on
either.

A recipient ``https://host/path#whsec_<base64 secret>`` gets every delivery signed as the
Standard Webhooks specification says (https://www.standardwebhooks.com): ``webhook-id``
(the same outbox id as ``Idempotency-Key``), ``webhook-timestamp`` (this attempt's, whole
seconds) and ``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256, keyed with the
secret, of ``id.timestamp.body``), so any receiver with the spec's libraries can check
who sent it and when. The fragment is never sent (it is no part of the request) and never
logged: only :func:`origin` of a URL is, and pages show :func:`redact` of it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from afterword import __version__
from afterword.delivery.deadline import deadline_transport, time_limit
from afterword.delivery.message import (
    LOOPBACK_HOSTS,
    DeliveryError,
    Message,
    PermanentError,
    TransientError,
    check_id,
)

log = logging.getLogger("afterword.delivery")

USER_AGENT = f"afterword/{__version__}"

DEADLINE = 30.0
"""Seconds one delivery may take in all (DNS, connect, TLS, sending, the status line):
httpx's ``timeout`` bounds each read, so a receiver trickling its answer a byte at a time
would otherwise hold the sender, and the outbox behind it, for ever. Past it the attempt is
a :class:`TransientError`, retried with the outbox's backoff."""


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, the only part of a webhook URL we ever log.

    Webhook URLs often carry their secret in the path or query (chat and automation
    services work that way), so logging the full URL would hand out the right to post.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{host}{port}"


SECRET_PREFIX = "whsec_"
"""What starts a webhook URL's fragment that carries its signing secret."""

HIDDEN = SECRET_PREFIX + "(hidden)"
"""The fragment :func:`redact` shows in place of a secret."""

SECRET_HINT = (
    "write the secret the receiver gave you as https://host/path#whsec_BASE64, with 24 to "
    "64 bytes of base64 after whsec_ (e.g. from: openssl rand -base64 32)"
)


def parse_secret(url: str) -> bytes | None:
    """The signing secret in ``url``'s ``#whsec_...`` fragment; None if it has none.
    ValueError (saying what is wrong, never the secret) if it is not 24 to 64 bytes of
    base64, the sizes the Standard Webhooks specification names."""
    _, sep, fragment = url.partition("#")
    if not sep or not fragment.startswith(SECRET_PREFIX):
        return None
    text = fragment.removeprefix(SECRET_PREFIX)
    if text == HIDDEN.removeprefix(SECRET_PREFIX):
        raise ValueError("its webhook secret is shown hidden here; give the secret itself again")
    try:
        secret = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret after #whsec_ is not base64") from None
    if not 24 <= len(secret) <= 64:
        raise ValueError(f"the webhook secret is {len(secret)} bytes, not 24 to 64")
    return secret


def redact(url: str) -> str:
    """``url`` as pages, status and logs may show it: a ``#whsec_`` secret hidden."""
    base, sep, fragment = url.partition("#")
    return f"{base}#{HIDDEN}" if sep and fragment.startswith(SECRET_PREFIX) else url


def signature_headers(
    secret: bytes, message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt: HMAC-SHA256 (the specification's own
    construction, from the standard library) over ``id.timestamp.body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode("ascii"),
    }


def check_url(url: str) -> httpx.URL:
    """The URL to post to, or :class:`PermanentError` before any network access.

    Only ``https://`` goes to other machines: a release notice may carry the dossier key,
    and plain HTTP would show it to every hop. ``http://`` is allowed for loopback, where
    tests run their receivers. The fragment (a signing secret's place) is left out.
    """
    url = url.partition("#")[0]
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise PermanentError(f"{origin(url)} is not a valid webhook URL") from None
    if parsed.scheme not in ("http", "https"):
        raise PermanentError(f"unsupported webhook scheme {parsed.scheme!r}; use https://")
    if not parsed.host:
        raise PermanentError(f"webhook URL {origin(url)} names no host")
    if parsed.scheme == "http" and parsed.host not in LOOPBACK_HOSTS:
        raise PermanentError(
            f"webhook {origin(url)} uses plain http://; messages may carry release keys",
            "use https:// (http:// is accepted only for 127.0.0.1, localhost and ::1)",
        )
    return parsed


def encode(message: Message) -> bytes:
    """The JSON body; byte-identical for every retry of the same message."""
    payload: dict[str, Any] = {
        "id": message.id,
        "subject": message.subject,
        "text": message.text,
        "data": message.data,
    }
    try:
        return json.dumps(
            payload, ensure_ascii=False, sort_keys=True, allow_nan=False, separators=(",", ":")
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        # The message's data will never serialise, however often we retry.
        raise PermanentError(
            f"message {message.id} data is not JSON: {type(exc).__name__}",
            message_id=message.id,
        ) from None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the peer asked us to wait (``Retry-After``: seconds or an HTTP date)."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(response: httpx.Response, message_id: str, where: str) -> None:
    """Return if the status means delivered, else raise the matching error."""
    status = response.status_code
    if 200 <= status < 300:
        return
    what = f"webhook {where} answered HTTP {status}"
    if 300 <= status < 400:
        raise PermanentError(
            f"{what} (a redirect)",
            "redirects are not followed, since that would resend the message (possibly a "
            "release key) to an address the owner never chose; configure the final URL",
            message_id=message_id,
            code=status,
        )
    if status in (408, 425, 429) or 500 <= status < 600:
        raise TransientError(
            what, message_id=message_id, code=status, retry_after=_retry_after(response)
        )
    if 400 <= status < 500:
        raise PermanentError(what, message_id=message_id, code=status)
    # Not a status a compliant server answers a POST with: nothing says a retry will fail.
    raise TransientError(what, message_id=message_id, code=status)


class WebhookSender:
    """Posts a :class:`Message` as JSON to its ``https://`` URL, following no redirect.

    ``timeout`` (seconds, for connecting, sending and waiting for the response) applies to
    each network operation of the client this sender creates, and ``deadline`` (default
    :data:`DEADLINE`) to the whole attempt. A ``client`` passed in keeps its own timeouts and
    settings, except that redirects are never followed; it honours the deadline only if its
    transport is :func:`afterword.delivery.deadline.deadline_transport`. ``clock`` gives
    a signed delivery's ``webhook-timestamp`` (seconds). The response body
    is never read: a status line is all we need, and a hostile receiver cannot make us
    buffer anything.
    """

    def __init__(
        self,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        deadline: float = DEADLINE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._owns_client = client is None
        self._client = (
            client
            if client is not None
            else httpx.Client(
                timeout=timeout, follow_redirects=False, transport=deadline_transport()
            )
        )
        self.deadline = deadline
        self.clock = clock  # what signed deliveries' webhook-timestamp reads

    def close(self) -> None:
        """Close the HTTP client if this sender created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`TransientError` or :class:`PermanentError`."""
        where = origin(self._target(message))
        try:
            with time_limit(self.deadline):
                self._post(message, where)
        except DeliveryError as exc:
            log.warning(
                "webhook %s to %s failed (%s): %s",
                message.id,
                where,
                "permanent" if exc.permanent else "transient",
                exc,
            )
            raise
        log.info("webhook %s delivered to %s", message.id, where)

    def _target(self, message: Message) -> str:
        """The URL ``message`` goes to."""
        return message.to

    def _request(self, message: Message) -> tuple[httpx.URL, bytes]:
        """Where to post ``message``, and the body: the webhook's JSON."""
        return check_url(message.to), encode(message)

    def _classify(self, response: httpx.Response, message_id: str, where: str) -> None:
        _classify(response, message_id, where)

    def _post(self, message: Message, where: str) -> None:
        check_id(message)
        url, body = self._request(message)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.id,
            "User-Agent": USER_AGENT,
        }
        try:
            secret = parse_secret(self._target(message))
        except ValueError as exc:
            raise PermanentError(
                f"webhook {where}: {exc}", SECRET_HINT, message_id=message.id
            ) from None
        if secret is not None:
            headers.update(signature_headers(secret, message.id, int(self.clock()), body))
        try:
            request = self._client.build_request("POST", url, content=body, headers=headers)
            response = self._client.send(request, stream=True, follow_redirects=False)
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"webhook {where} timed out ({type(exc).__name__})", message_id=message.id
            ) from None
        except httpx.UnsupportedProtocol:
            raise PermanentError(
                f"webhook {where}: unsupported URL", message_id=message.id
            ) from None
        except (httpx.TransportError, OSError) as exc:
            raise TransientError(
                f"webhook {where} unreachable ({type(exc).__name__})", message_id=message.id
            ) from None
        try:
            self._classify(response, message.id, where)
        finally:
            response.close()
