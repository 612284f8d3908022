"""Delivery: one attempt to send one outgoing message by email or webhook.

The outbox dispatcher owns retries and backoff; this layer performs a single attempt and
says whether a failure is worth retrying (:class:`TransientError`) or not
(:class:`PermanentError`). Every message carries a stable id that becomes the email
``Message-ID`` and the webhook ``Idempotency-Key``, so a retry is never a second, different
message. Logs (``afterword.delivery``) name ids, recipients and outcomes, never bodies: a
release notice carries the dossier key.
"""

from afterword.delivery.dispatch import Dispatcher
from afterword.delivery.mail import MailConfig, Mailer
from afterword.delivery.message import (
    DeliveryError,
    Message,
    PermanentError,
    Sender,
    TransientError,
    message_id_header,
)
from afterword.delivery.webhook import WebhookSender

__all__ = [
    "DeliveryError",
    "Dispatcher",
    "MailConfig",
    "Mailer",
    "Message",
    "PermanentError",
    "Sender",
    "TransientError",
    "WebhookSender",
    "message_id_header",
]
