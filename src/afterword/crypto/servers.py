"""The roster of a switch's servers: which independent servers watch one switch.

Signed by the owner and handed to every server when the switch is armed (issue 17,
docs/federation.md). Each entry is a server's URL, its signing key (what its relays and
shares are checked against) and its age recipient (what a peer encrypts shares to), as
its ``/.well-known/afterword`` gave them. A server knows its peers from this document and
only from it: a server not on the roster is nobody to the switch, whatever it signs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.encoding import check_age_recipient
from afterword.crypto.signing import (
    SERVER_KEY,
    Document,
    parse_public_key,
    sign_document,
    verify_document,
)
from afterword.crypto.switch_id import check_switch_id
from afterword.errors import FormatError

SERVERS_KIND = "servers/1"
MAX_SERVERS = 16
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_HINT = "list each server once, as https://HOST[/PATH] with the key and recipient it publishes"


@dataclass(frozen=True)
class Server:
    """One server of a switch: where it answers, the key it signs with, the recipient
    peers encrypt its shares to."""

    url: str
    key: str
    recipient: str


@dataclass(frozen=True)
class ServerRoster:
    """A switch's servers, as its owner signed them."""

    switch: str
    servers: tuple[Server, ...]

    def peers_of(self, key: str) -> tuple[Server, ...]:
        """The other servers, for the server whose signing key is ``key``; a server not
        on the roster has no peers here (it refuses to watch the switch)."""
        if all(s.key != key for s in self.servers):
            raise FormatError(
                "this server is not on the switch's roster of servers",
                "arm the switch with a roster that lists this server's key",
            )
        return tuple(s for s in self.servers if s.key != key)


def check_server_url(value: object) -> str:
    """A server's address: https://, or http:// on a loopback host (tests, a local
    proxy); no query, no fragment, no credentials; written without a trailing slash."""
    text = value if isinstance(value, str) else ""
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    ok = (
        parts is not None
        and text.isprintable()
        and " " not in text
        and len(text) <= 2048
        and bool(host)
        and not (parts.query or parts.fragment or parts.username or parts.password)
        and (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK))
    )
    if not ok and isinstance(value, str) and value and "://" not in text:
        raise FormatError(
            f"the server address {value!r:.80} has no scheme", "add http:// or https://"
        )
    if not ok:
        raise FormatError(f"{value!r:.80} is not a server address afterword can use", _HINT)
    return text.rstrip("/")


def roster_body(switch: str, servers: Sequence[Server]) -> Document:
    """The unsigned roster, each server checked."""
    return {
        "afterword": SERVERS_KIND,
        "switch": check_switch_id(switch),
        "servers": [
            {"url": s.url, SERVER_KEY: s.key, "recipient": s.recipient} for s in _checked(servers)
        ],
    }


def sign_roster(key: Ed25519PrivateKey, switch: str, servers: Sequence[Server]) -> Document:
    """The roster signed by the owner's key."""
    return sign_document(roster_body(switch, servers), key)


def load_roster(doc: object, switch: str, owner_key: str) -> ServerRoster:
    """The roster in ``doc``: signed by ``owner_key``, for ``switch``, every entry a
    usable server, each listed once. Raises a ``FormatError``/``SignatureError`` saying
    what is wrong."""
    verify_document(doc, "servers", expected_key=owner_key)
    assert isinstance(doc, dict)
    if doc.get("switch") != switch:
        raise FormatError(
            f"the roster of servers is for switch {doc.get('switch')!r}, not {switch}", _HINT
        )
    entries = doc.get("servers")
    if not isinstance(entries, list):
        raise FormatError("the roster's servers must be a list", _HINT)
    servers = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"url", SERVER_KEY, "recipient"}:
            raise FormatError("each server must have url, server_key and recipient", _HINT)
        servers.append(Server(entry["url"], entry[SERVER_KEY], entry["recipient"]))
    return ServerRoster(switch, _checked(servers))


def _checked(servers: Sequence[Server]) -> tuple[Server, ...]:
    if not 1 <= len(servers) <= MAX_SERVERS:
        raise FormatError(f"a switch has 1 to {MAX_SERVERS} servers, not {len(servers)}", _HINT)
    checked = []
    for s in servers:
        parse_public_key(s.key, "a server's key")
        if not isinstance(s.recipient, str):
            raise FormatError("a server's recipient must be an age1... recipient", _HINT)
        checked.append(Server(check_server_url(s.url), s.key, check_age_recipient(s.recipient)))
    for field in ("url", "key", "recipient"):
        values = [getattr(s, field) for s in checked]
        if len(set(values)) != len(values):
            raise FormatError(f"two servers of the roster have the same {field}", _HINT)
    return tuple(checked)


SEVERAL_SERVERS_NO_PASSWORD = (
    "a switch on several servers takes no check-in password",
    "a password is a secret every server of the switch learns, so one hostile server could "
    "act as you on the others, even release; check in with your key file "
    "(afterword checkin --server URL ... --owner-key KEY), or arm on one server to use a "
    "password",
)
"""Why a switch with a roster is armed with signed credentials only: a password (and a
TOTP secret) is a secret the server checks by knowing it, so every server of the switch
would know it, and any one of them could sign in as the owner at its peers, pause, abort,
or release at K of them: a false release by one hostile server. A signed request is what
no server can make (docs/federation.md, "Passwords")."""
