"""Password hashing for check-ins: scrypt from the standard library (OpenSSL), per-switch salt.

The stored form is ``scrypt$n$r$p$salt_hex$hash_hex``; parameters travel with the hash
so they can be raised later without breaking old switches. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from afterword.errors import AfterwordError

N, R, P = 2**14, 8, 1


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise AfterwordError("the check-in password is too short", "use at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str | None) -> bool:
    """True if ``password`` matches; always does the full work, even without a stored hash,
    so the time taken says nothing about whether the switch has a password at all."""
    try:
        _, n, r, p, salt, digest = (stored or "scrypt$16384$8$1$00$00").split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return stored is not None and hmac.compare_digest(computed, bytes.fromhex(digest))
