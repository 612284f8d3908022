"""What the delivery layer sends, how it fails, and the stable ids that make retries safe.

The outbox dispatcher retries with backoff, so every delivery can happen more than once: the
connection may drop after the peer accepted a message but before we heard it say so. That
cannot be prevented, only made harmless: each :class:`Message` carries the id of its outbox
row, and every channel turns that id into the peer's own deduplication key (an email
``Message-ID``, a webhook ``Idempotency-Key``). A retry is then the same message again,
never a second, different one.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from afterword.errors import AfterwordError

#: Longest id accepted. Outbox ids are short ("rel-<switch>-<recipient-hash>"); the cap keeps
#: every header we derive from one on a single line, which some receivers require.
MAX_ID_LENGTH = 256

# Characters kept as they are in the left part of a Message-ID. Everything else, including
# "=" itself and ".", is written as "=HH" per UTF-8 byte: that keeps the encoding injective
# (two different ids never share a Message-ID, so a receiver deduplicating on it never drops
# a different message) and the result a valid RFC 5322 dot-atom (no leading, trailing or
# doubled dots to worry about).
_KEPT = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
# Above this length the escaped id is replaced by its SHA-256, so a Message-ID stays on one
# line. "=s" can never occur in an escaped id (escapes are "=" + two upper-case hex digits),
# so hashed and escaped forms cannot collide either.
_MAX_LOCAL_PART = 200
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)


@dataclass(frozen=True)
class Message:
    """One outgoing message, built by the outbox dispatcher from one outbox row.

    The senders' side of the outbox: the engine writes a ``store.repository.Outgoing``
    (whose ``body`` is this ``text``) in the transition's transaction; two types because
    delivery may not import the store, nor the store delivery.

    ``text`` and ``data`` are left out of ``repr`` because a release notice carries the
    dossier key: a ``Message`` that ends up in a log line or a traceback must not leak it.
    """

    #: Stable id of the outbox row, e.g. ``"rel-<switch>-<recipient-hash>"``; the same on
    #: every retry. It becomes the email Message-ID and the webhook Idempotency-Key.
    id: str
    #: ``"mailto:alice@example.org"`` or ``"https://host/path"`` (plain ``http://`` only for
    #: loopback hosts, which tests use).
    to: str
    subject: str
    #: Plain-text body of an email, or the ``"text"`` field of a webhook.
    text: str = field(repr=False)
    #: Structured payload, sent as JSON by webhooks; emails ignore it.
    data: dict[str, Any] = field(default_factory=dict, repr=False)


#: Hosts where plain text is acceptable (``http://``, SMTP login without TLS): traffic that
#: never leaves the machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class DeliveryError(AfterwordError):
    """A delivery attempt failed; ``permanent`` tells the dispatcher whether to retry.

    The base class says "not permanent": when in doubt, retrying is the safe side for a
    switch whose promise is that no release is lost. ``code`` is the peer's SMTP or HTTP
    status when there was one. Messages name ids, recipients and status codes only, never a
    body.
    """

    permanent: bool = False

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        message_id: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.message_id = message_id
        self.code = code


class TransientError(DeliveryError):
    """The attempt failed for a reason that may go away: retry later with backoff.

    ``retry_after`` is the delay in seconds the peer asked for (HTTP ``Retry-After``), if
    any; the dispatcher may use it as a lower bound for its next attempt.
    """

    permanent = False

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        message_id: str | None = None,
        code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint, message_id=message_id, code=code)
        self.retry_after = retry_after


class PermanentError(DeliveryError):
    """Retrying the same message cannot succeed: a bad address, a refusal, an unusable URL.

    The dispatcher should stop retrying and surface the failure to a person.
    """

    permanent = True


class Sender(Protocol):
    """The one interface of the delivery layer: perform one attempt, or raise.

    :class:`~afterword.delivery.Mailer`, :class:`~afterword.delivery.WebhookSender` and
    :class:`~afterword.delivery.Dispatcher` all implement it, so the outbox dispatcher can be
    tested against any object with this method.
    """

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`DeliveryError` if that failed."""


def message_id_header(message_id: str, domain: str) -> str:
    """The RFC 5322 ``Message-ID`` for an outbox id: ``<{sanitized id}@{domain}>``.

    Derived from the id alone (no time, no random part, no host name), so a retried mail
    carries the same Message-ID and receivers and mail clients treat it as the same message.
    The sanitizing is injective: different ids always give different Message-IDs.

    Raises ``ValueError`` for an empty id or a domain that is not a host name.
    """
    if not message_id:
        raise ValueError("a message id must not be empty")
    if not _DOMAIN.fullmatch(domain):
        raise ValueError(f"not a valid Message-ID domain: {domain!r}")
    local = "".join(
        chr(byte) if chr(byte) in _KEPT else f"={byte:02X}"
        for byte in message_id.encode("utf-8", "surrogatepass")
    )
    if len(local) > _MAX_LOCAL_PART:
        local = "=sha256-" + hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"<{local}@{domain}>"


def check_id(message: Message) -> None:
    """Refuse an id that cannot travel in a header, before any network access.

    Control characters would let an id inject header lines; an id too long would fold. Both
    are bugs upstream, and retrying cannot fix them, hence :class:`PermanentError`.
    """
    mid = message.id
    if not mid or len(mid) > MAX_ID_LENGTH or any(ord(c) < 0x20 or ord(c) == 0x7F for c in mid):
        raise PermanentError(
            f"message id {mid[:40]!r} is empty, longer than {MAX_ID_LENGTH} characters "
            "or contains control characters",
            "outbox ids must be short printable strings",
            message_id=mid,
        )
