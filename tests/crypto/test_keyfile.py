"""The owner keyfile's slots: a duress passphrase unlocks a key that presents itself
exactly like the real one, and no keyfile reveals whether it has a duress slot."""

from __future__ import annotations

import re
from pathlib import Path

import pyrage
import pytest

from afterword.crypto.encoding import b64encode, canonical_json
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


def test_every_keyfile_has_three_slots_of_one_size(keyfiles: tuple[OwnerKey, Path, Path]) -> None:
    _, plain, duress = keyfiles
    for path in (plain, duress):
        slots = ARMOR.findall(path.read_bytes())
        assert len(slots) == 3 and len({len(s) for s in slots}) == 1
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


def test_a_duress_slot_is_added_alike_with_the_real_or_the_duress_passphrase(
    tmp_path: Path,
) -> None:
    """Issue 15, item 9: unlocked with the duress passphrase, adding a duress slot raised
    "cannot change it" where the real passphrase succeeds. Now it succeeds alike, and the
    file looks as a real one would (three slots of one size): the unlocked key still opens
    and names the new duress key, the new passphrase opens that key, and the owner's real
    slot is left as it was, however often the coercer does it."""
    path = tmp_path / "owner.key"
    owner = OwnerKey.generate()
    owner.save(path, REAL, duress_passphrase=DURESS)
    real_size = len(path.read_bytes())
    passphrase = DURESS
    for new in ("another", "and another"):
        forced = load_owner_key(path, passphrase)
        forced.add_duress(path, passphrase, new)
        slots = ARMOR.findall(path.read_bytes())
        assert len(slots) == 3 and len({len(s) for s in slots}) == 1
        assert len(path.read_bytes()) == real_size
        again, added = load_owner_key(path, passphrase), load_owner_key(path, new)
        assert not again.is_real and not added.is_real
        assert again.public_key == added.public_key == owner.public_key
        assert again.duress_public_key == added.duress_public_key == forced.duress_public_key
        assert public_key_text(added.signing.public_key()) == added.duress_public_key
        assert again.seed() == forced.seed()  # the coercer's "real" key is unchanged
        real = load_owner_key(path, REAL)
        assert real.is_real and real.seed() == owner.seed()  # the owner's slot survives
        assert real.duress_public_key == public_key_text(forced.signing.public_key())
    with pytest.raises(KeyFileError, match="differ"):
        load_owner_key(path, REAL).add_duress(path, REAL, REAL)
    with pytest.raises(KeyFileError, match="differ"):
        load_owner_key(path, DURESS).add_duress(path, DURESS, DURESS)


def test_a_duress_slot_added_to_a_keyfile_without_a_spare_keeps_the_real_slot(
    tmp_path: Path,
) -> None:
    """A keyfile from before spares (two slots): the new slot is added, the others stay."""
    owner, duress = OwnerKey.generate(), OwnerKey.generate()
    real_slot = canonical_json(
        {"afterword": "owner-key/2", "ed25519": b64encode(owner.seed()),
         "age": owner.age_identity, "owner": owner.public_key, "duress": duress.public_key}
    )  # fmt: skip
    duress_slot = canonical_json(
        {"afterword": "owner-key/2", "ed25519": b64encode(duress.seed()),
         "age": duress.age_identity, "owner": owner.public_key, "duress": duress.public_key}
    )  # fmt: skip
    path = tmp_path / "old.key"
    path.write_bytes(
        b"".join(
            bytes(pyrage.passphrase.encrypt(p, w, armored=True)) + b"\n"
            for p, w in ((real_slot, REAL), (duress_slot, DURESS))
        )
    )
    load_owner_key(path, DURESS).add_duress(path, DURESS, "another")
    assert len(ARMOR.findall(path.read_bytes())) == 3
    assert load_owner_key(path, REAL).seed() == owner.seed()
    assert load_owner_key(path, DURESS).duress_public_key == public_key_text(
        load_owner_key(path, "another").signing.public_key()
    )


def test_a_one_slot_keyfile_of_the_first_version_still_unlocks(tmp_path: Path) -> None:
    owner = OwnerKey.generate()
    plaintext = owner.to_json()
    assert KEYFILE_KIND.encode() in plaintext
    path = tmp_path / "old.key"
    path.write_bytes(bytes(pyrage.passphrase.encrypt(plaintext, REAL, armored=True)))
    key = load_owner_key(path, REAL)
    assert key.public_key == owner.public_key and key.is_real and key.duress_public_key is None
