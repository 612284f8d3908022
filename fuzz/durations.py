"""Fuzz duration parsing (``--interval 7d``, ``--reminders 3d,1d,2h``,
``AFTERWORD_MIN_DURATION``) and the policy built from it."""

from __future__ import annotations

from afterword.switch.policy import Policy, parse_duration, parse_reminders
from fuzz.common import FDP, expect_refusal, run

ALPHABET = "0123456789smhdwSMHDW ,.-+_\t\u0660\u00b2x"  # digits in other scripts, too


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        text = fdp.ConsumeUnicode(fdp.remaining_bytes())
    else:  # mostly the characters durations are made of, so the parser is reached
        text = "".join(
            ALPHABET[fdp.ConsumeIntInRange(0, len(ALPHABET) - 1)]
            for _ in range(fdp.ConsumeIntInRange(0, 40))
        )
        if fdp.ConsumeBool():  # a long run of digits
            text = "9" * fdp.ConsumeIntInRange(0, 6000) + text
    if mode == 3:
        values = [fdp.ConsumeInt(9) for _ in range(6)]
        policy = None

        def build() -> None:
            nonlocal policy
            policy = Policy(values[0], values[1], values[2], (values[3],), values[4])
            policy.check_minimum(values[5])

        expect_refusal(build)
        return
    expect_refusal(lambda: parse_duration(text))
    expect_refusal(lambda: parse_reminders(text))


if __name__ == "__main__":
    run(one_input)
