"""``POST /switches/ID/checkins`` is answered by ``CheckinRoute`` (afterword.web.app), in
front of FastAPI's routing, for speed. Its answers must be FastAPI's own: the same
requests sent to a second app on the same engine without it (so through the FastAPI route
of the same path) get the same status, headers and body, for a check-in taken, a stale
one, a forged one, a body that is not JSON or too large, a switch id that is none, a GET
and a trailing slash. Real servers on loopback, both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from afterword.crypto.checkin import sign_checkin
from afterword.crypto.keys import OwnerKey
from afterword.web.app import CheckinRoute, create_app
from tests.web.conftest import Api, served

IGNORED = {"date", "server", "content-length"}  # the clock's, uvicorn's, and the body's


@pytest.fixture
def plain(api: Api) -> Iterator[httpx.Client]:
    """A client of the same engine's app without ``CheckinRoute``."""
    app = create_app(api.engine)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CheckinRoute]
    kept = {m.cls.__name__ for m in app.user_middleware}
    assert kept == {"SecurityHeaders", "CountRefusals"}, kept  # the rest stay
    with served(app) as http:
        yield http


def seen(response: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in response.headers.items() if k not in IGNORED}
    if "location" in headers:  # each server names its own port
        headers["location"] = httpx.URL(headers["location"]).path
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return response.status_code, headers, body


def checkin(api: Api, switch: str, counter: int, key: OwnerKey | None = None) -> bytes:
    signer = key or api.bundles.owner
    return json.dumps(sign_checkin(signer.signing, switch, api.clock.now, counter)).encode()


def test_the_fast_route_answers_as_fastapi_does(api: Api, plain: httpx.Client) -> None:
    response = api.arm()
    assert response.status_code == 201, response.text
    switch = str(response.json()["switch"])
    path = f"/switches/{switch}/checkins"

    fast = api.http.post(path, content=checkin(api, switch, 1))
    slow = plain.post(path, content=checkin(api, switch, 2))
    assert fast.status_code == slow.status_code == 200, (fast.text, slow.text)
    assert fast.json()["counter"] == 1 and slow.json()["counter"] == 2
    assert fast.json()["state"] == "armed"
    assert seen(fast)[1] == seen(slow)[1]
    assert {**fast.json(), "counter": 2} == slow.json()
    assert "content-security-policy" in fast.headers  # the security headers wrap it

    stranger = OwnerKey.generate()
    requests: list[tuple[str, str, bytes, int]] = [
        ("POST", path, checkin(api, switch, 2), 409),  # stale: 2 is held
        ("POST", path, checkin(api, switch, 3, stranger), 403),  # forged
        ("POST", path, b"{not json", 400),
        ("POST", path, b"[" * 70_000, 413),  # past the 64 KiB an owner request may be
        ("POST", "/switches/not-an-id!/checkins", checkin(api, switch, 3), 404),
        ("GET", path, b"", 405),
        ("POST", path + "/", checkin(api, switch, 3), 307),  # FastAPI's redirect, both
    ]
    for method, where, body, status in requests:
        fast = api.http.request(method, where, content=body)
        slow = plain.request(method, where, content=body)
        assert fast.status_code == status, (where, fast.text)
        assert seen(fast) == seen(slow), (where, fast.text, slow.text)
    stale = api.http.post(path, content=checkin(api, switch, 1))
    assert stale.json()["counter"] == 2 and stale.json()["checkin"]["counter"] == 2
