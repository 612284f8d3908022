"""Key shares: SLIP-39 split and combine, share envelopes, paper cards, commitments.

The dossier key (32 bytes) is split with SLIP-39 (``shamir-mnemonic``): one group,
K of N, empty passphrase, so the Trezor reference tool (``shamir recover``) rebuilds it
without afterword. SLIP-39 forbids 1-of-N groups; for K = 1 every custodian gets the
same single 1-of-1 mnemonic, as the reference tool itself recommends.

It also says what is wrong with share words a custodian typed (:func:`check_share_words`):
that reads the SLIP-39 word list and checksum, so it lives with the shares, not the page.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyrage
import segno
import shamir_mnemonic
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from shamir_mnemonic import rs1024
from shamir_mnemonic.constants import (
    CUSTOMIZATION_STRING_EXTENDABLE,
    CUSTOMIZATION_STRING_ORIG,
    ITERATION_EXP_LENGTH_BITS,
    RADIX_BITS,
)
from shamir_mnemonic.wordlist import WORD_INDEX_MAP, WORDLIST

from afterword.crypto.encoding import canonical_json
from afterword.errors import FormatError, ShareError

ENVELOPE_KIND = "share/1"
MAX_SHARES = 16
CARD_BEGIN = "-----BEGIN AFTERWORD SHARE-----"
CARD_END = "-----END AFTERWORD SHARE-----"
AGE_BINARY_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR_MAGIC = b"-----BEGIN AGE ENCRYPTED FILE-----"
# SLIP-39 shares of a 128-bit and a 256-bit secret (afterword's dossier keys are 256-bit);
# the format allows other lengths for other sizes, which no share of ours or the Trezor's has
SHARE_WORDS = (20, 33)
SHARE_LENGTHS = "a share has 20 or 33 words, afterword's 33"
MAX_WORD_PROBLEMS = 5


def check_threshold(threshold: int, count: int) -> None:
    """Refuse split parameters SLIP-39 (or common sense) cannot honour."""
    if count < 1:
        raise ShareError("no custodians given", "add at least one --custodian LABEL=RECIPIENT")
    if count > MAX_SHARES:
        raise ShareError(f"{count} custodians; SLIP-39 allows at most {MAX_SHARES}")
    if not 1 <= threshold <= count:
        raise ShareError(
            f"threshold {threshold} is impossible with {count} custodian(s)",
            f"choose --threshold between 1 and {count}",
        )


def split_secret(secret: bytes, threshold: int, count: int) -> list[str]:
    """Split ``secret`` into ``count`` mnemonics of which any ``threshold`` rebuild it."""
    check_threshold(threshold, count)
    if threshold == 1:
        (group,) = shamir_mnemonic.generate_mnemonics(1, [(1, 1)], secret, b"")
        return [group[0]] * count
    (group,) = shamir_mnemonic.generate_mnemonics(1, [(threshold, count)], secret, b"")
    return list(group)


def normalize_mnemonic(text: str) -> str:
    """Lower-case words separated by single spaces; checks every word and the checksum.

    No word of the share leaves this function: its errors (which reach logs, the audit
    log and HTTP answers) name a position, never a word, and do not chain the library's
    error, whose text quotes the mnemonic's first words.
    """
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", text)]
    if not words:
        raise ShareError("no share words found", "paste the words from the card")
    mnemonic = " ".join(words)
    unknown = next((n for n, w in enumerate(words, 1) if w not in WORD_INDEX_MAP), None)
    if unknown is not None:
        problem = f"word {unknown} is not a SLIP-39 share word"
    elif len(words) not in SHARE_WORDS:
        problem = f"{len(words)} words: {word_count_problem(len(words))}; {SHARE_LENGTHS}"
    else:
        try:
            shamir_mnemonic.Share.from_mnemonic(mnemonic)
            return mnemonic
        except shamir_mnemonic.MnemonicError as exc:
            problem = _mnemonic_problem(str(exc), len(words))
    raise ShareError(
        f"this share is damaged or mistyped ({problem})",
        "compare every word with the card; one wrong word is enough to break it",
    ) from None


def _mnemonic_problem(library_text: str, count: int) -> str:
    """What the library found wrong, in words of our own (its text quotes the share)."""
    if "length" in library_text:
        return f"{count} words; {SHARE_LENGTHS}"
    if "checksum" in library_text:
        return "its checksum does not match: a word is wrong, or two are swapped"
    if "padding" in library_text:
        return "its padding is wrong: a word is wrong"
    return "its words do not make a valid SLIP-39 share"


def commitment(mnemonic: str) -> str:
    """SHA-256 (hex) of the normalised mnemonic: lets a server reject a wrong share on arrival."""
    return hashlib.sha256(normalize_mnemonic(mnemonic).encode("ascii")).hexdigest()


CREDENTIAL_INFO = b"afterword custodian credential v1"
_CREDENTIAL = re.compile(r"[a-z2-7]{32}")


def custodian_credential(mnemonic: str, switch: str, label: str) -> str:
    """The custodian's code for seeing the switch's true state and voting.

    Derived from their share with HKDF-SHA256 (salt: the switch id; info: this purpose and
    their label), so whoever holds the share holds the code, while the code reveals nothing
    about the share. 32 base32 letters (160 bits); the server keeps only its SHA-256.
    """
    derived = HKDF(
        algorithm=hashes.SHA256(),
        length=20,
        salt=switch.encode(),
        info=CREDENTIAL_INFO + b"\x00" + label.encode(),
    ).derive(normalize_mnemonic(mnemonic).encode("ascii"))
    return base64.b32encode(derived).decode("ascii").lower()


def credential_digest(code: str) -> str:
    """What the server stores of a custodian code (spaces, dashes and case ignored)."""
    cleaned = re.sub(r"[\s-]", "", code).lower()
    if not _CREDENTIAL.fullmatch(cleaned):
        raise ShareError(
            "this is not a custodian code (32 letters a-z and digits 2-7)",
            "copy the code from your card, or let `afterword custodian` derive it",
        )
    return hashlib.sha256(cleaned.encode("ascii")).hexdigest()


def combine_shares(mnemonics: Iterable[str]) -> bytes:
    """Rebuild the secret from K mnemonics; duplicates are ignored, errors are explained."""
    unique = list(dict.fromkeys(normalize_mnemonic(m) for m in mnemonics))
    if not unique:
        raise ShareError("no shares given", "pass --share FILE once per share")
    # SLIP-39 wants exactly K shares; more than K is fine for a person, so use K of them.
    threshold = shamir_mnemonic.Share.from_mnemonic(unique[0]).member_threshold
    if len(unique) > threshold:
        unique = unique[:threshold]
    try:
        return bytes(shamir_mnemonic.combine_mnemonics(unique, b""))
    except shamir_mnemonic.MnemonicError as exc:
        text = str(exc)
        if "Wrong number of mnemonics" in text:
            expected = re.search(r"Expected (\d+)", text)
            need = expected.group(1) if expected else "more"
            raise ShareError(
                f"not enough shares: {len(unique)} distinct given, {need} needed",
                "collect more custodians' shares",
            ) from None
        if "identifier" in text or "don't match" in text or "Invalid set" in text:
            raise ShareError(
                "these shares do not belong together (they come from different switches)",
                "use only shares made for this dossier",
            ) from None
        raise ShareError("the shares cannot be combined (SLIP-39 refuses this set)") from None


@dataclass(frozen=True)
class ShareEnvelope:
    """What a custodian holds: their mnemonic plus what it belongs to."""

    mnemonic: str
    switch: str
    custodian: str
    threshold: int
    shares: int
    server: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "afterword": ENVELOPE_KIND,
            "mnemonic": self.mnemonic,
            "switch": self.switch,
            "custodian": self.custodian,
            "threshold": self.threshold,
            "shares": self.shares,
            "server": self.server,
        }

    @classmethod
    def from_json(cls, data: object) -> ShareEnvelope:
        if not isinstance(data, dict) or data.get("afterword") != ENVELOPE_KIND:
            raise FormatError("not an afterword share envelope")
        try:
            return cls(
                mnemonic=normalize_mnemonic(str(data["mnemonic"])),
                switch=str(data["switch"]),
                custodian=str(data["custodian"]),
                threshold=int(data["threshold"]),
                shares=int(data["shares"]),
                server=None if data.get("server") is None else str(data["server"]),
            )
        except (KeyError, TypeError, ValueError, OverflowError) as exc:  # 1e999 is inf
            raise FormatError(f"the share envelope is missing a field ({exc})") from exc

    @property
    def credential(self) -> str:
        """The custodian code (see :func:`custodian_credential`)."""
        return custodian_credential(self.mnemonic, self.switch, self.custodian)

    def encrypt(self, recipient: str) -> bytes:
        """An age file to the custodian's own recipient."""
        return bytes(
            pyrage.encrypt(
                canonical_json(self.to_json()), [pyrage.x25519.Recipient.from_str(recipient)]
            )
        )

    def card(self) -> str:
        """A printable paper card: instructions, the words, and a QR code of the words."""
        words = self.mnemonic.split()
        rows = [
            "  " + "  ".join(f"{i + 1:>2}. {w:<10}" for i, w in enumerate(words) if i // 4 == r)
            for r in range((len(words) + 3) // 4)
        ]
        needed = (
            "this share alone opens it"
            if self.threshold == 1
            else f"any {self.threshold} of the {self.shares} shares together open it"
        )
        return "\n".join(
            [
                "AFTERWORD KEY SHARE  (keep this card safe: it is a piece of a key)",
                "",
                f"Custodian: {self.custodian}",
                f"Switch:    {self.switch}",
                f"Server:    {self.server or '(none recorded)'}",
                f"Shares:    {self.threshold} of {self.shares} ({needed})",
                f"Code:      {'-'.join(self.credential[i : i + 4] for i in range(0, 32, 4))}",
                "           (to see the switch's true state and vote; it cannot open anything)",
                "",
                "What this is: a person trusted you with one share of the key to a sealed",
                "dossier. Alone it reveals nothing. Keep it where you keep important papers,",
                "show it to nobody, and make no photo or copy of it. Losing it is safer than",
                "leaking it; tell the owner if it is lost or seen by someone else.",
                "",
                "When to use it: only when the switch asks the custodians for their shares",
                "(you will be told, with instructions), or when the owner asked you to.",
                "Then type the 33 words below exactly, or scan the QR code.",
                "",
                CARD_BEGIN,
                *(row.rstrip() for row in rows),
                CARD_END,
                "",
                paper_qr(self.mnemonic),
                "",
                "Without afterword: `shamir recover` (pip install 'shamir-mnemonic[cli]') takes",
                "these words and prints the key; RECOVERY.md, which travels with the dossier,",
                "explains every step (age + tar open the dossier with that key).",
                "",
            ]
        )


def paper_qr(text: str) -> str:
    """A QR code (segno) drawn with half-block characters, dark modules in ink.

    segno's own terminal renderer assumes a dark screen and would print the code
    inverted on paper, which many scanners refuse; this draws dark as ink.
    """
    matrix = [list(row) for row in segno.make(text, error="m", micro=False).matrix_iter(border=2)]
    if len(matrix) % 2:
        matrix.append([0] * len(matrix[0]))
    glyph = {(1, 1): "\u2588", (1, 0): "\u2580", (0, 1): "\u2584", (0, 0): " "}
    return "\n".join(
        "".join(glyph[(bool(a), bool(b))] for a, b in zip(top, bottom, strict=True)).rstrip()
        for top, bottom in zip(matrix[0::2], matrix[1::2], strict=True)
    )


@dataclass(frozen=True)
class ShareInput:
    """A share read from a file: the words, and what it says it belongs to (if known)."""

    mnemonic: str
    switch: str | None
    source: str
    custodian: str | None = None  # the label, if the envelope or card names it

    def credential(self) -> str:
        """The custodian code of this share (see :func:`custodian_credential`)."""
        if self.switch is None or self.custodian is None:
            raise ShareError(
                f"{self.source} does not say which switch and custodian it belongs to",
                "use your envelope or card as afterword made it",
            )
        return custodian_credential(self.mnemonic, self.switch, self.custodian)


def decrypt_envelope(blob: bytes, identities: Sequence[str], source: str) -> ShareEnvelope:
    if not identities:
        raise ShareError(
            f"{source} is an encrypted share envelope and no identity was given",
            "pass the custodian's age key with --identity KEYFILE",
        )
    try:
        keys = [pyrage.x25519.Identity.from_str(i) for i in identities]
        plaintext = bytes(pyrage.decrypt(blob, keys))
    except pyrage.IdentityError as exc:
        raise ShareError("an --identity file does not hold a valid age key") from exc
    except pyrage.DecryptError as exc:
        raise ShareError(
            f"{source} cannot be opened with the given identities",
            "pass the age key of the custodian this envelope was made for",
        ) from exc
    try:
        return ShareEnvelope.from_json(json.loads(plaintext))
    except ValueError as exc:
        raise ShareError(f"{source} opened but does not hold a share envelope") from exc


def parse_share_text(text: str, source: str) -> ShareInput:
    """A paper card (words between the markers) or a plain mnemonic text file."""
    switch = custodian = None
    if match := re.search(r"^Switch:\s*(\S+)", text, re.MULTILINE):
        switch = match.group(1)
    if match := re.search(r"^Custodian:\s*(\S+)", text, re.MULTILINE):
        custodian = match.group(1)
    if CARD_BEGIN in text and CARD_END in text:
        body = text.split(CARD_BEGIN, 1)[1].split(CARD_END, 1)[0]
        body = re.sub(r"\d+\.", " ", body)
    else:
        body = text
    try:
        return ShareInput(normalize_mnemonic(body), switch, source, custodian)
    except ShareError as exc:
        # read on the custodian's own machine: the words can be named, as the web page
        # names them to the custodian (normalize_mnemonic's errors reach servers' logs)
        check = check_share_words(body)
        said = " ".join([check.title, *check.problems]).rstrip(".") or exc.message
        raise ShareError(
            f"{source}: {said}", f"correct the words in {source} and run the command again"
        ) from None


def read_share(blob: bytes, identities: Sequence[str], source: str) -> ShareInput:
    """Any share file: an age envelope (binary or armored), a paper card, or bare words."""
    if blob.startswith(AGE_BINARY_MAGIC) or blob.lstrip().startswith(AGE_ARMOR_MAGIC):
        envelope = decrypt_envelope(blob, identities, source)
        return ShareInput(envelope.mnemonic, envelope.switch, source, envelope.custodian)
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ShareError(f"{source} is neither a share envelope nor a text share") from exc
    return parse_share_text(text, source)


# --- hints for mistyped share words -----------------------------------------------------


@dataclass
class ShareCheck:
    """What is wrong with pasted share words, in words a custodian can act on."""

    problems: list[str] = field(default_factory=list)
    title: str = ""
    hint: str = ""


def word_count_problem(count: int) -> str:
    """How many words a share of ``count`` words lacks or has too many (no word of it)."""
    if count in SHARE_WORDS:
        return "no word is missing"
    if count > max(SHARE_WORDS):
        extra = count - max(SHARE_WORDS)
        many = f"{extra} words are too many (some" if extra > 1 else "1 word is too many (one"
        return many + " may be doubled)"
    missing = [n - count for n in sorted(SHARE_WORDS, reverse=True) if n > count]
    said = f"{missing[0]} word{'s are' if missing[0] > 1 else ' is'} missing"
    return said + (f" ({missing[1]} for a 20-word share)" if len(missing) > 1 else "")


def _suggest(word: str) -> str:
    """The SLIP-39 word(s) a mistyped word most likely was."""
    # SLIP-39 words are unique in their first four letters
    same_start = [w for w in WORDLIST if len(word) >= 4 and w.startswith(word[:4])]
    close = same_start or difflib.get_close_matches(word, WORDLIST, n=2, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(f"“{w}”" for w in close) + "?"


def _single_word_fix(indices: Sequence[int]) -> tuple[int, int] | None:
    """(position, word index) of the one word whose change makes the RS1024 checksum hold.

    The checksum is a code with distance 4: one wrong word is always located (and so is
    its right value); two or three wrong words are detected but not located. It is
    linear over GF(2), so each position's effect is found from ten basis vectors instead
    of trying all 1024 words at every position.
    """
    polymod = rs1024._polymod
    for custom in (CUSTOMIZATION_STRING_ORIG, CUSTOMIZATION_STRING_EXTENDABLE):
        values = [*custom, *indices]
        syndrome = polymod(values) ^ 1
        zeros = [0] * len(values)
        base = polymod(zeros)
        for pos in range(len(indices)):
            at = len(custom) + pos
            basis = []
            for bit in range(RADIX_BITS):
                zeros[at] = 1 << bit
                basis.append(polymod(zeros) ^ base)
            zeros[at] = 0
            effect = [0] * (1 << RADIX_BITS)
            for delta in range(1, 1 << RADIX_BITS):
                low = (delta & -delta).bit_length() - 1
                effect[delta] = effect[delta & (delta - 1)] ^ basis[low]
                if effect[delta] == syndrome:
                    fixed = list(indices)
                    fixed[pos] ^= delta
                    id_exp = (fixed[0] << RADIX_BITS) | fixed[1]
                    extendable = bool((id_exp >> ITERATION_EXP_LENGTH_BITS) & 1)
                    if extendable == (custom == CUSTOMIZATION_STRING_EXTENDABLE):
                        return pos, fixed[pos]
    return None


def check_share_words(text: str) -> ShareCheck:
    """Point at what is wrong with pasted share words: unknown words (with the likely
    right one), a missing or extra word, or the one word the checksum says is wrong."""
    words = [w.lower() for w in "".join(c if c.isalpha() else " " for c in text).split()]
    check = ShareCheck(hint="Compare the words with your card, correct them, and submit again.")
    if not words:
        check.title = "No words were found."
        check.problems.append("Paste or type all the words from your share card.")
        return check
    unknown = [(n, w) for n, w in enumerate(words, 1) if w not in WORD_INDEX_MAP]
    for n, word in unknown[:MAX_WORD_PROBLEMS]:  # a pasted page is not 1,000 typing mistakes
        check.problems.append(
            f"Word {n}, “{word}”, is not a word that can appear on a share card." + _suggest(word)
        )
    if len(unknown) > MAX_WORD_PROBLEMS:
        check.problems.append(f"And {len(unknown) - MAX_WORD_PROBLEMS} more words like these.")
    if check.problems:
        check.title = "Some words are not share words (probably a typing mistake)."
        return check
    if len(words) not in SHARE_WORDS:
        check.title = "The number of words is wrong."
        check.problems.append(
            f"You entered {len(words)} words: {word_count_problem(len(words))}; {SHARE_LENGTHS}."
        )
        return check
    try:
        shamir_mnemonic.Share.from_mnemonic(" ".join(words))
    except shamir_mnemonic.MnemonicError as exc:
        indices = [WORD_INDEX_MAP[w] for w in words]
        fix = _single_word_fix(indices)
        check.title = "The words do not add up: at least one is wrong."
        if fix is not None:
            pos, index = fix
            check.problems.append(
                f"Word {pos + 1}, “{words[pos]}”, is probably wrong: the share's built-in "
                f"check says it should be “{WORDLIST[index]}”. Look at word {pos + 1} on "
                "your card."
            )
        elif "checksum" in str(exc):
            check.problems.append(
                "More than one word is wrong, or two words are swapped (the share's "
                "built-in check does not match)."
            )
        else:
            # not the library's text: it quotes the share's first words
            check.problems.append("The words do not make a valid share card; one may be wrong.")
    return check
