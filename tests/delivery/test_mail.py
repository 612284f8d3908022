"""Email delivery against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import html
import logging
import re
import time

import pytest

from afterword.delivery import MailConfig, Mailer, Message, PermanentError, TransientError
from tests.delivery.servers import SmtpServer, refusing_port, silent_port, text_of


def release(mid: str = "rel-sw1-r1", to: str = "mailto:alice@example.org") -> Message:
    return Message(
        id=mid,
        to=to,
        subject="Release of dossier «Orlov» — 1953",
        text="Der Schlüssel: AGE-SECRET-KEY-1XYZ\nこんにちは ✓ 🗝\n",
        data={"switch": "sw1"},
    )


def mailer_for(server: SmtpServer, **kwargs: str) -> Mailer:
    return Mailer(MailConfig.from_url(server.url, **kwargs), timeout=2.0)


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("url", "host", "port", "implicit_tls", "starttls", "user", "password"),
    [
        ("smtp://mail.example", "mail.example", 25, False, False, None, None),
        ("smtp://127.0.0.1:2525", "127.0.0.1", 2525, False, False, None, None),
        ("smtps://mail.example", "mail.example", 465, True, False, None, None),
        ("smtp://mail.example:587?starttls=1", "mail.example", 587, False, True, None, None),
        ("SMTP://u%40x:p%3Aw@mail.example:587/?starttls=true", "mail.example", 587, False, True,
         "u@x", "p:w"),
        ("smtp://u:p@localhost:2525", "localhost", 2525, False, False, "u", "p"),
        ("smtp://[::1]:2525", "::1", 2525, False, False, None, None),
    ],
)  # fmt: skip
def test_mail_config_parses_urls(
    url: str,
    host: str,
    port: int,
    implicit_tls: bool,
    starttls: bool,
    user: str | None,
    password: str | None,
) -> None:
    ep = MailConfig.from_url(url).endpoint
    assert (ep.host, ep.port, ep.implicit_tls, ep.starttls) == (host, port, implicit_tls, starttls)
    assert (ep.username, ep.password) == (user, password)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example", "must start with smtp://"),
        ("mail.example:25", "must start with smtp://"),
        ("smtp://", "names no host"),
        ("smtp://mail.example:notaport", "not a valid URL"),
        ("smtp://mail.example:70000", "not a valid URL"),
        ("smtps://mail.example?starttls=1", "already TLS"),
        ("smtp://mail.example?tls=1", "unknown option 'tls'"),
        ("smtp://mail.example?starttls=maybe", "starttls must be 1 or 0"),
        ("smtp://mail.example/inbox", "path"),
        ("smtp://user@mail.example", "no password"),
        ("smtp://user:hunter2@mail.example", "unencrypted"),
    ],
)
def test_mail_config_rejects_bad_urls_clearly(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint) as info:
        MailConfig.from_url(url)
    assert "AFTERWORD_SMTP_URL" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_mail_config_never_shows_the_password() -> None:
    config = MailConfig.from_url("smtps://user:hunter2@mail.example")
    assert "hunter2" not in repr(config)
    assert "user:***@mail.example" in repr(config)


@pytest.mark.parametrize("sender", ["", "not an address", "a@b\r\nBcc: x@y", "a@b@c"])
def test_mail_config_rejects_bad_senders(sender: str) -> None:
    with pytest.raises(ValueError, match="sender"):
        MailConfig.from_url("smtp://mail.example", sender=sender)


# ---------------------------------------------------------------- stable ids


def test_a_retry_carries_the_same_message_id(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server)
    mailer.send(release())
    mailer.send(release())
    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"] == "<rel-sw1-r1@afterword.invalid>"
    assert first["X-Afterword-Message"] == second["X-Afterword-Message"] == "rel-sw1-r1"


def test_different_ids_give_different_message_ids(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server, domain="switch.example")
    mailer.send(release("rel-sw1-r1"))
    mailer.send(release("rel-sw1-r2"))
    mailer.send(release("rel/sw1/r1"))  # would collide with a lossy sanitizer
    ids = [m["Message-ID"] for m in smtp_server.messages]
    assert len(set(ids)) == 3
    assert all(i.endswith("@switch.example>") for i in ids)


# ---------------------------------------------------------------- content


def test_headers_and_utf8_round_trip(smtp_server: SmtpServer) -> None:
    mailer = mailer_for(smtp_server, sender="Afterword <switch@afterword.example>")
    message = release()
    mailer.send(message)
    (mail,) = smtp_server.messages
    assert mail["Subject"] == message.subject
    assert mail["From"] == "Afterword <switch@afterword.example>"
    assert mail["To"] == "alice@example.org"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"].datetime.tzinfo is not None
    assert abs(mail["Date"].datetime.timestamp() - time.time()) < 60
    # plain text and simple HTML with the same content (issue 19, point 5)
    assert mail.get_content_type() == "multipart/alternative"
    plain, rich = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain is not None and rich is not None
    for part in (plain, rich):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    # Text travels with CRLF line ends, the canonical form of text in mail.
    assert text_of(mail).replace("\r\n", "\n") == message.text
    words = re.sub(r"<[^>]+>", " ", html.unescape(rich.get_content()))
    assert words.split() == message.text.split()
    (envelope,) = smtp_server.envelopes
    assert envelope.mail_from == "switch@afterword.example"
    assert envelope.rcpt_tos == ["alice@example.org"]


def test_percent_encoded_mailto_is_decoded(smtp_server: SmtpServer) -> None:
    mailer_for(smtp_server).send(release(to="mailto:bob%2Bswitch@example.org"))
    assert smtp_server.envelopes[0].rcpt_tos == ["bob+switch@example.org"]


def test_line_breaks_in_subject_are_folded_not_injected(smtp_server: SmtpServer) -> None:
    message = Message("m1", "mailto:a@example.org", "Hello\r\nBcc: eve@evil.example", "x", {})
    mailer_for(smtp_server).send(message)
    (mail,) = smtp_server.messages
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Hello Bcc: eve@evil.example"
    assert smtp_server.envelopes[0].rcpt_tos == ["a@example.org"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_credentials_from_the_url_are_used() -> None:
    with SmtpServer(credentials=("switch", "s3cret")) as server:
        good = f"smtp://switch:s3cret@127.0.0.1:{server.port}"
        Mailer(MailConfig.from_url(good), timeout=2.0).send(release())
        assert len(server.messages) == 1
        bad = f"smtp://switch:wrong@127.0.0.1:{server.port}"
        # A wrong password is the operator's to fix, not this message's fault: retry later.
        with pytest.raises(TransientError, match="session setup"):
            Mailer(MailConfig.from_url(bad), timeout=2.0).send(release())
        assert len(server.messages) == 1


# ---------------------------------------------------------------- failures


def test_server_down_is_transient() -> None:
    with refusing_port() as port:
        mailer = Mailer(MailConfig.from_url(f"smtp://127.0.0.1:{port}"), timeout=2.0)
        with pytest.raises(TransientError, match="cannot reach") as info:
            mailer.send(release())
    assert info.value.permanent is False
    assert info.value.message_id == "rel-sw1-r1"


def test_hung_server_times_out_as_transient() -> None:
    with silent_port() as port:
        mailer = Mailer(MailConfig.from_url(f"smtp://127.0.0.1:{port}"), timeout=0.5)
        start = time.monotonic()
        with pytest.raises(TransientError):
            mailer.send(release())
        assert time.monotonic() - start < 3


def test_recipient_refused_550_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.rcpt_reply = "550 5.1.1 <alice@example.org>: no such user"
    with pytest.raises(
        PermanentError, match=re.escape("recipient alice@example.org refused")
    ) as info:
        mailer_for(smtp_server).send(release())
    assert info.value.code == 550
    assert smtp_server.rcpt_attempts == 1
    assert smtp_server.messages == []


def test_recipient_deferred_450_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.rcpt_reply = "450 4.2.1 mailbox busy, try later"
    with pytest.raises(TransientError) as info:
        mailer_for(smtp_server).send(release())
    assert info.value.code == 450
    smtp_server.rcpt_reply = None  # the retry goes through
    mailer_for(smtp_server).send(release())
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("554 5.7.1 message rejected as spam", PermanentError),
        ("552 5.3.4 message too big", PermanentError),
        ("451 4.3.0 local error, try again", TransientError),
        ("421 4.3.2 shutting down", TransientError),
    ],
)
def test_data_refusal_is_classified_by_reply_code(
    smtp_server: SmtpServer, reply: str, error: type[Exception]
) -> None:
    smtp_server.data_reply = reply
    with pytest.raises(error):
        mailer_for(smtp_server).send(release())


@pytest.mark.parametrize(
    "to",
    [
        "mailto:",
        "mailto:no-at-sign",
        "mailto:a@example.org?subject=hi",
        "mailto:a@example.org,b@example.org",
        "mailto:a b@example.org",
        "mailto:a@example.org%0ABcc:x@y",
        "alice@example.org",
        "https://example.org/hook",
    ],
)
def test_bad_recipients_are_permanent_before_any_network(to: str) -> None:
    # The server is unreachable: reaching the network would give a TransientError.
    with refusing_port() as port:
        mailer = Mailer(MailConfig.from_url(f"smtp://127.0.0.1:{port}"), timeout=2.0)
        with pytest.raises(PermanentError):
            mailer.send(release(to=to))


@pytest.mark.parametrize("mid", ["", "x" * 257, "rel-1\r\nBcc: eve@evil.example", "a\x00b"])
def test_unusable_ids_are_permanent(smtp_server: SmtpServer, mid: str) -> None:
    with pytest.raises(PermanentError, match="message id"):
        mailer_for(smtp_server).send(release(mid=mid))
    assert smtp_server.messages == []


def test_logs_name_id_and_recipient_never_the_body(
    smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="afterword.delivery")
    mailer = mailer_for(smtp_server)
    mailer.send(release())
    smtp_server.rcpt_reply = "550 no such user"
    with pytest.raises(PermanentError):
        mailer.send(release("rel-sw1-r2"))
    assert "AGE-SECRET-KEY" not in caplog.text
    assert "Orlov" not in caplog.text
    records = [r for r in caplog.records if r.name == "afterword.delivery"]
    assert [r.levelno for r in records] == [logging.INFO, logging.WARNING]
    assert "rel-sw1-r1" in records[0].getMessage()
    assert "alice@example.org" in records[0].getMessage()
    assert "rel-sw1-r2" in records[1].getMessage()
    assert "permanent" in records[1].getMessage()


def test_long_lines_and_trailing_spaces_survive(smtp_server: SmtpServer) -> None:
    text = "k" * 5000 + "\ntrailing space \n\n.leading dot\n"
    mailer_for(smtp_server).send(Message("m-long", "mailto:a@example.org", "long", text, {}))
    (mail,) = smtp_server.messages
    assert text_of(mail).replace("\r\n", "\n") == text


def test_the_html_twin_links_addresses_and_keeps_commands_as_typed() -> None:
    from afterword.delivery.mail import html_of

    text = (
        "Get it: https://switch.example/r/ID?a=1&b=2.\n\n"
        "run\n\n  afterword custodian submit <ENVELOPE> --server https://s.example\n"
    )
    page = html_of(text)
    assert '<a href="https://switch.example/r/ID?a=1&amp;b=2">' in page  # no trailing dot
    assert (
        "<pre>afterword custodian submit &lt;ENVELOPE&gt; --server https://s.example</pre>" in page
    )
    assert "<script" not in html_of("<script>alert(1)</script>")
    assert "<img" not in page and "style" not in page
