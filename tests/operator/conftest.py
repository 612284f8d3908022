"""The operator's side of a running server: /healthz, /metrics, signed webhooks and the
JSON log, against the real app on loopback (the web suite's ``api``), a real SMTP server
and real webhook receivers. The web suite's check that nothing logged holds a share's
words or an age secret key runs here too."""

from tests.delivery.servers import smtp_server, webhook_server
from tests.store.conftest import pg_url, store
from tests.web.conftest import api, bundles, no_secrets_in_logs, server_keys

__all__ = [
    "api",
    "bundles",
    "no_secrets_in_logs",
    "pg_url",
    "server_keys",
    "smtp_server",
    "store",
    "webhook_server",
]
