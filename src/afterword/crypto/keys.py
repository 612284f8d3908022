"""The owner's keyfile: an Ed25519 signing key and an age identity, under a passphrase.

The file is an ASCII-armored age file encrypted with the passphrase (age's scrypt
recipient, via pyrage), so the stock ``age -d`` opens it too. Its plaintext is canonical
JSON: ``{"afterword": "owner-key/1", "ed25519": <base64 seed>, "age": "AGE-SECRET-KEY-1..."}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Self

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from afterword.crypto.encoding import age_recipient_of, b64decode, b64encode, canonical_json
from afterword.crypto.signing import Document, public_key_text, sign_document
from afterword.errors import FormatError, KeyFileError

KEYFILE_KIND = "owner-key/1"


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

    def to_json(self) -> bytes:
        """The secret key material as canonical JSON: encrypt it before it touches a disk."""
        seed = self.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
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
    """The owner's key: signs notices and manifests, opens the owner's own copies."""

    __slots__ = ()

    def sign(self, body: Document) -> Document:
        return sign_document(body, self.signing)

    def save(self, path: Path, passphrase: str) -> None:
        """Write the keyfile, encrypted; refuses to overwrite an existing file."""
        if not passphrase:
            raise KeyFileError("the passphrase is empty", "choose a long passphrase")
        blob = pyrage.passphrase.encrypt(self.to_json(), passphrase, armored=True)
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
    """Unlock a keyfile. Wrong passphrase and damaged files get distinct messages."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(
            f"owner key {path} not found", "make one with: afterword keygen"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read owner key {path}: {exc.strerror}") from exc
    try:
        plaintext = bytes(pyrage.passphrase.decrypt(blob, passphrase))
    except pyrage.DecryptError as exc:
        raise KeyFileError(
            f"cannot unlock {path}: wrong passphrase or not an afterword keyfile",
            "check the passphrase (AFTERWORD_PASSPHRASE in scripts)",
        ) from exc
    return OwnerKey.from_json(plaintext, path)
