"""Refusals the engine owes the API, found by fuzzing it: each was a 500, a file written
outside the data folder, a lost audit entry, a replayable request or an armed switch with
no dossier, and each is fixed in afterword.engine (not papered over in the web layer)."""

from __future__ import annotations

import io
import json
from typing import Any, BinaryIO

import pytest

from afterword.crypto.keys import OwnerKey
from afterword.engine import Contacts
from afterword.errors import AfterwordError
from afterword.switch.policy import Policy
from tests.web.conftest import POLICY, Api
from tests.web.test_api import armed, nothing_kept, refused, resign, signed


def forged(api: Api, key: OwnerKey, **changes: dict[str, Any]) -> dict[str, bytes]:
    """The main bundle's documents re-signed by ``key``, with fields changed per document."""
    main = api.bundles.main
    return {
        name: resign(main.doc(name), key, **changes.get(name, {}))
        for name in ("manifest", "notice", "custodians")
    }


def test_engine_refuses_a_switch_id_that_leaves_the_dossier_folder(api: Api) -> None:
    key = OwnerKey.generate()
    docs = {
        name: json.loads(blob)
        for name, blob in forged(
            api, key, manifest={"switch": "../escape"}, notice={"switch": "../escape"},
            custodians={"switch": "../escape"},
        ).items()
    }  # fmt: skip
    with pytest.raises(AfterwordError, match="switch id"):
        api.engine.arm(
            **docs,
            dossier=io.BytesIO(api.bundles.main.part("dossier")),
            policy=Policy(**{**POLICY, "reminders": tuple(POLICY["reminders"])}),
            contacts=Contacts([], {}, []),
            server_envelopes={},
        )
    assert not (api.data_dir / "escape.age").exists()


def test_a_signed_manifest_without_dossier_size_is_refused(api: Api) -> None:
    key = OwnerKey.generate()
    manifest = api.bundles.main.doc("manifest")
    dossier = {k: v for k, v in manifest["dossier"].items() if k != "size"}
    refused(api.arm(replace=forged(api, key, manifest={"dossier": dossier})), 400, "manifest")
    nothing_kept(api)


def test_a_signed_roster_with_a_bad_threshold_is_refused(api: Api) -> None:
    key = OwnerKey.generate()
    refused(api.arm(replace=forged(api, key, custodians={"threshold": "two"})), 400, "threshold")
    nothing_kept(api)


@pytest.mark.parametrize("custodians", [None, [{"kind": "paper"}], ["carol"], "carol"])
def test_a_signed_roster_with_malformed_custodians_is_refused(api: Api, custodians: Any) -> None:
    key = OwnerKey.generate()
    refused(
        api.arm(replace=forged(api, key, custodians={"custodians": custodians}), envelopes=[]),
        400,
        "custodians",
    )
    nothing_kept(api)


def test_a_roster_label_unusable_as_a_key_is_refused_at_arm(api: Api) -> None:
    key = OwnerKey.generate()
    roster = api.bundles.main.doc("custodians")
    long = "c" * 100
    entries = [{**c, "label": long} if c["label"] == "carol" else c for c in roster["custodians"]]
    response = api.arm(
        replace=forged(api, key, custodians={"custodians": entries}), envelopes=[], contacts="{}"
    )
    refused(response, 400, "label")


def test_a_refused_share_is_audited(api: Api) -> None:
    switch = armed(api)
    other = api.bundles.other.mnemonics["carol"]
    refused(api.http.post(f"/switches/{switch}/shares", json={"mnemonic": other}), 400, "not one")
    kinds = [e["kind"] for e in api.engine.status(switch)["audit"]]
    assert "share-refused" in kinds


def test_a_refused_owner_request_cannot_be_replayed_later(api: Api) -> None:
    response = api.arm(policy=json.dumps({"interval": 60, "grace": 0, "waiting": 600}))
    switch = response.json()["switch"]
    url = f"/switches/{switch}/owner"
    abort = signed(api, switch, "abort")
    refused(api.http.post(url, json=abort), 409, "only a pending release")
    api.clock.now += 120  # silent past the deadline: triggered, waiting for 600 s
    api.engine.tick()
    assert api.engine.status(switch)["state"] == "triggered"
    refused(api.http.post(url, json=abort), 403, "used or expired")
    assert api.engine.status(switch)["state"] == "triggered"


def test_an_interleaved_arm_cannot_leave_a_switch_without_its_dossier(api: Api) -> None:
    main = api.bundles.main
    docs = {name: main.doc(name) for name in ("manifest", "notice", "custodians")}
    policy = Policy(interval=3600)
    data = main.part("dossier")

    class Interleaved(io.BytesIO):
        """The first arm's upload; when it is half read, a second arm comes and fails."""

        done = False

        def read(self, size: int | None = -1) -> bytes:
            if not self.done and self.tell() > 0:
                self.done = True
                with pytest.raises(AfterwordError, match="not the one the manifest"):
                    api.engine.arm(**docs, dossier=io.BytesIO(data[:100]), **rest)
            return super().read(min(size or 4096, 4096) if size and size > 0 else 4096)

    rest: dict[str, Any] = {
        "policy": policy,
        "contacts": Contacts([], {}, []),
        "server_envelopes": {},
    }
    first: BinaryIO = Interleaved(data)
    crashed: Exception | None = None
    try:
        api.engine.arm(**docs, dossier=first, **rest)
    except AfterwordError:
        pass  # refusing the first arm is fine too; half-arming it is not
    except Exception as exc:
        crashed = exc
    for switch in api.switch_ids():
        assert api.engine.dossier_path(switch).is_file(), f"switch {switch} has no dossier"
        assert api.engine.dossier_path(switch).read_bytes() == data
    assert not list((api.data_dir / "dossiers").glob("*.partial"))
    assert crashed is None, f"arm crashed: {crashed!r}"


def test_a_nul_in_a_signed_nonce_is_refused(api: Api, request: pytest.FixtureRequest) -> None:
    switch = armed(api)
    refused(
        api.http.post(
            f"/switches/{switch}/owner", json=signed(api, switch, "checkin", nonce="a\x00")
        ),
        403,
        "nonce",
    )
