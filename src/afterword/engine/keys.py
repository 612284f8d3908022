"""The server's own key pair: Ed25519 to sign release statements and audit logs, and an
age identity that custodian envelopes and submitted shares are encrypted to, so they stay
encrypted at rest. Kept in the data directory (mode 0600), made on first start.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from afterword.crypto.keys import KeyPair
from afterword.errors import KeyFileError

KEYFILE = "server-key.json"


class ServerKeys(KeyPair):
    __slots__ = ()

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte secret for one purpose (HMAC-SHA256 of the signing key's seed over
        ``afterword PURPOSE``): every process holding the server key agrees on it, and no
        other file is needed."""
        return hmac.new(self.seed(), f"afterword {purpose}".encode(), hashlib.sha256).digest()

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKeys:
        path = data_dir / KEYFILE
        try:
            return cls.from_json(path.read_bytes(), path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise KeyFileError(f"cannot read the server key {path}: {exc.strerror}") from exc
        data_dir.mkdir(parents=True, exist_ok=True)
        keys = cls.generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(keys.to_json())
        return keys
