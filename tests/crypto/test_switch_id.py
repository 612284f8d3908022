"""Switch ids are bound to the owner key and the dossier (issue 15, item 15).

The notice shown to the adversary names the switch id; if ids were chosen freely, whoever
saw a notice could arm that id first with a key of their own, and the owner could never
arm it. So an id is derived from the owner's public signing key and the dossier's age
recipient, and every reader of a notice, manifest or release checks the derivation.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pyrage
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from afterword.crypto.encoding import age_identity_from_secret, age_recipient_of
from afterword.crypto.keys import OwnerKey
from afterword.crypto.signing import public_key_text
from afterword.crypto.switch_id import SWITCH_ID, check_switch_id, is_switch_id, switch_id_for
from afterword.crypto.verify import verify_any
from afterword.errors import FormatError, SignatureError
from tests.conftest import Sealed

seeds = st.binary(min_size=32, max_size=32)


def owner_key_of(seed: bytes) -> str:
    return public_key_text(Ed25519PrivateKey.from_private_bytes(seed).public_key())


def recipient_of(seed: bytes) -> str:
    """An age X25519 recipient from 32 bytes (hypothesis picks the bytes, pyrage the key)."""
    return age_recipient_of(age_identity_from_secret(seed))


@settings(max_examples=60, deadline=None)
@given(key=seeds, other_key=seeds, dossier=seeds, other_dossier=seeds)
def test_the_id_is_deterministic_and_differs_for_other_keys_and_dossiers(
    key: bytes, other_key: bytes, dossier: bytes, other_dossier: bytes
) -> None:
    owner, recipient = owner_key_of(key), recipient_of(dossier)
    switch = switch_id_for(owner, recipient)
    assert switch == switch_id_for(owner, recipient)  # the same inputs, the same id
    # 160 bits, base32 lowercase: a file name, a URL path segment, readable aloud
    assert len(switch) == 32 and SWITCH_ID.fullmatch(switch)
    assert set(switch) <= set("abcdefghijklmnopqrstuvwxyz234567")
    if other_key != key:
        assert switch_id_for(owner_key_of(other_key), recipient) != switch
    if other_dossier != dossier:
        assert switch_id_for(owner, recipient_of(other_dossier)) != switch


def test_the_id_is_base32_of_sha256_over_the_rfc8785_binding() -> None:
    """Written out with rfc8785 and hashlib directly, so a tool we did not write can
    recompute an id from a notice's owner_key and dossier_recipient."""
    owner = owner_key_of(bytes(range(32)))
    recipient = recipient_of(bytes(range(32, 64)))
    binding = {"afterword": "switch-id/1", "owner_key": owner, "dossier_recipient": recipient}
    digest = hashlib.sha256(rfc8785.dumps(binding)).digest()[:20]
    assert switch_id_for(owner, recipient) == base64.b32encode(digest).decode().lower()


def _resign(key: OwnerKey, doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {k: v for k, v in doc.items() if k not in ("signature", "owner_key")}
    return key.sign({**body, **changes})


def test_seal_derives_the_id_from_the_owner_key_and_the_dossier(
    sealed: Sealed, owner: OwnerKey
) -> None:
    notice = json.loads((sealed.bundle / "notice.json").read_text())
    manifest = json.loads((sealed.bundle / "manifest.json").read_text())
    assert notice["dossier_recipient"] == manifest["dossier"]["recipient"]
    assert sealed.result.switch == notice["switch"] == manifest["switch"]
    assert notice["switch"] == switch_id_for(owner.public_key, notice["dossier_recipient"])
    assert verify_any(notice)[0] == "notice"
    assert verify_any(manifest, notice)[0] == "manifest"


def test_verify_refuses_a_notice_whose_id_is_not_its_owners(
    sealed: Sealed, owner: OwnerKey
) -> None:
    """The squatter's notice: the victim's id, signed with the squatter's own key."""
    notice = json.loads((sealed.bundle / "notice.json").read_text())
    manifest = json.loads((sealed.bundle / "manifest.json").read_text())
    squatter = OwnerKey.generate()
    with pytest.raises(SignatureError, match="the notice names switch") as caught:
        verify_any(_resign(squatter, notice))
    assert switch_id_for(squatter.public_key, notice["dossier_recipient"]) in caught.value.message
    assert "do not trust that this switch is the owner's" in caught.value.hint
    # the same for a manifest, alone or checked against the squatter's notice
    with pytest.raises(SignatureError, match="the manifest names switch"):
        verify_any(_resign(squatter, manifest))
    with pytest.raises(SignatureError, match="the notice names switch"):
        verify_any(_resign(squatter, manifest), _resign(squatter, notice))
    # nor can the owner's notice be moved to another dossier under the same id
    other = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(SignatureError, match="the notice names switch"):
        verify_any(_resign(owner, notice, dossier_recipient=other))
    # a notice that does not name its dossier cannot show that its id is the owner's
    bare = {k: v for k, v in notice.items() if k != "dossier_recipient"}
    with pytest.raises(FormatError, match="does not name its owner key and dossier recipient"):
        verify_any(_resign(squatter, bare))


@pytest.mark.parametrize(
    "value",
    ["a", "abc-DEF_123", "x" * 64, switch_id_for(owner_key_of(bytes(32)), recipient_of(bytes(32)))],
)
def test_check_switch_id_gives_back_an_id_of_the_shape(value: str) -> None:
    assert is_switch_id(value)
    assert check_switch_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "x" * 65, "a/b", "../etc", "a b", "a.b", "é", "a\n", 7, None, b"abc", ["abc"], True],
)
def test_check_switch_id_refuses_what_can_name_no_switch(value: object) -> None:
    assert not is_switch_id(value)
    with pytest.raises(FormatError, match="is not one afterword makes") as caught:
        check_switch_id(value)
    assert caught.value.message == (
        "the switch id is not one afterword makes (1 to 64 letters, digits, - or _)"
    )


def test_check_switch_id_names_the_value_and_the_remedy() -> None:
    """As web/app.py answers a manifest whose id is not one afterword makes."""
    with pytest.raises(FormatError) as caught:
        check_switch_id(
            "no/such", "the manifest's switch id", "upload a bundle made by `afterword seal`"
        )
    assert caught.value.message == (
        "the manifest's switch id is not one afterword makes (1 to 64 letters, digits, - or _)"
    )
    assert caught.value.hint == "upload a bundle made by `afterword seal`"
