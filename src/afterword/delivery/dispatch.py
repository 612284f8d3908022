"""Routing a message to the channel its recipient URL names."""

from __future__ import annotations

from afterword.delivery.mail import Mailer
from afterword.delivery.message import Message, PermanentError
from afterword.delivery.peer import PeerSender
from afterword.delivery.webhook import WebhookSender, origin


class Dispatcher:
    """Sends each message through the mailer or the webhook sender, by the scheme of ``to``.

    A channel that is not configured is a :class:`PermanentError` naming what to configure:
    the outbox dispatcher should surface it to the operator instead of retrying blindly.
    """

    def __init__(
        self,
        mailer: Mailer | None,
        webhooks: WebhookSender | None,
        peers: PeerSender | None = None,
    ) -> None:
        self.mailer = mailer
        self.webhooks = webhooks
        self.peers = peers or PeerSender()

    def send(self, message: Message) -> None:
        """Deliver ``message`` once through its channel; raise a ``DeliveryError`` if not."""
        scheme, sep, _ = message.to.partition(":")
        scheme = scheme.lower() if sep else ""
        if scheme == "mailto":
            if self.mailer is None:
                raise PermanentError(
                    f"message {message.id} is an email but no SMTP server is configured",
                    "set AFTERWORD_SMTP_URL, e.g. smtp://mail.example:587?starttls=1",
                    message_id=message.id,
                )
            self.mailer.send(message)
        elif scheme == "peer":  # a relay to another server of the switch
            self.peers.send(message)
        elif scheme in ("http", "https"):
            if self.webhooks is None:
                raise PermanentError(
                    f"message {message.id} is a webhook to {origin(message.to)} "
                    "but webhooks are disabled",
                    message_id=message.id,
                )
            self.webhooks.send(message)
        else:
            raise PermanentError(
                f"message {message.id}: unsupported recipient scheme {scheme or '(none)'!r}",
                "recipients are mailto: or https:// URLs",
                message_id=message.id,
            )

    def close(self) -> None:
        """Release the webhook client's connections."""
        if self.webhooks is not None:
            self.webhooks.close()
        self.peers.close()
