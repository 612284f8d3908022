"""The public custodian page under duress (issue 15, item 7): without a custodian's code,
/s/ID shows what the owner is shown (the decoy), never the truth a coercer must not see.
A custodian's code still shows the truth."""

from __future__ import annotations

import pytest

from afterword.crypto.keys import OwnerKey
from tests.delivery.servers import SmtpServer
from tests.web.conftest import POLICY, Api
from tests.web.test_coercion import arm, custodian, owner, tick_until


@pytest.fixture(scope="module")
def duress_key() -> OwnerKey:
    return OwnerKey.generate()


def public_page(api: Api, switch: str) -> str:
    response = api.http.get(f"/s/{switch}")
    assert response.status_code == 200
    return response.text


def test_the_public_custodian_page_shows_the_owners_view_under_duress(
    api: Api, duress_key: OwnerKey, smtp_server: SmtpServer
) -> None:
    real = arm(api, api.bundles.main, duress_key)
    forced = arm(api, api.bundles.other, duress_key)
    for switch, key in ((real, api.bundles.owner), (forced, duress_key)):
        assert owner(api, switch, "checkin", key).status_code == 200
    tick_until(api, api.clock.now + POLICY["waiting"] + 120, smtp_server)

    # the truth: the duress switch is being released, the custodians know it
    assert custodian(api, api.bundles.other, "carol").json()["state"] == "releasing"
    assert owner(api, forced, "status", duress_key).json()["state"] == "armed"
    # the public page says what the owner is shown, exactly as for the real switch
    shown, expected = public_page(api, forced), public_page(api, real)
    assert "being released" not in shown
    assert "No shares are needed now." in shown
    assert shown.replace(forced, "SWITCH") == expected.replace(real, "SWITCH")
