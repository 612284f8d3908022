"""The roster of a switch's servers (crypto/servers.py): signed by the owner, each server
once, at an address afterword can use; a server not on it has no peers there."""

from __future__ import annotations

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.servers import (
    MAX_SERVERS,
    Server,
    ServerRoster,
    check_server_url,
    load_roster,
    sign_roster,
)
from afterword.crypto.signing import public_key_text
from afterword.errors import FormatError, SignatureError

SWITCH = "K7QW2XDN4V6M3PZJ5HB8RCTY2E"
OWNER = Ed25519PrivateKey.generate()
OWNER_KEY = public_key_text(OWNER.public_key())


def server(url: str) -> Server:
    key = public_key_text(Ed25519PrivateKey.generate().public_key())
    return Server(url, key, str(pyrage.x25519.Identity.generate().to_public()))


A = server("https://a.example")
B = server("https://b.example/afterword")
C = server("http://127.0.0.1:8001")


def test_a_roster_loads_as_the_owner_signed_it_and_names_each_servers_peers() -> None:
    doc = sign_roster(OWNER, SWITCH, [A, B, C])
    roster = load_roster(doc, SWITCH, OWNER_KEY)
    assert roster == ServerRoster(SWITCH, (A, B, C))
    assert roster.peers_of(B.key) == (A, C)
    with pytest.raises(FormatError, match="not on the switch's roster"):
        roster.peers_of(server("https://d.example").key)


def test_a_roster_signed_by_anyone_else_or_altered_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    with pytest.raises(SignatureError, match="not by the expected key"):
        load_roster(sign_roster(stranger, SWITCH, [A]), SWITCH, OWNER_KEY)
    doc = sign_roster(OWNER, SWITCH, [A, B])
    evil = server("https://evil.example")
    doc["servers"][1]["url"] = evil.url  # a seized server slips in its own address
    with pytest.raises(SignatureError, match="does not verify"):
        load_roster(doc, SWITCH, OWNER_KEY)
    with pytest.raises(FormatError, match="is for switch 'OTHER'"):
        load_roster(sign_roster(OWNER, "OTHER", [A]), SWITCH, OWNER_KEY)


@pytest.mark.parametrize(
    ("servers", "words"),
    [
        ([], "1 to 16 servers, not 0"),
        ([server(f"https://s{i}.example") for i in range(MAX_SERVERS + 1)], "not 17"),
        ([A, Server("https://a.example/", B.key, B.recipient)], "the same url"),
        ([A, Server("https://x.example", A.key, B.recipient)], "the same key"),
        ([A, Server("https://x.example", B.key, A.recipient)], "the same recipient"),
        ([Server("https://x.example", "ed25519:AAAA", A.recipient)], "not 32 bytes"),
        ([Server("https://x.example", A.key, "age1nope")], "recipient"),
    ],
)
def test_a_roster_lists_usable_servers_each_once(servers: list[Server], words: str) -> None:
    with pytest.raises(FormatError) as refused:
        sign_roster(OWNER, SWITCH, servers)
    assert words in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "http://a.example",  # plain http off the loopback host
        "https://a.example/?switch=1",
        "https://a.example/#x",
        "https://user:pw@a.example",
        "ftp://a.example",
        "https://",
        "https://a.example/\n",
        "https://[::1",
        42,
    ],
)
def test_a_server_address_must_be_one_afterword_can_use(url: object) -> None:
    with pytest.raises(FormatError, match="not a server address"):
        check_server_url(url)


def test_loopback_http_is_allowed_and_addresses_lose_a_trailing_slash() -> None:
    assert check_server_url("http://127.0.0.1:8001/") == "http://127.0.0.1:8001"
    assert check_server_url("http://[::1]:8001") == "http://[::1]:8001"
    assert check_server_url("https://b.example/afterword/") == "https://b.example/afterword"
