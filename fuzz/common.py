"""What every fuzz harness shares: real documents to start from, mutations, the rule.

The rule: a parser of untrusted input may refuse it only with an
:class:`~afterword.errors.AfterwordError` (a message and a hint the user can act on).
Anything else escaping, or a hang, is a bug; ``run`` lets atheris report it as a crash.

Most of afterword's untrusted input is signed, so random bytes mostly die at the
signature. The harnesses therefore also take a real document, apply fuzzer-chosen
mutations to its fields and *sign it again* (with the same owner key, or the server key
for server documents): a hostile owner or a seized server can sign anything, so every
check behind the signature must hold against such documents too.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import json
import os
import shutil
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import atheris  # type: ignore[import-untyped]
import pyrage
from atheris import FuzzedDataProvider as FDP  # type: ignore[import-untyped]

from afterword.crypto.audit import chain, export_log
from afterword.crypto.bundle import Custodian, make_teaser, seal_bundle
from afterword.crypto.encoding import age_identity_from_secret, age_recipient_of
from afterword.crypto.keys import KeyPair, OwnerKey
from afterword.crypto.release import release_statement_body
from afterword.crypto.shares import ShareEnvelope, combine_shares
from afterword.crypto.signing import SERVER_KEY, Document, sign_document
from afterword.errors import AfterwordError

# --------------------------------------------------------------------------- fixtures


@dataclass(frozen=True)
class Fixtures:
    """A real sealed bundle with everything made from it, in a scratch folder."""

    root: Path
    owner: OwnerKey
    server: KeyPair
    custodian_identity: str  # the age identity custodian "alice" holds
    manifest: Document
    notice: Document
    teaser: Document
    envelope: dict[str, Any]  # alice's envelope, decrypted
    card: str  # bob's paper card
    mnemonics: list[str]
    release: Path  # a release folder: key, dossier.age, manifest.json, notice.json, statement.json
    statement: Document
    audit: Document


def scratch_dir() -> Path:
    """A scratch folder (harnesses write files per input): under ``AFTERWORD_FUZZ_SCRATCH``
    if set (the pytest runner passes its temporary folder), else in memory if the machine
    has it. libFuzzer ends the process without running Python's exit handlers, so whoever
    runs a harness by hand removes ``afterword-fuzz-*`` there."""
    base = os.environ.get("AFTERWORD_FUZZ_SCRATCH")
    if not base and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        base = "/dev/shm"
    return Path(tempfile.mkdtemp(prefix="afterword-fuzz-", dir=base or None))


def card_words(card: str) -> str:
    body = card.split("-----BEGIN AFTERWORD SHARE-----")[1].split("-----END")[0]
    return " ".join(w for w in body.split() if w.isalpha())


@functools.cache
def fixtures() -> Fixtures:
    root = scratch_dir()
    src = root / "src" / "evidence"
    (src / "deep").mkdir(parents=True)
    (src / "ledger.csv").write_bytes(b"date,amount\n2024-01-01,100\n")
    (src / "deep" / "notes.md").write_text("caf\u00e9 \u2014 na\u00efve\n", encoding="utf-8")
    (src / "empty.txt").write_bytes(b"")
    owner, server = OwnerKey.generate(), KeyPair.generate()
    alice = pyrage.x25519.Identity.generate()
    sealed = seal_bundle(
        [src],
        root / "bundle",
        owner,
        [
            Custodian("alice", str(alice.to_public())),
            Custodian("bob", "paper"),
            Custodian("carol", "paper"),
        ],
        2,
        titles=True,
        conditions="If I stop checking in, publish.",
    )
    bundle = sealed.bundle
    envelope = json.loads(pyrage.decrypt((bundle / "shares" / "alice.age").read_bytes(), [alice]))
    card = (bundle / "shares" / "bob.txt").read_text(encoding="utf-8")
    carol = (bundle / "shares" / "carol.txt").read_text(encoding="utf-8")
    words = [ShareEnvelope.from_json(envelope).mnemonic, card_words(card), card_words(carol)]
    identity = age_identity_from_secret(combine_shares(words[:2]))
    manifest, notice = sealed.manifest, sealed.notice
    teaser = make_teaser(bundle, src / "ledger.csv", owner)
    statement = sign_document(
        release_statement_body(
            switch=sealed.switch,
            cause="missed",
            triggered_at=1_800_000_000,
            released_at=1_800_000_600,
            custodians=["alice", "bob"],
            manifest=manifest,
            dossier_recipient=age_recipient_of(identity),
            server_url="https://afterword.example.org",
        ),
        server.signing,
        key_field=SERVER_KEY,
    )
    release = root / "release"
    release.mkdir()
    (release / "key").write_text(identity + "\n", encoding="ascii")
    shutil.copy(bundle / "dossier.age", release / "dossier.age")
    for name, doc in (("manifest", manifest), ("notice", notice), ("statement", statement)):
        (release / f"{name}.json").write_text(json.dumps(doc), encoding="utf-8")
    entries = chain(
        [
            {"at": 1_800_000_000 + i, "kind": kind, "detail": detail}
            for i, (kind, detail) in enumerate(
                [("armed", "policy 7d"), ("checked-in", "signature"), ("released", "missed")]
            )
        ],
        sealed.switch,
    )
    audit = export_log(sealed.switch, entries, server.signing)
    return Fixtures(
        root, owner, server, str(alice), manifest, notice, teaser, envelope, card, words,
        release, statement, audit,
    )  # fmt: skip


# --------------------------------------------------------------------------- mutations


_INTERESTING_INTS = (0, 1, -1, 2, 31, 32, 33, 63, 64, 2**31, 2**53, -(2**53), 2**63, 2**64)
_INTERESTING_STRS = ("", " ", "0", "-1", "a" * 64, "0" * 64, "ed25519:", "age1", "../x", "\x00")


def json_value(fdp: FDP, depth: int = 0) -> Any:
    """Any JSON value (and, rarely, a float JSON cannot hold), chosen by the fuzzer."""
    kind = fdp.ConsumeIntInRange(0, 10)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeIntInRange(-3, 70)
    if kind == 3:
        return fdp.PickValueInList(list(_INTERESTING_INTS))
    if kind == 4:
        return fdp.ConsumeInt(9)
    if kind == 5:
        return fdp.ConsumeFloat()
    if kind == 6:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 80))
    if kind == 7:
        return fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 40)).hex()
    if kind == 8:
        return fdp.PickValueInList(list(_INTERESTING_STRS))
    if kind == 9 and depth < 3:
        return [json_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if depth < 3:
        return {
            fdp.ConsumeUnicodeNoSurrogates(8): json_value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 3))
        }
    return None


def mutate_value(fdp: FDP, value: Any, depth: int = 0) -> Any:
    """``value`` with one fuzzer-chosen change somewhere inside it."""
    if isinstance(value, dict) and value and depth < 5:
        keys = sorted(value)
        key = fdp.PickValueInList(keys)
        op = fdp.ConsumeIntInRange(0, 3)
        if op == 0:
            value[key] = mutate_value(fdp, value[key], depth + 1)
        elif op == 1:
            del value[key]
        elif op == 2:
            value[key] = json_value(fdp)
        else:
            value[fdp.ConsumeUnicodeNoSurrogates(12)] = json_value(fdp)
        return value
    if isinstance(value, list) and value and depth < 5:
        op = fdp.ConsumeIntInRange(0, 4)
        i = fdp.ConsumeIntInRange(0, len(value) - 1)
        if op == 0:
            value[i] = mutate_value(fdp, value[i], depth + 1)
        elif op == 1:
            del value[i]
        elif op == 2:
            value.insert(i, json_value(fdp))
        elif op == 3:
            value.append(copy.deepcopy(value[i]))
        else:
            value[:] = value[:i]
        return value
    if isinstance(value, str) and fdp.ConsumeBool():
        op = fdp.ConsumeIntInRange(0, 3)
        i = fdp.ConsumeIntInRange(0, len(value))
        if op == 0:
            return value[:i]
        if op == 1:
            return value[:i] + fdp.ConsumeUnicodeNoSurrogates(4) + value[i + 1 :]
        if op == 2:
            return value.upper()
        return value + fdp.ConsumeUnicodeNoSurrogates(8)
    if isinstance(value, int) and not isinstance(value, bool) and fdp.ConsumeBool():
        return value + fdp.ConsumeIntInRange(-2, 2)
    return json_value(fdp)


def mutated(fdp: FDP, doc: Any) -> Any:
    """A deep copy of ``doc`` with one to four mutations."""
    doc = copy.deepcopy(doc)
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        doc = mutate_value(fdp, doc)
    return doc


def resign(doc: Any, key: KeyPair, key_field: str = "owner_key") -> Any:
    """``doc`` signed again by ``key`` (as a hostile owner or server would), if it can be;
    a value canonical JSON cannot hold (NaN, huge integers) leaves it as it is."""
    if not isinstance(doc, dict):
        return doc
    with contextlib.suppress(AfterwordError):
        return sign_document(doc, key.signing, key_field=key_field)
    return doc


# --------------------------------------------------------------------------- running


def expect_refusal(call: Callable[[], object]) -> None:
    """Run ``call``: success or an AfterwordError is fine, anything else escapes."""
    with contextlib.suppress(AfterwordError):
        call()


@contextlib.contextmanager
def written(data: bytes, name: str = "input.json") -> Iterator[Path]:
    """``data`` in a file of its own, for entry points that take paths (as the CLI's)."""
    folder = Path(tempfile.mkdtemp(dir=fixtures().root))
    path = folder / name
    path.write_bytes(data)
    try:
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


#: Whose code guides the fuzzer: afterword's, and the pure-Python parsers it builds on.
#: (Instrumenting everything loaded, FastAPI and pydantic included, takes minutes.)
INSTRUMENTED = ("afterword", "fuzz", "shamir_mnemonic", "bech32", "rfc8785")


def instrument() -> int:
    """Add coverage instrumentation to every loaded function of ``INSTRUMENTED`` modules."""
    count = 0
    for obj in gc.get_objects():
        if (
            isinstance(obj, types.FunctionType)
            and isinstance(getattr(obj, "__module__", None), str)
            and obj.__module__.split(".")[0] in INSTRUMENTED
        ):
            with contextlib.suppress(Exception):  # a function atheris cannot patch
                atheris.instrument_func(obj)
                count += 1
    return count


def run(one_input: Callable[[bytes], None]) -> None:
    """The harness's main: instrument afterword, then fuzz ``one_input`` with libFuzzer's
    command-line flags (``-runs=N``, ``-max_total_time=S``, a corpus folder...)."""
    fixtures()  # built before instrumentation: sealing is not what is under test
    print(f"INFO: instrumented {instrument()} functions", file=sys.stderr)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
