"""Fixtures for delivery tests: real SMTP and webhook receivers on loopback (servers.py)."""

from tests.delivery.servers import smtp_server, webhook_server

__all__ = ["smtp_server", "webhook_server"]
