"""Fuzz share parsing: mnemonic normalisation and commitment, paper cards and word files,
age share envelopes (binary, armored, and the JSON inside them), custodian codes, and
combining shares (``afterword open``, ``afterword custodian submit``, the server's
share endpoint)."""

from __future__ import annotations

import json

import pyrage
import shamir_mnemonic

from afterword.crypto.shares import (
    ShareEnvelope,
    combine_shares,
    commitment,
    credential_digest,
    normalize_mnemonic,
    parse_share_text,
    read_share,
)
from fuzz.common import FDP, expect_refusal, fixtures, mutated, run

WORDLIST: list[str] = list(shamir_mnemonic.wordlist.WORDLIST)


def mutate_words(fdp: FDP, mnemonic: str) -> str:
    """A mnemonic with words replaced, dropped, doubled, swapped or mangled."""
    words = mnemonic.split()
    for _ in range(fdp.ConsumeIntInRange(0, 3)):
        if not words:
            break
        i = fdp.ConsumeIntInRange(0, len(words) - 1)
        op = fdp.ConsumeIntInRange(0, 5)
        if op == 0:
            words[i] = fdp.PickValueInList(WORDLIST)
        elif op == 1:
            del words[i]
        elif op == 2:
            words.insert(i, words[i])
        elif op == 3:
            j = fdp.ConsumeIntInRange(0, len(words) - 1)
            words[i], words[j] = words[j], words[i]
        elif op == 4:
            words[i] = words[i].upper() + fdp.ConsumeUnicodeNoSurrogates(3)
        else:
            words = words[:i]
    return " ".join(words)


def one_input(data: bytes) -> None:
    fdp = FDP(data)
    fx = fixtures()
    mode = fdp.ConsumeIntInRange(0, 7)
    if mode == 0:  # words typed or pasted by a person
        text = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 600))
        expect_refusal(lambda: commitment(text))
    elif mode == 1:
        text = mutate_words(fdp, fdp.PickValueInList(fx.mnemonics))
        expect_refusal(lambda: normalize_mnemonic(text))
        expect_refusal(lambda: commitment(text))
    elif mode == 2:  # a paper card or word file, damaged
        card = fx.card
        i = fdp.ConsumeIntInRange(0, len(card))
        j = fdp.ConsumeIntInRange(i, len(card))
        text = card[:i] + fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40)) + card[j:]
        expect_refusal(lambda: parse_share_text(text, "card.txt"))
    elif mode == 3:  # any file passed as --share
        blob = fdp.ConsumeBytes(fdp.remaining_bytes())
        expect_refusal(lambda: read_share(blob, [fx.custodian_identity], "share"))
    elif mode == 4:  # an envelope that decrypts, holding hostile JSON
        if fdp.ConsumeBool():
            inner = json.dumps(mutated(fdp, fx.envelope)).encode()
        else:
            inner = fdp.ConsumeBytes(fdp.remaining_bytes())
        recipient = pyrage.x25519.Identity.from_str(fx.custodian_identity).to_public()
        blob = bytes(pyrage.encrypt(inner, [recipient]))
        expect_refusal(lambda: read_share(blob, [fx.custodian_identity], "envelope.age"))
    elif mode == 5:
        envelope = mutated(fdp, fx.envelope)
        expect_refusal(lambda: ShareEnvelope.from_json(envelope))
    elif mode == 6:  # K shares (or fewer, or foreign ones), some damaged
        chosen = [
            mutate_words(fdp, fdp.PickValueInList(fx.mnemonics))
            if fdp.ConsumeBool()
            else fdp.PickValueInList(fx.mnemonics)
            for _ in range(fdp.ConsumeIntInRange(0, 4))
        ]
        expect_refusal(lambda: combine_shares(chosen))
    else:
        code = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 80))
        expect_refusal(lambda: credential_digest(code))


if __name__ == "__main__":
    run(one_input)
