"""Fuzz teaser verification (``afterword verify teaser.json --notice notice.json``): the
content hash, the salted leaf and the RFC 9162 inclusion proof, behind a signature the
fuzzer's documents carry (a hostile owner signs what they like)."""

from __future__ import annotations

from afterword.crypto.verify import verify_teaser
from fuzz.common import FDP, expect_refusal, fixtures, mutated, resign, run


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    teaser = mutated(fdp, fx.teaser)
    if fdp.ConsumeIntInRange(0, 3):
        teaser = resign(teaser, fx.owner)
    notice = fx.notice if fdp.ConsumeBool() else None
    expect_refusal(lambda: verify_teaser(teaser, notice))


if __name__ == "__main__":
    run(one_input)
