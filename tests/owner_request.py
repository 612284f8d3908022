"""The owner's signed request (``request/1``) as the tests make it: over a server's nonce,
numbered as the CLI numbers them (``cli/servers.Signer``), from one counter that only grows
in this process, so the requests of every test come in the order they were signed."""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import sign_request

_last = 0


def next_counter() -> int:
    """The next number a request of these tests is signed with: the milliseconds of the
    real clock, or one past the last if that is not later. Ahead of any number the CLI
    signed from its key file's counters for the same switch in a test that mixes both (the
    CLI is told the higher number by the server, proven, and signs past it)."""
    global _last
    _last = max(_last + 1, time.time_ns() // 1_000_000)
    return _last


def owner_request(
    key: OwnerKey | Ed25519PrivateKey,
    switch: str,
    action: str,
    nonce: str,
    *,
    counter: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """``action`` for ``switch`` over ``nonce``, signed by ``key`` (an owner key file's
    real key, or any Ed25519 key: a duress key, a forger's) and numbered next, or
    ``counter``."""
    signing = key.signing if isinstance(key, OwnerKey) else key
    number = next_counter() if counter is None else counter
    return sign_request(signing, switch, action, nonce, number, **extra)
