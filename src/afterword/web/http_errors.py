"""What the JSON API and the pages share about a request: the HTTP status for each kind
of error the engine raises, and who is asking.

Separate from the routes because both the API and every page need it; named for HTTP
errors (not "status", which everywhere else means a switch's state)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.requests import Request

from afterword.engine import Conflict, Forbidden, Locked, NotFound, TooEarly, TooLarge
from afterword.errors import AfterwordError

STATUSES: tuple[tuple[type[AfterwordError], int], ...] = (
    (NotFound, 404),
    (Forbidden, 403),
    (Conflict, 409),
    (TooEarly, 425),
    (TooLarge, 413),
    (Locked, 429),
)


def status_of(exc: AfterwordError) -> int:
    """404, 403, 409, 425, 413 or 429 by the error's kind; 400 for anything else wrong
    with the request."""
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return status
    return 400


def client_of(request: Request) -> str:
    """Who is asking, for the log and for new-client alerts: the network (an IPv4 /24 or an
    IPv6 /48, so a changing address at home is the same client) and the user agent."""
    network = network_of_host(request.client.host if request.client else "")
    agent = request.headers.get("user-agent", "")[:80]
    return f"{network} {agent}".strip()


@lru_cache(maxsize=4096)
def network_of_host(host: str) -> str:
    """The network of a client address, as :func:`client_of` names it. Kept per address:
    parsing it with ``ipaddress`` on every request was a visible share of a check-in."""
    try:
        address = ipaddress.ip_address(host)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            # a dual-stack proxy names IPv4 clients ::ffff:a.b.c.d: as a /48 they would all
            # be one network, and one outsider's guesses would lock every IPv4 owner out
            address = address.ipv4_mapped
        prefix = 24 if address.version == 4 else 48
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    except ValueError:
        return "unknown network"
