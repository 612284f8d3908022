"""Held: a hostile server cannot lock the owner out with the request 409 (``Signer``).

What a hostile server can show as "the highest request I acted on" is only what the owner
signed: an old request (behind the CLI's counter: the CLI does not move), a forgery or a
request of another switch (not believed), or the very request the CLI just sent it
(equal: the CLI signs one more, once, and a second 409 is an error). So a command burns at
most two numbers, the number stays far below ``MAX_COUNTER``, and the honest servers take
the owner's next command. (A 409 from a hostile server does make that server's own copy
of the command fail: it can always refuse; the other servers are unaffected.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.cli.servers import Signer, next_counter, take_counter
from afterword.client import ServerError
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import sign_request
from afterword.errors import AfterwordError

NONCE = "A" * 48


class Hostile:
    """Answers every request 409 with ``proof(request)`` as the request it acted on."""

    server = "https://h.example"

    def __init__(self, proof: Any) -> None:
        self.proof, self.sent = proof, []  # type: ignore[var-annotated]

    def owner(self, switch: str, owner: OwnerKey, action: str, counter: int, **extra: Any) -> Any:
        doc = sign_request(owner.signing, switch, action, NONCE, counter, **extra)
        self.sent.append(doc)
        body = {"error": "behind", "counter": 0, "request": self.proof(doc)}
        raise ServerError("the server refused: behind", "", 409, body)


@pytest.mark.parametrize("kind", ["old", "forged", "other-switch", "echo"])
def test_a_hostile_409_moves_the_counter_by_one_at_most(
    tmp_path: Path, owner: OwnerKey, kind: str
) -> None:
    keyfile = tmp_path / "owner.key"
    keyfile.write_text("")
    old = sign_request(owner.signing, "sw", "status", NONCE, 1)
    for _ in range(5):  # some history: the counter is at 5
        take_counter(keyfile, "sw")
    proofs = {
        "old": lambda doc: old,
        "forged": lambda doc: sign_request(
            Ed25519PrivateKey.generate(), "sw", "status", NONCE, 2**50
        ),
        "other-switch": lambda doc: sign_request(owner.signing, "sw2", "status", NONCE, 2**50),
        "echo": lambda doc: doc,
    }
    hostile = Hostile(proofs[kind])
    signer = Signer(owner, keyfile, "sw")
    with pytest.raises(AfterwordError):
        signer.request(hostile, "abort")  # type: ignore[arg-type]
    assert len(hostile.sent) == (2 if kind == "echo" else 1)
    assert next_counter(keyfile, "sw") <= 8  # the next command signs a small number
