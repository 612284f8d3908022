"""Fuzz notice verification (``afterword verify notice.json``, and ``--notice`` next to a
manifest or teaser): real notices mutated, signed again or not."""

from __future__ import annotations

from afterword.crypto.verify import verify_any, verify_notice
from fuzz.common import FDP, expect_refusal, fixtures, mutated, resign, run


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    notice = mutated(fdp, fx.notice)
    if fdp.ConsumeBool():
        notice = resign(notice, fx.owner)
    if fdp.ConsumeBool():
        expect_refusal(lambda: verify_notice(notice))
    else:  # the notice as the yardstick for another document
        other = fx.manifest if fdp.ConsumeBool() else fx.teaser
        expect_refusal(lambda: verify_any(other, notice))


if __name__ == "__main__":
    run(one_input)
