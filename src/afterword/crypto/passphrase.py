"""A new keyfile's passphrase: whether it is strong enough, and a strong one made up.

Whoever seizes the owner's keyfile can try passphrases offline for as long as they like,
so a new one must resist at least 10^10 guesses as zxcvbn (Dropbox's estimator: common
passwords, words, names, dates, keyboard patterns, l33t) counts them: its score 4. A
made-up one is ten words drawn with :mod:`secrets` from the SLIP-39 word list (1,024 words,
each unique in its first four letters, chosen to be written down and typed back): 100 bits,
as ``age -p`` makes ten words when its passphrase is left empty.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from shamir_mnemonic.wordlist import WORDLIST
from zxcvbn import zxcvbn

MIN_SCORE = 4  # zxcvbn: guesses >= 10^10
RATED_LENGTH = 72  # zxcvbn refuses longer input; a strong start is a strong passphrase
MADE_UP_WORDS = 10
ADVICE = "use four or more words picked at random (not a saying, a name or a lyric)"


def passphrase_weakness(passphrase: str, context: Sequence[str] = ()) -> str | None:
    """Why ``passphrase`` is too weak for a new keyfile, in words; None if it is strong.

    ``context`` names what an attacker would try first (the keyfile's name, say).
    """
    if not passphrase:
        return "it is empty"
    result: dict[str, Any] = zxcvbn(
        passphrase[:RATED_LENGTH], user_inputs=["afterword", "owner", *context]
    )
    if int(result["score"]) >= MIN_SCORE:
        return None
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "").rstrip(".")
    guesses = float(result["guesses"])
    said = f"it would fall to about {_tries(guesses)} guesses"
    if warning:
        said = f"{warning[:1].lower()}{warning[1:]}: {said}"
    return f"{said}, and it must withstand 10 billion"


def _tries(guesses: float) -> str:
    for exponent, name in ((9, "billion"), (6, "million"), (3, "thousand")):
        if guesses >= 10**exponent:
            return f"{guesses / 10**exponent:,.0f} {name}"
    return f"{max(1, round(guesses)):,}"


def made_up_passphrase() -> str:
    """Ten random SLIP-39 words joined by hyphens (100 bits)."""
    return "-".join(secrets.choice(WORDLIST) for _ in range(MADE_UP_WORDS))
