"""POST /switches has a quota per network (issue 15, item 21): a crowd of throwaway
switches (the kind that could once hold a victim's release, item 2) must cost many
networks, not one script. The real app over loopback, behind a proxy it trusts to name
the client's address, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from afterword.crypto.keys import OwnerKey
from afterword.engine.context import ARM_QUOTA
from afterword.engine.lockout import ARM_WINDOW
from afterword.store.models import ArmRow
from afterword.web.app import create_app
from tests.conftest import seal_throwaways
from tests.web.conftest import CONTACTS, PARTS, POLICY, Api, Bundle
from tests.web.test_outsiders import _serve


@pytest.fixture(scope="module")
def throwaways(tmp_path_factory: pytest.TempPathFactory, owner: OwnerKey) -> list[Bundle]:
    """1-of-1 paper bundles, as many as the quota and two more, sealed once."""
    sealed = seal_throwaways(tmp_path_factory.mktemp("throwaways"), owner, ARM_QUOTA + 2)
    return [Bundle(s, {}) for s in sealed]


def post(http: httpx.Client, bundle: Bundle, network: str) -> httpx.Response:
    files = [(name, (name, bundle.part(name), "application/octet-stream")) for name in PARTS]
    data = {"policy": json.dumps(POLICY), "contacts": json.dumps(CONTACTS)}
    return http.post(
        "/switches", files=files, data=data, headers={"X-Forwarded-For": f"{network}.7"}
    )


def test_arming_past_the_quota_from_one_network_is_429_and_other_networks_go_on(
    api: Api, throwaways: list[Bundle]
) -> None:
    server, thread, url = _serve(create_app(api.engine), ("127.0.0.1",))
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            first = [post(http, b, "198.51.100").status_code for b in throwaways[:ARM_QUOTA]]
            api.clock.now += ARM_WINDOW // 2
            refused = post(http, throwaways[ARM_QUOTA], "198.51.100")
            kept = throwaways[ARM_QUOTA].switch in api.switch_ids()
            elsewhere = post(http, throwaways[ARM_QUOTA + 1], "203.0.113")
            api.clock.now += ARM_WINDOW // 2  # the first arms leave the window
            again = post(http, throwaways[ARM_QUOTA], "198.51.100")
    finally:
        server.should_exit = True
        thread.join(10)
    assert first == [201] * ARM_QUOTA
    assert refused.status_code == 429, refused.text
    body = refused.json()
    text = json.dumps(body)
    assert f"{ARM_QUOTA} switches were armed from your network" in text
    assert "try again in 30 minute(s)" in text  # when the first arm leaves the window
    assert not kept  # nothing of the refused arm was kept
    assert elsewhere.status_code == 201, elsewhere.text  # another network is not touched
    assert again.status_code == 201, again.text
    with api.engine.store.connection() as c:
        counted = c.execute(sa.select(ArmRow.network)).scalars().all()
    assert sorted(set(counted)) == ["198.51.100.0/24", "203.0.113.0/24"]  # typed, per network
