"""The owner's keyfile: an Ed25519 signing key and an age identity, under a passphrase.

A keyfile holds two *slots*, each an ASCII-armored age file encrypted with a passphrase
(age's scrypt recipient, via pyrage, so the stock ``age -d`` opens either one cut out of
the file). One slot holds the owner's real key. The other holds either a *duress* key
(``afterword keygen --duress``), unlocked by a second passphrase, which signs requests the
server answers exactly like the real ones while it triggers the release silently; or,
when there is no duress key, a decoy slot of the same size under a random passphrase
nobody knows. A third slot, a decoy too, is the *spare*: what a duress key writes its
own new duress slot into, when it is told to add one (``keygen --duress`` unlocked with
the duress passphrase must do what the real one does, and the real slot must survive it).
Every keyfile therefore looks the same, and the slots are in random order: the file does
not reveal whether it has a duress slot, nor which slot is which.

A slot's plaintext is canonical JSON of one shape::

    {"afterword": "owner-key/2", "ed25519": <base64 seed>, "age": "AGE-SECRET-KEY-1...",
     "owner": <the owner's public key>, "duress": <the duress public key>,
     "spare": <SHA-256 of the slot this one may replace (hex)>}

What a duress slot does not hide: its signing seed is not the owner's, so someone holding
its plaintext who derives the public key from the seed and compares it with the owner key
in a notice can tell (see docs/threat-model.md). Its age identity is a fresh one: the
duress passphrase never opens the owner's own copies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Self

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from afterword.crypto.encoding import age_recipient_of, b64decode, b64encode, canonical_json
from afterword.crypto.signing import Document, public_key_text, sign_document
from afterword.errors import FormatError, KeyFileError

KEYFILE_KIND = "owner-key/1"  # one slot, no duress key: still read
SLOTTED_KIND = "owner-key/2"
_ARMOR = re.compile(
    rb"-----BEGIN AGE ENCRYPTED FILE-----\r?\n.*?-----END AGE ENCRYPTED FILE-----\r?\n?", re.S
)


class KeyPair:
    """An Ed25519 signing key and an age X25519 identity. Holds secrets: its repr shows
    only the public key. (Not a dataclass: debuggers and test reporters print fields.)

    The owner's keyfile and the server's key are both one of these.
    """

    __slots__ = ("age_identity", "signing")

    def __init__(self, signing: Ed25519PrivateKey, age_identity: str) -> None:
        self.signing = signing
        self.age_identity = age_identity

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public_key={self.public_key!r})"

    @classmethod
    def generate(cls) -> Self:
        return cls(Ed25519PrivateKey.generate(), str(pyrage.x25519.Identity.generate()))

    @property
    def public_key(self) -> str:
        return public_key_text(self.signing.public_key())

    @property
    def age_recipient(self) -> str:
        return age_recipient_of(self.age_identity)

    def encrypt(self, plaintext: bytes) -> bytes:
        """An age file only this key pair opens (small data: envelopes, shares, manifests)."""
        recipient = pyrage.x25519.Recipient.from_str(self.age_recipient)
        return bytes(pyrage.encrypt(plaintext, [recipient]))

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Open an age file encrypted to this key pair's own recipient."""
        identity = pyrage.x25519.Identity.from_str(self.age_identity)
        try:
            return bytes(pyrage.decrypt(ciphertext, [identity]))
        except pyrage.DecryptError as exc:
            raise KeyFileError(
                "this key cannot open the file: it was encrypted to another key",
                "use the keyfile the file was made for",
            ) from exc

    def seed(self) -> bytes:
        """The Ed25519 private key's 32-byte seed: secret, never to be logged."""
        return self.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def to_json(self) -> bytes:
        """The secret key material as canonical JSON: encrypt it before it touches a disk."""
        seed = self.seed()
        return canonical_json(
            {"afterword": KEYFILE_KIND, "ed25519": b64encode(seed), "age": self.age_identity}
        )

    @classmethod
    def from_json(cls, plaintext: bytes, source: Path) -> Self:
        try:
            data = json.loads(plaintext)
            if data.get("afterword") != KEYFILE_KIND:
                raise FormatError("unknown keyfile version")
            seed = b64decode(data["ed25519"], what="the signing key")
            return cls(Ed25519PrivateKey.from_private_bytes(seed), str(data["age"]))
        except (ValueError, KeyError, TypeError, AttributeError, FormatError) as exc:
            raise KeyFileError(f"{source} unlocked but its contents are damaged") from exc


class OwnerKey(KeyPair):
    """The owner's key: signs notices, manifests and requests, opens the owner's own copies.

    ``public_key`` is always the owner's public key, whichever slot was unlocked: a duress
    key shows and names itself exactly like the real one. ``duress_public_key`` is what
    the server is told to treat as duress (a key nobody holds, if there is no duress slot).
    """

    __slots__ = ("_owner", "_spare", "duress_public_key")

    def __init__(
        self,
        signing: Ed25519PrivateKey,
        age_identity: str,
        owner: str | None = None,
        duress_public_key: str | None = None,
        spare: str | None = None,
    ) -> None:
        super().__init__(signing, age_identity)
        self._owner = owner
        self._spare = spare
        self.duress_public_key = duress_public_key

    @property
    def public_key(self) -> str:
        return self._owner if self._owner is not None else super().public_key

    @property
    def is_real(self) -> bool:
        """Whether this is the owner's real key (only the owner's own tools ask)."""
        return self._owner is None or self._owner == super().public_key

    def sign(self, body: Document) -> Document:
        return sign_document(body, self.signing)

    def _slot(self, owner: str, duress: str, spare: str) -> bytes:
        seed = self.seed()
        return canonical_json(
            {
                "afterword": SLOTTED_KIND,
                "ed25519": b64encode(seed),
                "age": self.age_identity,
                "owner": owner,
                "duress": duress,
                "spare": spare,
            }
        )

    def save(self, path: Path, passphrase: str, duress_passphrase: str | None = None) -> None:
        """Write the keyfile (two slots, see the module docstring); never overwrites."""
        if not passphrase:
            raise KeyFileError("the passphrase is empty", "choose a long passphrase")
        if duress_passphrase is not None and duress_passphrase == passphrase:
            raise KeyFileError(
                "the duress passphrase is the same as the real one", "choose a different one"
            )
        if duress_passphrase == "":
            raise KeyFileError("the duress passphrase is empty", "choose a long passphrase")
        _write_new(path, self._slots(passphrase, duress_passphrase))

    def _slots(self, passphrase: str, duress_passphrase: str | None) -> bytes:
        other = KeyPair.generate()  # the duress key, or a decoy slot's key nobody will hold
        owner, duress = super().public_key, other.public_key
        spare_slot = _spare_slot(owner, duress)
        spare = _digest(spare_slot)
        real_slot = self._slot(owner, duress, spare)
        other_slot = OwnerKey(other.signing, other.age_identity)._slot(owner, duress, spare)
        second = duress_passphrase if duress_passphrase is not None else secrets.token_hex(32)
        slots = [
            _armored(real_slot, passphrase),
            _armored(other_slot, second),
            spare_slot,
        ]
        secrets.SystemRandom().shuffle(slots)
        self.duress_public_key = duress
        return b"".join(slots)

    def add_duress(self, path: Path, passphrase: str, duress_passphrase: str) -> None:
        """Give an existing keyfile a (new) duress slot; the real key stays as it is.

        Unlocked with the duress passphrase, this does what the real one does as far as
        its holder can tell (the coercer sees the real owner's tools at work): the
        unlocked slot keeps opening with its passphrase and now names a new duress key,
        whose slot opens with the new passphrase. That slot takes the place of the spare
        (or is added, in a keyfile from before spares); the real slot is left untouched."""
        if duress_passphrase == passphrase or not duress_passphrase:
            raise KeyFileError(
                "the duress passphrase must be set and differ from the real one",
                "choose a different one",
            )
        if self.is_real:
            blob = self._slots(passphrase, duress_passphrase)
        else:
            blob = self._add_decoy_duress(path, passphrase, duress_passphrase)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        _write_new(partial, blob)
        os.replace(partial, path)

    def _add_decoy_duress(self, path: Path, passphrase: str, duress_passphrase: str) -> bytes:
        owner = self.public_key
        try:
            slots = [
                s if s.endswith(b"\n") else s + b"\n" for s in _ARMOR.findall(path.read_bytes())
            ]
        except OSError as exc:
            raise KeyFileError(f"cannot read owner key {path}: {exc.strerror}") from exc
        mine = next((i for i, s in enumerate(slots) if _opens(s, passphrase)), None)
        if mine is None:
            raise KeyFileError(f"{path} changed while it was open", "run the command again")
        new = KeyPair.generate()
        new_slot = _armored(
            OwnerKey(new.signing, new.age_identity)._slot(
                owner, new.public_key, secrets.token_hex(32)
            ),
            duress_passphrase,
        )
        spare = next((i for i, s in enumerate(slots) if _digest(s) == self._spare), None)
        if spare is None or spare == mine:
            slots.append(new_slot)
        else:
            slots[spare] = new_slot
        slots[mine] = _armored(self._slot(owner, new.public_key, _digest(new_slot)), passphrase)
        self.duress_public_key = new.public_key
        self._spare = _digest(new_slot)
        return b"".join(slots)


def _armored(plaintext: bytes, passphrase: str) -> bytes:
    slot = bytes(pyrage.passphrase.encrypt(plaintext, passphrase, armored=True))
    return slot if slot.endswith(b"\n") else slot + b"\n"


def _spare_slot(owner: str, duress: str) -> bytes:
    """A decoy slot under a passphrase nobody knows, shaped like the others."""
    key = KeyPair.generate()
    plaintext = OwnerKey(key.signing, key.age_identity)._slot(owner, duress, secrets.token_hex(32))
    return _armored(plaintext, secrets.token_hex(32))


def _digest(slot: bytes) -> str:
    return hashlib.sha256(slot.strip()).hexdigest()


def _opens(slot: bytes, passphrase: str) -> bool:
    try:
        pyrage.passphrase.decrypt(slot, passphrase)
    except pyrage.DecryptError:
        return False
    return True


def _write_new(path: Path, blob: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(
            f"{path} already exists", "choose another name; an old key is never overwritten"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(blob)


def load_owner_key(path: Path, passphrase: str) -> OwnerKey:
    """Unlock a keyfile with either slot's passphrase. Wrong passphrase and damaged files
    get distinct messages; which slot opened is not reported."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(
            f"owner key {path} not found", "make one with: afterword keygen"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read owner key {path}: {exc.strerror}") from exc
    slots = _ARMOR.findall(blob) or [blob]
    for slot in slots:
        try:
            plaintext = bytes(pyrage.passphrase.decrypt(slot, passphrase))
        except pyrage.DecryptError:
            continue
        return _from_slot(plaintext, path)
    raise KeyFileError(
        f"cannot unlock {path}: wrong passphrase or not an afterword keyfile",
        "check the passphrase (AFTERWORD_PASSPHRASE in scripts)",
    )


def _from_slot(plaintext: bytes, source: Path) -> OwnerKey:
    try:
        data = json.loads(plaintext)
        if data.get("afterword") == KEYFILE_KIND:
            return OwnerKey.from_json(plaintext, source)
        if data.get("afterword") != SLOTTED_KIND:
            raise FormatError("unknown keyfile version")
        seed = b64decode(data["ed25519"], what="the signing key")
        return OwnerKey(
            Ed25519PrivateKey.from_private_bytes(seed),
            str(data["age"]),
            owner=str(data["owner"]),
            duress_public_key=str(data["duress"]),
            spare=str(data["spare"]) if "spare" in data else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError, FormatError) as exc:
        raise KeyFileError(f"{source} unlocked but its contents are damaged") from exc
