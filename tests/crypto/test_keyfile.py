"""The owner keyfile's two slots: a duress passphrase unlocks a key that presents itself
exactly like the real one, and no keyfile reveals whether it has a duress slot."""

from __future__ import annotations

import re
from pathlib import Path

import pyrage
import pytest

from afterword.crypto.keys import KEYFILE_KIND, OwnerKey, load_owner_key
from afterword.crypto.signing import public_key_text
from afterword.errors import KeyFileError

REAL, DURESS = "real passphrase", "duress passphrase"
ARMOR = re.compile(rb"-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----", re.S)


@pytest.fixture(scope="module")
def keyfiles(tmp_path_factory: pytest.TempPathFactory) -> tuple[OwnerKey, Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    owner = OwnerKey.generate()
    owner.save(folder / "plain.key", REAL)
    owner.save(folder / "duress.key", REAL, duress_passphrase=DURESS)
    return owner, folder / "plain.key", folder / "duress.key"


def test_every_keyfile_has_two_slots_of_one_size(keyfiles: tuple[OwnerKey, Path, Path]) -> None:
    _, plain, duress = keyfiles
    for path in (plain, duress):
        slots = ARMOR.findall(path.read_bytes())
        assert len(slots) == 2 and len(slots[0]) == len(slots[1])
    # with or without a duress slot, the files are alike in size and shape
    assert len(plain.read_bytes()) == len(duress.read_bytes())


def test_the_duress_passphrase_unlocks_a_key_that_presents_itself_as_the_owner(
    keyfiles: tuple[OwnerKey, Path, Path],
) -> None:
    owner, _, path = keyfiles
    real = load_owner_key(path, REAL)
    forced = load_owner_key(path, DURESS)
    assert real.is_real and not forced.is_real
    assert real.public_key == forced.public_key == owner.public_key
    assert real.duress_public_key == forced.duress_public_key
    signer = public_key_text(forced.signing.public_key())
    assert signer == forced.duress_public_key != owner.public_key  # the server can tell
    assert forced.age_identity != owner.age_identity  # it never opens the owner's copies
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        load_owner_key(path, "neither")


def test_without_a_duress_slot_the_second_slot_opens_with_no_known_passphrase(
    keyfiles: tuple[OwnerKey, Path, Path],
) -> None:
    owner, path, _ = keyfiles
    key = load_owner_key(path, REAL)
    assert key.is_real and key.public_key == owner.public_key
    assert key.duress_public_key and key.duress_public_key != owner.public_key
    with pytest.raises(KeyFileError):
        load_owner_key(path, DURESS)
    # each slot is a plain age passphrase file: stock age tooling opens the real one
    opened = []
    for slot in ARMOR.findall(path.read_bytes()):
        try:
            opened.append(bytes(pyrage.passphrase.decrypt(slot + b"\n", REAL)))
        except pyrage.DecryptError:
            continue
    assert len(opened) == 1 and b"owner-key/2" in opened[0]


def test_a_duress_slot_can_be_added_only_with_the_real_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "owner.key"
    owner = OwnerKey.generate()
    owner.save(path, REAL)
    load_owner_key(path, REAL).add_duress(path, REAL, DURESS)
    forced = load_owner_key(path, DURESS)
    assert forced.public_key == owner.public_key and not forced.is_real
    with pytest.raises(KeyFileError, match="cannot change it"):
        forced.add_duress(path, DURESS, "another")
    with pytest.raises(KeyFileError, match="differ"):
        load_owner_key(path, REAL).add_duress(path, REAL, REAL)


def test_a_one_slot_keyfile_of_the_first_version_still_unlocks(tmp_path: Path) -> None:
    owner = OwnerKey.generate()
    plaintext = owner.to_json()
    assert KEYFILE_KIND.encode() in plaintext
    path = tmp_path / "old.key"
    path.write_bytes(bytes(pyrage.passphrase.encrypt(plaintext, REAL, armored=True)))
    key = load_owner_key(path, REAL)
    assert key.public_key == owner.public_key and key.is_real and key.duress_public_key is None
