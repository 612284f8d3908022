"""The CLI's new challenge check (``client.py`` ``CLOCK_SLACK``) compares a server's nonce
expiry with the owner's *own* clock. A laptop whose clock is behind by more than a year
(a dead CMOS battery boots at the BIOS date; a machine kept offline; a live system that
could not sync) refuses every honest server's challenge: "gave a challenge that does not
expire within a year ... a server that does this is not to be trusted". Every signed
request fails on every server: the owner cannot abort a release-now or a trigger during
its waiting period, cannot pause, cannot disarm. Check-ins (``checkin/1``, no challenge)
still pass, so the owner may not notice until they need to abort. A lost abort is a false
release (the owner said stop in time and could not), and the message sends them after
honest servers' operators.

Steps:
1. The owner's machine clock reads 2 years behind the true time.
2. ``afterword abort`` (or any owner request) gets an honest server's nonce, whose expiry
   is the server's (correct) now + 300 s: more than a year past the laptop's clock.
3. The CLI refuses to sign; nothing is sent.

Fix suggested: do not compare with the owner's wall clock alone. Compare the nonce's stated
expiry with the server's own ``expires_at`` in the challenge answer and with the ``Date``
header, and bound it relative to what the *other* servers of the roster say (a median of
their clocks), or bound the nonce's life as ``expiry - issued`` (have the challenge carry
its issue instant under the MAC, so a peer can check ``expiry - issued <= NONCE_TTL``)
instead of ``expiry - laptop now``.

Fixed: the CLI no longer checks a nonce's stated expiry against its own clock.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from afterword.client import Client
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import NONCE_TTL
from afterword.engine.challenges import Challenges
from afterword.engine.keys import ServerKeys
from afterword.errors import AfterwordError

YEAR = 365 * 86400


def test_an_owner_whose_clock_is_behind_can_still_sign_a_request(
    tmp_path, owner: OwnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_now = int(time.time())
    challenges = Challenges(ServerKeys.load_or_create(tmp_path))
    sent: list[dict] = []

    def honest_server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/challenge"):  # the server's clock is right
            expires = real_now + NONCE_TTL
            nonce = challenges.issue("sw", expires)
            return httpx.Response(200, json={"switch": "sw", "nonce": nonce, "expires_at": expires})
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"state": "armed"})

    client = Client("https://a.example")
    client._http = httpx.Client(  # type: ignore[attr-defined]
        base_url="https://a.example", transport=httpx.MockTransport(honest_server)
    )
    monkeypatch.setattr(time, "time", lambda: float(real_now - 2 * YEAR))  # the laptop
    refused = ""
    try:
        client.owner("sw", owner, "abort", 7)
    except AfterwordError as exc:
        refused = exc.message
    assert not refused, f"the owner's abort was never sent to an honest server: {refused}"
    assert sent and sent[0]["action"] == "abort"
