"""How a caller is named: its network, and a digest of the rest.

The web layer puts the caller's address first in ``client``. Lockouts count by network
and the audit log names callers by network and a digest of their user agent, never by
the text they sent. Separate because lockouts, owner actions and custodians all name
callers alike.
"""

from __future__ import annotations

import hashlib
import ipaddress
from functools import lru_cache


def network_of(client: str) -> str:
    """The caller's network (an IPv4 /24 or IPv6 /48), as the web layer put it first in
    ``client``; anything else (no address, or text in its place) is "unknown"."""
    return _network(client.split(" ", 1)[0])


@lru_cache(maxsize=4096)
def _network(first: str) -> str:
    """Kept per text: every owner action names its caller's network, and parsing it with
    ``ipaddress`` each time was a visible share of a check-in."""
    try:
        return str(ipaddress.ip_network(first, strict=True))
    except ValueError:
        return "unknown"


def who(client: str) -> str:
    """A caller as a refusal's log entry names them: the network, and a digest of the rest
    (the user agent, which is the caller's own text and so never logged as such)."""
    network = network_of(client)
    rest = client.removeprefix(network).strip() if network != "unknown" else client
    return f"{network} agent {client_digest(rest)[:12]}" if rest else network


def client_digest(client: str) -> str:
    return hashlib.sha256(client.encode()).hexdigest()
