"""Email delivery over SMTP (stdlib ``smtplib``), one connection per attempt.

One connection per message keeps an attempt self-contained: no pooled session can go stale
between the dispatcher's retries, and a failure is always about this message. The volume a
switch sends (reminders, notices, a handful of release mails) makes the extra handshakes
irrelevant.
"""

from __future__ import annotations

import contextlib
import html
import logging
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import NoReturn
from urllib.parse import parse_qsl, unquote, urlsplit

from afterword.delivery.message import (
    LOOPBACK_HOSTS,
    DeliveryError,
    Message,
    PermanentError,
    TransientError,
    check_id,
    message_id_header,
)

log = logging.getLogger("afterword.delivery")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class _Endpoint:
    """The parts of an SMTP URL, decoded once so every send uses the same values."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None


def _redact(url: str) -> str:
    """``url`` with any password replaced, for error messages and ``repr``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = parts.username or ""
        return parts._replace(netloc=f"{user}:***@{netloc}").geturl()
    except ValueError:
        return "<unparsable URL>"


def _parse_url(url: str) -> _Endpoint:
    shown = _redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"AFTERWORD_SMTP_URL {shown!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(
            f"AFTERWORD_SMTP_URL {shown!r} must start with smtp:// (plain or ?starttls=1) "
            "or smtps:// (implicit TLS)"
        )
    if not parts.hostname:
        raise ValueError(f"AFTERWORD_SMTP_URL {shown!r} names no host, e.g. smtp://mail.example:25")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"AFTERWORD_SMTP_URL {shown!r} must not have a path or a fragment")
    starttls = False
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "starttls":
            raise ValueError(
                f"AFTERWORD_SMTP_URL {shown!r}: unknown option {key!r} (only starttls=1 exists)"
            )
        if value.lower() in _TRUE:
            starttls = True
        elif value.lower() in _FALSE:
            starttls = False
        else:
            raise ValueError(f"AFTERWORD_SMTP_URL {shown!r}: starttls must be 1 or 0")
    implicit_tls = scheme == "smtps"
    if implicit_tls and starttls:
        raise ValueError(
            f"AFTERWORD_SMTP_URL {shown!r}: smtps:// is already TLS; drop ?starttls=1 "
            "or use smtp://"
        )
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    if username is not None and password is None:
        raise ValueError(f"AFTERWORD_SMTP_URL {shown!r} has a user name but no password")
    host = parts.hostname
    if username is not None and not (implicit_tls or starttls) and host not in LOOPBACK_HOSTS:
        # A password sent in the clear to a remote server is readable by anyone on the path,
        # and with it they could send mail as the switch.
        raise ValueError(
            f"AFTERWORD_SMTP_URL {shown!r} would send the password unencrypted; "
            "use smtps:// or add ?starttls=1"
        )
    return _Endpoint(
        host=host,
        port=port if port is not None else (465 if implicit_tls else 25),
        implicit_tls=implicit_tls,
        starttls=starttls,
        username=username,
        password=password,
    )


@dataclass(frozen=True)
class MailConfig:
    """Where and as whom to send mail: built from ``AFTERWORD_SMTP_URL``.

    ``url`` is ``smtp://host:port``, ``smtp://user:pass@host:port`` (user and password
    percent-encoded), ``smtps://...`` for implicit TLS, or ``smtp://...?starttls=1`` to
    upgrade a plain connection. ``domain`` is the right-hand side of every Message-ID and the
    name we greet the server with; the default ``afterword.invalid`` reveals nothing about
    the machine (``smtplib`` would otherwise announce its host name). The URL is checked on
    construction so a typo fails at start-up, not at the first release.
    """

    url: str = field(repr=False)
    sender: str = "afterword@localhost"
    domain: str = "afterword.invalid"
    _endpoint: _Endpoint = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_endpoint", _parse_url(self.url))
        _name, addr = parseaddr(self.sender)
        if (
            not addr
            or addr.count("@") != 1
            or any(c.isspace() for c in addr)
            or any(c in self.sender for c in "\r\n")
        ):
            raise ValueError(f"sender {self.sender!r} is not an email address")
        # Validates the domain the same way every send will.
        message_id_header("check", self.domain)

    @classmethod
    def from_url(
        cls, url: str, sender: str | None = None, *, domain: str | None = None
    ) -> MailConfig:
        """Parse ``url``; raise ``ValueError`` naming what is wrong (never the password)."""
        return cls(
            url=url,
            sender=sender if sender is not None else cls.sender,
            domain=domain if domain is not None else cls.domain,
        )

    @property
    def endpoint(self) -> _Endpoint:
        return self._endpoint

    @property
    def envelope_sender(self) -> str:
        """The bare address of ``sender`` (which may be ``"Name <addr>"``)."""
        return parseaddr(self.sender)[1]

    def __repr__(self) -> str:
        return (
            f"MailConfig(url={_redact(self.url)!r}, sender={self.sender!r}, domain={self.domain!r})"
        )


_LINK = re.compile(r"https?://[^\s<>\"'`)]+")


def html_of(text: str) -> str:
    """The mail's text as simple HTML, with the same content: a paragraph per block of
    lines, indented lines (commands, quoted words) as preformatted text, addresses as
    links. No style, no image, nothing fetched: it reads the same with HTML off."""

    def inline(line: str) -> str:
        escaped, out, last = html.escape(line, quote=True), [], 0
        for match in _LINK.finditer(escaped):
            url = match.group(0).rstrip(".,;:")
            out += [escaped[last : match.start()], f'<a href="{url}">{url}</a>']
            last = match.start() + len(url)
        return "".join([*out, escaped[last:]])

    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(line.startswith("  ") for line in lines):
            body = "\n".join(html.escape(line[2:]) for line in lines)
            blocks.append(f"<pre>{body}</pre>")
        else:
            blocks.append("<p>" + "<br>\n".join(inline(line) for line in lines) + "</p>")
    return "<!doctype html>\n<html><body>\n" + "\n".join(blocks) + "\n</body></html>\n"


def mailto_address(to: str) -> str:
    """The single address of a ``mailto:`` URL; :class:`PermanentError` if there is none.

    Header fields (``?subject=``) and several recipients are refused rather than ignored: an
    outbox row is one message to one person, and anything else is a bug upstream.
    """
    scheme, _, rest = to.partition(":")
    if scheme.lower() != "mailto" or not rest:
        raise PermanentError(f"{to!r} is not a mailto: recipient")
    if "?" in rest:
        raise PermanentError(
            f"mailto recipient {to!r} carries header fields; give the address only"
        )
    addr = unquote(rest)
    local, at, domain = addr.rpartition("@")
    if (
        not at
        or not local
        or not domain
        or "," in addr
        or any(c.isspace() or ord(c) < 0x20 or c in "<>\x7f" for c in addr)
        or parseaddr(addr)[1] != addr
    ):
        raise PermanentError(f"{to!r} is not a single valid email address")
    return addr


def _by_code(code: int, what: str, message_id: str) -> NoReturn:
    """Raise by SMTP reply class: 5xx is a permanent refusal, anything else may pass later."""
    if 500 <= code < 600:
        raise PermanentError(f"{what} (SMTP {code})", message_id=message_id, code=code)
    raise TransientError(f"{what} (SMTP {code})", message_id=message_id, code=code)


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(decoded.split())[:200]


class Mailer:
    """Sends a :class:`Message` to a ``mailto:`` recipient as one plain-text UTF-8 email.

    Classification follows who is at fault. Failures of the session (connecting, the
    greeting, EHLO, STARTTLS, AUTH, a refused envelope sender) are transient whatever their
    code: nothing about this message is wrong, the same failure hits every message, and
    giving up would silently drop every queued release notice over an outage or a setting
    the operator can fix. Replies about this message (a refused recipient, refused data) are
    classified by reply code: 5xx permanent, 4xx transient.
    """

    def __init__(self, config: MailConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout

    def build(self, message: Message) -> EmailMessage:
        """The email for ``message``: everything but ``Date`` is a function of the message.

        ``Message-ID`` comes from the outbox id alone, so a retry is recognisably the same
        mail. ``Auto-Submitted`` (RFC 3834) stops vacation responders from answering the
        switch.
        """
        check_id(message)
        rcpt = mailto_address(message.to)
        email = EmailMessage()
        try:
            email["Message-ID"] = message_id_header(message.id, self.config.domain)
            email["X-Afterword-Message"] = message.id
            email["Date"] = formatdate(usegmt=True)
            email["From"] = self.config.sender
            email["To"] = rcpt
            # A line break in a subject would end the header; fold it to spaces instead of
            # refusing a release notice over cosmetics.
            email["Subject"] = " ".join(message.subject.split())
            email["Auto-Submitted"] = "auto-generated"
            # Quoted-printable keeps the body 7-bit: it passes servers that do not offer
            # 8BITMIME unchanged, and stays readable for the ASCII parts (keys, links).
            email.set_content(message.text, charset="utf-8", cte="quoted-printable")
            email.add_alternative(html_of(message.text), subtype="html", cte="quoted-printable")
        except (ValueError, TypeError) as exc:
            raise PermanentError(
                f"message {message.id} cannot be written as an email: {type(exc).__name__}",
                message_id=message.id,
            ) from None
        return email

    def send(self, message: Message) -> None:
        """Deliver ``message`` once; raise :class:`TransientError` or :class:`PermanentError`."""
        try:
            email = self.build(message)
            self._deliver(message.id, email, mailto_address(message.to))
        except DeliveryError as exc:
            log.warning(
                "email %s to %s failed (%s): %s",
                message.id,
                message.to,
                "permanent" if exc.permanent else "transient",
                exc,
            )
            raise
        log.info("email %s delivered to %s", message.id, message.to)

    def _connect(self, message_id: str) -> smtplib.SMTP:
        ep = self.config.endpoint
        where = f"SMTP server {ep.host}:{ep.port}"
        try:
            if ep.implicit_tls:
                return smtplib.SMTP_SSL(
                    ep.host,
                    ep.port,
                    local_hostname=self.config.domain,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            return smtplib.SMTP(
                ep.host, ep.port, local_hostname=self.config.domain, timeout=self.timeout
            )
        except smtplib.SMTPResponseException as exc:
            raise TransientError(
                f"{where} refused the connection: {exc.smtp_code} {_reply(exc)}",
                message_id=message_id,
                code=exc.smtp_code,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"cannot reach {where}: {type(exc).__name__}: {exc}", message_id=message_id
            ) from None

    def _start_session(self, smtp: smtplib.SMTP, message_id: str) -> None:
        ep = self.config.endpoint
        try:
            smtp.ehlo_or_helo_if_needed()
            if ep.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if ep.username is not None and ep.password is not None:
                smtp.login(ep.username, ep.password)
        except smtplib.SMTPResponseException as exc:
            raise TransientError(
                f"SMTP session setup failed: {exc.smtp_code} {_reply(exc)}",
                "check AFTERWORD_SMTP_URL (credentials, starttls)",
                message_id=message_id,
                code=exc.smtp_code,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"SMTP session setup failed: {type(exc).__name__}: {exc}",
                "check AFTERWORD_SMTP_URL (credentials, starttls)",
                message_id=message_id,
            ) from None

    def _deliver(self, message_id: str, email: EmailMessage, rcpt: str) -> None:
        smtp = self._connect(message_id)
        try:
            self._start_session(smtp, message_id)
            try:
                smtp.send_message(email, from_addr=self.config.envelope_sender, to_addrs=[rcpt])
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()), (0, b""))
                reason = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
                _by_code(
                    code, f"recipient {rcpt} refused: {' '.join(reason.split())[:200]}", message_id
                )
            except smtplib.SMTPSenderRefused as exc:
                if exc.smtp_code == 552:  # message too large: about this message
                    _by_code(exc.smtp_code, f"message refused: {_reply(exc)}", message_id)
                raise TransientError(
                    f"envelope sender {self.config.envelope_sender} refused: "
                    f"{exc.smtp_code} {_reply(exc)}",
                    "check the sender address configured for mail",
                    message_id=message_id,
                    code=exc.smtp_code,
                ) from None
            except smtplib.SMTPNotSupportedError as exc:
                # send_message raises this when an address needs SMTPUTF8 and the server
                # lacks it; the same server will refuse it next time too.
                raise PermanentError(
                    f"SMTP server cannot take this message: {exc}", message_id=message_id
                ) from None
            except smtplib.SMTPResponseException as exc:
                _by_code(exc.smtp_code, f"message refused: {_reply(exc)}", message_id)
            except (OSError, smtplib.SMTPException) as exc:
                raise TransientError(
                    f"SMTP connection failed during delivery: {type(exc).__name__}: {exc}",
                    message_id=message_id,
                ) from None
            # Accepted. A failing QUIT must not turn a delivered message into a retry.
            with contextlib.suppress(OSError, smtplib.SMTPException):
                smtp.quit()
        finally:
            smtp.close()
