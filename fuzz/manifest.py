"""Fuzz the public manifest check (``afterword verify manifest.json``, and what the server
checks on ``arm``): raw files, and real manifests mutated and signed again."""

from __future__ import annotations

from afterword.crypto.verify import verify_manifest, verify_path
from fuzz.common import FDP, expect_refusal, fixtures, mutated, resign, run, written


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:  # any file handed to `afterword verify`
        with written(fdp.ConsumeBytes(fdp.remaining_bytes())) as path:
            expect_refusal(lambda: verify_path(path))
        return
    doc = mutated(fdp, fx.manifest)
    if mode == 1:  # a hostile owner signs whatever they like
        doc = resign(doc, fx.owner)
    notice = fx.notice if fdp.ConsumeBool() else None
    expect_refusal(lambda: verify_manifest(doc, notice))


if __name__ == "__main__":
    run(one_input)
