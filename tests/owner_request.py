"""The owner's signed request (``request/1``) as the tests make it: over a server's nonce,
numbered as the CLI numbers them (``cli/servers.Signer``), from one counter that only grows
in this process, so the requests of every test come in the order they were signed."""

from __future__ import annotations

import itertools
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import sign_request

_COUNTER = itertools.count(1)


def next_counter() -> int:
    """The next number a request of these tests is signed with."""
    return next(_COUNTER)


def owner_request(
    key: OwnerKey | Ed25519PrivateKey, switch: str, action: str, nonce: str, **extra: Any
) -> dict[str, Any]:
    """``action`` for ``switch`` over ``nonce``, signed by ``key`` (an owner key file's
    real key, or any Ed25519 key: a duress key, a forger's) and numbered next."""
    signing = key.signing if isinstance(key, OwnerKey) else key
    return sign_request(signing, switch, action, nonce, next_counter(), **extra)
