"""A mistyped share word at the command line is located as the custodian page locates it
(one function, :func:`afterword.crypto.shares.check_share_words`, serves both): which word,
and what it probably was; a missing word is counted."""

from __future__ import annotations

import re
from pathlib import Path

from shamir_mnemonic.wordlist import WORDLIST

from afterword.crypto.shares import parse_share_text
from tests.cli.test_cli import refused, run, walkthrough

__all__ = ["walkthrough"]  # the fixture, from the README's walkthrough


def _card_with(card: Path, position: int, word: str) -> str:
    """The card's text with the word at ``position`` (1-based) replaced."""
    text = card.read_text()
    mnemonic = parse_share_text(text, "card").mnemonic.split()
    pattern = rf"(?<!\d){position}\. {re.escape(mnemonic[position - 1])}\b"
    changed, count = re.subn(pattern, f"{position}. {word}", text)
    assert count == 1, (pattern, text)
    return changed


def test_open_and_submit_name_the_mistyped_word_and_the_likely_one(
    walkthrough: dict[str, object],
) -> None:
    d = walkthrough["dir"]
    assert isinstance(d, Path)
    card = d / "bundle" / "shares" / "friend.txt"
    words = parse_share_text(card.read_text(), "card").mnemonic.split()
    # a letter too many: its first four letters still name one word alone (a letter
    # changed in a four-letter word would leave two candidates, and a random card would
    # make this test fail now and then)
    typo = words[4] + "x"
    (d / "typo.txt").write_text(_card_with(card, 5, typo))
    open_args = ["open", "bundle/dossier.age", "--share", "typo.txt", "--share",
                 "bundle/shares/sister.txt", "-o", "out"]  # fmt: skip
    line = refused(run(*open_args, cwd=d), "typo.txt: ")
    assert f"Word 5, “{typo}”, is not a word that can appear on a share card." in line
    assert f"Did you mean “{words[4]}”?" in line
    assert "correct the words in typo.txt and run the command again" in line
    assert not (d / "out").exists()
    # the same before any server is asked (nothing listens on port 9)
    submit = ["custodian", "submit", "typo.txt", "--server", "http://127.0.0.1:9"]
    assert refused(run(*submit, cwd=d)) == line

    # a real word in the wrong place: the checksum says which, and what it should be
    other = next(w for w in WORDLIST if w != words[11])
    (d / "wrong.txt").write_text(_card_with(card, 12, other))
    line = refused(run("custodian", "submit", "wrong.txt", "--server", "http://x.test", cwd=d))
    assert f"Word 12, “{other}”, is probably wrong" in line
    assert f"should be “{words[11]}”" in line

    # 30 of the 33 words, as a plain words file: counted
    (d / "short.txt").write_text(" ".join(words[:30]))
    line = refused(run("custodian", "submit", "short.txt", "--server", "http://x.test", cwd=d))
    assert "short.txt: The number of words is wrong. You entered 30 words: 3 words are " in line
    assert "missing; a share has 20 or 33 words, afterword's 33; correct the words" in line
