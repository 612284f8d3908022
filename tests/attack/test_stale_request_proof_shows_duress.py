"""Attack (a coercer who watches the HTTP answers the owner's machine gets): the 409 that
refuses a request numbered behind carries the owner-signed ``request`` that bears the
highest counter (``owner.StaleRequest``, ``_proof``). Under duress that request is the
coerced one, signed by the duress key; for real it is signed by the owner key. The owner
key is in the signed notice the adversary was shown, so anyone can check the proof's
signature against it: it verifies in the real world and not in the duress one.

Steps (the coercer holds the owner and their machine, and the passphrase they were given):
1. The owner is made to run a command (here ``status``): request n, signed by whichever
   key the passphrase unlocked.
2. The coercer sends one more request numbered below n (an old copy of the key file's
   counters, a second machine, or simply an edited ``owner.age.checkins.json``). The
   server answers 409 with ``request``: the request n, signature included.
3. The coercer verifies ``request.signature`` over its canonical body with the notice's
   owner key. Real: valid. Duress: invalid. The coercer knows the passphrase was the
   duress one and that the release is under way.
(The same holds for the check-in 409's ``checkin`` proof, whose highest check-in may be a
duress one: ``keep_highest`` keeps it.)

Fix suggested: never hand a duress-signed document back to the owner's side. Keep, beside
the highest counter, the highest *real* request (and check-in) and answer with that; under
duress answer with a stand-in the CLI can still check, e.g. a server-signed statement
"highest counter n for switch S" (the CLI pins the server key from the roster), or have the
server re-sign the proof rather than quote the owner's signature. Whatever the proof is, it
must verify the same way against the notice's key in both worlds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from afterword.crypto.checkin import signed_by
from afterword.crypto.encoding import b64decode, canonical_json
from afterword.crypto.keys import OwnerKey
from afterword.crypto.request import sign_request
from afterword.engine import Behind
from tests.attack.helpers import signed
from tests.engine.federation import T0, close, federation


def _proof_verifies_with_notice_key(fed, key, owner: OwnerKey) -> bool:  # type: ignore[no-untyped-def]
    engine = fed.world.nodes[0].engine
    nonce = engine.challenge(fed.switch)["nonce"]
    behind = sign_request(key, fed.switch, "status", nonce, 1)  # numbered behind
    try:
        engine.owner_request(fed.switch, behind, client="10.1.2.3 cli")
    except Behind as exc:
        proof = dict(exc.proof)  # type: ignore[arg-type]
    else:
        raise AssertionError("a request numbered behind was taken")
    body = {k: v for k, v in proof.items() if k != "signature"}
    signature = b64decode(proof["signature"], what="signature")
    return bool(signed_by([owner.public_key], signature, canonical_json(body)))


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "found by an attacker, not fixed: the 409's proof is the request as signed, a "
        "duress one after duress, as every signed request on the wire is "
        "(docs/federation.md, the fourth attacker)"
    ),
)
def test_the_stale_request_proof_reads_the_same_in_both_worlds(
    tmp_path: Path, owner: OwnerKey
) -> None:
    duress = Ed25519PrivateKey.generate()
    real = federation(tmp_path / "real", owner, duress=duress)
    forced = federation(tmp_path / "forced", owner, duress=duress)
    try:
        for fed in (real, forced):
            fed.world.run(T0 + 600)
        signed(owner.signing, real.world.nodes[0].engine, real.switch, "status")
        signed(duress, forced.world.nodes[0].engine, forced.switch, "status")
        as_real = _proof_verifies_with_notice_key(real, owner.signing, owner)
        as_forced = _proof_verifies_with_notice_key(forced, duress, owner)
        assert as_real == as_forced, (
            f"the 409's proof verifies with the notice's owner key: real {as_real}, "
            f"duress {as_forced}; a coercer who checks it tells the worlds apart"
        )
    finally:
        close(real)
        close(forced)
