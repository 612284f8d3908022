"""The server's own keys: Ed25519 to sign statements and audit logs, and an age identity
custodian envelopes (and submitted shares) are encrypted to, so they stay encrypted at rest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from afterword.crypto.encoding import age_recipient_of, b64decode, b64encode
from afterword.crypto.signing import public_key_text
from afterword.errors import KeyFileError

KEYFILE = "server-key.json"


@dataclass(frozen=True, repr=False)
class ServerKeys:
    signing: Ed25519PrivateKey
    age_identity: str

    def __repr__(self) -> str:
        return f"ServerKeys(public_key={self.public_key!r})"

    @property
    def public_key(self) -> str:
        return public_key_text(self.signing.public_key())

    @property
    def age_recipient(self) -> str:
        return age_recipient_of(self.age_identity)

    def seal(self, data: bytes) -> bytes:
        """Encrypt to the server's own age recipient (shares at rest)."""
        return bytes(pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(self.age_recipient)]))

    def unseal(self, blob: bytes) -> bytes:
        return bytes(pyrage.decrypt(blob, [pyrage.x25519.Identity.from_str(self.age_identity)]))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKeys:
        """The keys in ``data_dir``, made on first start (mode 0600)."""
        path = data_dir / KEYFILE
        if path.exists():
            try:
                data = json.loads(path.read_text())
                seed = b64decode(data["ed25519"], what="the server signing key")
                return cls(Ed25519PrivateKey.from_private_bytes(seed), str(data["age"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise KeyFileError(f"the server key file {path} is damaged") from exc
        data_dir.mkdir(parents=True, exist_ok=True)
        keys = cls(Ed25519PrivateKey.generate(), str(pyrage.x25519.Identity.generate()))
        seed = keys.signing.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        text = json.dumps({"ed25519": b64encode(seed), "age": keys.age_identity})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return keys
