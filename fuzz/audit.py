"""Fuzz audit-log verification (``afterword verify audit.json``): the hash chain, the head
and the server's signature of an exported log, mutated and signed again or not."""

from __future__ import annotations

from afterword.crypto.audit import verify_log
from afterword.crypto.signing import SERVER_KEY
from fuzz.common import FDP, expect_refusal, fixtures, mutated, resign, run


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    log = mutated(fdp, fx.audit)
    if fdp.ConsumeBool():
        log = resign(log, fx.server, SERVER_KEY)
    pin = fx.server.public_key if fdp.ConsumeBool() else None
    expect_refusal(lambda: verify_log(log, pin))


if __name__ == "__main__":
    run(one_input)
