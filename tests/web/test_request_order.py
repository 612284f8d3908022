"""Signed owner requests are numbered (``crypto/request.py``): what a server does with a
number behind its own, and what the owner's CLI (``cli/servers.Signer``) does with a server's
answer. Through the real HTTP API; a hostile server is a small app of its own on loopback.

The rule they hold up: relayed requests are taken in the order the owner signed them (the
attacks in ``tests/attack/test_relayed_requests_reordered.py`` and
``test_hostile_peer_replays_owner_request.py``), so the owner must never be stuck behind a
number: a server that holds a higher one proves it, and the CLI signs past it."""

from __future__ import annotations

import base64
import secrets
import struct
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from afterword.cli.servers import Signer, counters_path, next_counter
from afterword.client import Client
from afterword.crypto.encoding import b64encode, canonical_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import proven_counter, sign_request
from afterword.errors import AfterwordError
from tests.web.conftest import Api, served


def armed(api: Api) -> str:
    response = api.arm()
    assert response.status_code == 201, response.text
    return str(response.json()["switch"])


def send(api: Api, switch: str, action: str, counter: int | None, **extra: Any) -> Any:
    nonce = api.http.post(f"/switches/{switch}/challenge").json()["nonce"]
    owner = api.bundles.owner
    doc = sign_request(owner.signing, switch, action, nonce, counter or 1, **extra)
    if counter is None:  # signed before requests were numbered
        body = {k: v for k, v in doc.items() if k not in ("counter", "signature")}
        doc = {**body, "signature": b64encode(owner.signing.sign(canonical_json(body)))}
    return api.http.post(f"/switches/{switch}/owner", json=doc)


def test_a_request_numbered_behind_the_server_is_refused_with_the_proof(api: Api) -> None:
    switch = armed(api)
    owner = api.bundles.owner
    assert send(api, switch, "pause", 10, until=api.clock.now + 86400).status_code == 200
    behind = send(api, switch, "resume", 7)
    assert behind.status_code == 409, behind.text
    body = behind.json()
    assert body["counter"] == 10 and "sign request 11 or later" in body["hint"]
    assert proven_counter(body["request"], switch, [owner.public_key]) == 10
    assert body["request"]["action"] == "pause"  # the one it acted on, as the owner signed it
    assert api.engine.status(switch)["state"] == "paused"  # nothing done
    # the same number again is no copy: the CLI numbers every request anew
    assert send(api, switch, "resume", 10).status_code == 409
    # a look changes nothing a later request could undo: taken whatever its number, and
    # it moves the highest number nowhere
    assert send(api, switch, "status", 3).json()["state"] == "paused"
    assert send(api, switch, "resume", 11).json()["state"] == "armed"


def test_a_request_with_no_number_is_refused_saying_so(api: Api) -> None:
    switch = armed(api)
    refused = send(api, switch, "pause", None, until=api.clock.now + 86400)
    assert refused.status_code == 400
    assert "the request's counter must be a whole number" in refused.json()["error"]
    assert api.engine.status(switch)["state"] == "armed"


@pytest.mark.parametrize("action", [[], {}, 7, None])
def test_a_numbered_request_whose_action_is_no_word_is_refused(api: Api, action: Any) -> None:
    """Signed, numbered, and its action a list, an object, a number or null: a clear 400,
    never a 500 (the fuzz test found ``{}`` reaching the look check)."""
    switch = armed(api)
    refused = send(api, switch, action, 5)
    assert refused.status_code == 400, refused.text
    assert api.engine.status(switch)["state"] == "armed"


def test_the_cli_signs_past_a_number_a_server_proves(api: Api, tmp_path: Path) -> None:
    """A key file whose counters were lost (another machine, a restore): the server shows
    the request it acted on, the CLI checks its signature, signs past it and is taken."""
    switch = armed(api)
    until = api.clock.now + 86400
    assert send(api, switch, "pause", 40, until=until).status_code == 200  # signed elsewhere
    keyfile = tmp_path / "owner.age"
    signer = Signer(api.bundles.owner, keyfile, switch)
    with Client(api.url) as client:
        assert signer.request(client, "resume")["state"] == "armed"
        assert signer.counter == 41 and next_counter(keyfile, switch) == 42  # saved
        assert counters_path(keyfile).exists()
        signer.request(client, "status")  # every request a number of its own
        assert signer.counter == 42
        assert signer.request(client, "pause", until=until)["state"] == "paused"
    assert signer.counter == 43


class Hostile:
    """A server that lies to the owner's CLI: a 409 that claims a number it cannot prove
    (to lock the owner out of the other servers). What it was sent is kept."""

    def __init__(self, proof: dict[str, Any] | None = None) -> None:
        self.proof, self.signed = proof, []

        async def challenge(request: Request) -> JSONResponse:
            raw = struct.pack(">Q", int(time.time()) + 300) + secrets.token_bytes(28)
            return JSONResponse({"nonce": base64.urlsafe_b64encode(raw).decode()})

        async def owner(request: Request) -> JSONResponse:
            self.signed.append(await request.json())
            content = {"error": "behind", "counter": 2**40, "request": self.proof}
            return JSONResponse(content, status_code=409)

        self.app = Starlette(
            routes=[
                Route("/switches/{switch}/challenge", challenge, methods=["POST"]),
                Route("/switches/{switch}/owner", owner, methods=["POST"]),
            ]
        )


@pytest.mark.parametrize("proof", ["none", "forged", "another-switch"])
def test_the_cli_believes_no_number_a_server_does_not_prove(
    tmp_path: Path, owner: OwnerKey, proof: str
) -> None:
    nonce = base64.urlsafe_b64encode(secrets.token_bytes(36)).decode()
    shown = {
        "none": None,
        "forged": sign_request(OwnerKey.generate().signing, "SWITCHID", "status", nonce, 2**40),
        "another-switch": sign_request(owner.signing, "OTHERID", "status", nonce, 2**40),
    }[proof]
    hostile = Hostile(shown)
    keyfile = tmp_path / "owner.age"
    with served(hostile.app) as http:
        signer = Signer(owner, keyfile, "SWITCHID")
        with Client(str(http.base_url)) as client, pytest.raises(AfterwordError) as refused:
            signer.request(client, "pause")
    assert "shows none this key file signed" in refused.value.message
    assert len(hostile.signed) == 1 and next_counter(keyfile, "SWITCHID") == 2  # not moved
