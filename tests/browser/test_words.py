"""Plain-words helpers of the pages: share-word diagnosis (SLIP-39 wordlist and RS1024
checksum) and durations; no server, no browser."""

from __future__ import annotations

import pytest
import shamir_mnemonic
from hypothesis import given, settings
from hypothesis import strategies as st
from shamir_mnemonic.wordlist import WORDLIST

from afterword.crypto.shares import check_share_words, normalize_mnemonic, split_secret
from afterword.errors import ShareError
from afterword.web.wording import countdown_text, duration_text

SHARES = split_secret(bytes(range(32)), 2, 3)
SHORT = shamir_mnemonic.generate_mnemonics(1, [(2, 3)], bytes(16), b"")[0][0]


def test_a_good_share_has_no_problems_however_it_is_pasted() -> None:
    for share in (*SHARES, SHORT):
        assert check_share_words(share).problems == []
        assert check_share_words("  " + share.upper().replace(" ", "\n\t, ") + ".").problems == []


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2), st.integers(0, 32), st.integers(1, 1023))
def test_any_one_wrong_word_is_located_and_corrected(share: int, pos: int, delta: int) -> None:
    words = SHARES[share].split()
    right = words[pos]
    words[pos] = WORDLIST[WORDLIST.index(right) ^ delta]
    check = check_share_words(" ".join(words))
    assert check.problems == [
        f"Word {pos + 1}, “{words[pos]}”, is probably wrong: the share's built-in check says "
        f"it should be “{right}”. Look at word {pos + 1} on your card."
    ]


def test_a_pasted_page_names_five_unknown_words_and_counts_the_rest() -> None:
    problems = check_share_words("lorem ipsum " * 500).problems
    assert len(problems) == 6
    assert problems[0].startswith("Word 1, “lorem”, is not a word")
    assert problems[-1] == "And 995 more words like these."


def test_unknown_words_are_named_with_the_likely_word() -> None:
    words = SHARES[0].split()
    words[2], words[7] = words[2][:4] + "qq", "zzzzzz"
    problems = check_share_words(" ".join(words)).problems
    assert problems[0].startswith(f"Word 3, “{words[2]}”, is not a word")
    assert f"Did you mean “{SHARES[0].split()[2]}”?" in problems[0]
    assert problems[1] == "Word 8, “zzzzzz”, is not a word that can appear on a share card."


def test_missing_words_two_wrong_words_and_nothing_at_all() -> None:
    words = SHARES[1].split()
    assert "You entered 32 words" in check_share_words(" ".join(words[:-1])).problems[0]
    # how many are missing or too many, whatever the count (30 is a length SLIP-39 allows
    # for a 208-bit secret, which no card has: counted, not left to the checksum)
    counts = {
        30: "You entered 30 words: 3 words are missing; a share has 20 or 33 words, "
        "afterword's 33.",
        32: "You entered 32 words: 1 word is missing;",
        12: "You entered 12 words: 21 words are missing (8 for a 20-word share);",
        34: "You entered 34 words: 1 word is too many (one may be doubled);",
        40: "You entered 40 words: 7 words are too many (some may be doubled);",
    }
    for count, said in counts.items():
        pasted = (words * 2)[:count]
        check = check_share_words(" ".join(pasted))
        assert check.title == "The number of words is wrong."
        assert check.problems[0].startswith(said), (count, check.problems)
    with pytest.raises(ShareError, match=r"30 words: 3 words are missing; a share has 20 or 33"):
        normalize_mnemonic(" ".join(words[:30]))  # the server's check counts them too
    two = [*words]
    two[3], two[20] = two[20], two[3]
    if two != words:
        assert "More than one word is wrong" in check_share_words(" ".join(two)).problems[0]
    assert check_share_words(" 1 2 3 ").title == "No words were found."


def test_durations_read_as_people_say_them() -> None:
    assert duration_text(0) == "less than a minute"
    assert duration_text(59) == "less than a minute"
    assert duration_text(60) == "1 minute"
    assert duration_text(3 * 86400) == "3 days"
    assert duration_text(3 * 86400 + 4 * 3600 + 59) == "3 days 4 hours"
    assert duration_text(86400 + 60) == "1 day"  # two units at most: days and hours
    assert duration_text(2 * 3600 + 5 * 60) == "2 hours 5 minutes"
    assert countdown_text(100 + 7200, 100) == "2 hours left"
    assert countdown_text(100, 100 + 90 * 60) == "overdue by 1 hour 30 minutes"
