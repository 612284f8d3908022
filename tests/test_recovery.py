"""The recovery path of docs/recovery.md, run for real: stock tools only, no afterword code.

afterword is used once, through its CLI, to make a bundle. Everything after that is what a
custodian does without afterword: read the words off a paper card (parsed here the way a
person reads it) or open an age envelope with the ``age`` CLI, feed the words to the Trezor
reference tool ``shamir recover``, turn its hex into an age identity with the ``bech32``
one-liner, then ``age -d ... | tar xf -`` and ``sha256sum -c``.

The shell commands are taken from the fenced ``sh`` blocks of docs/recovery.md and run with
bash, so the page and this test cannot drift apart. The doc tells the reader to activate a
virtualenv holding ``shamir-mnemonic[cli]`` and ``bech32``; here that virtualenv is the
project's own (``PATH`` starts with its ``bin``, which is what ``activate`` does).

Missing tools (age, age-keygen, shamir, tar, sha256sum, bash) fail the test: CI installs them.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
AFTERWORD = VENV_BIN / "afterword"
DOC = Path(__file__).resolve().parents[1] / "docs" / "recovery.md"
CARD_BEGIN = "-----BEGIN AFTERWORD SHARE-----"
CARD_END = "-----END AFTERWORD SHARE-----"
MASTER_SECRET = re.compile(r"Your master secret is: ([0-9a-f]{64})\s*$", re.MULTILINE)
SYSTEM_TOOLS = ("age", "age-keygen", "tar", "sha256sum", "bash")
THRESHOLD = 2


def recovery_env() -> dict[str, str]:
    """The environment after ``source ~/afterword-recovery/bin/activate``."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("AFTERWORD_PASSPHRASE", None)
    return env


@pytest.fixture(scope="module")
def tools() -> dict[str, str]:
    """Every tool the doc uses; a missing one fails (never skips) with what to install."""
    path = recovery_env()["PATH"]
    found: dict[str, str] = {}
    missing = []
    for name in (*SYSTEM_TOOLS, "shamir", "python3"):
        where = shutil.which(name, path=path)
        if where is None:
            missing.append(name)
        else:
            found[name] = where
    if not AFTERWORD.exists():
        missing.append(f"afterword ({AFTERWORD})")
    if missing:
        pytest.fail(
            f"recovery tools missing: {', '.join(missing)}. Install Debian's `age` package "
            "(age, age-keygen) and `pip install 'shamir-mnemonic[cli]' bech32` in the venv "
            "(`make test` does both)",
            pytrace=False,
        )
    probe = run(["python3", "-c", "import bech32"], Path.cwd(), check=False)
    if probe.returncode != 0:
        pytest.fail(f"the bech32 package is not installed: {probe.stderr}", pytrace=False)
    return found


def run(
    args: list[str], cwd: Path, *, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=recovery_env(),
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{args!r} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


def sh(command: str, cwd: Path, *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run one command line from the doc, as a reader would in bash."""
    return run(["bash", "-o", "pipefail", "-c", command], cwd, stdin=stdin)


# --- the commands, read from the doc ---------------------------------------------------------


def doc_commands() -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def doc_command(marker: str) -> str:
    """The one command line of the doc that contains ``marker``."""
    lines = [line for line in doc_commands() if marker in line]
    assert len(lines) == 1, f"docs/recovery.md should have one `sh` command with {marker!r}"
    return lines[0]


ENVELOPE_CMD = "json.load(sys.stdin)"
RECOVER_CMD = "shamir recover"
KEY_CMD = "bech32_encode"
RECIPIENT_CMD = "age-keygen -y"
OPEN_CMD = "| tar xf -"
CHECK_CMD = "sha256sum -c"


def test_doc_states_every_command_once() -> None:
    assert doc_command(ENVELOPE_CMD) == (
        "age -d -i alice.key alice.age | "
        """python3 -c 'import json, sys; print(json.load(sys.stdin)["mnemonic"])'"""
    )
    assert doc_command(RECOVER_CMD) == "shamir recover"
    assert doc_command(KEY_CMD).endswith("' HEX > dossier-key.txt")
    assert doc_command(RECIPIENT_CMD) == "age-keygen -y dossier-key.txt"
    assert doc_command(OPEN_CMD) == "age -d -i dossier-key.txt dossier.age | tar xf -"
    assert doc_command(CHECK_CMD).startswith("python3 -c 'import json;")
    joined = "\n".join(doc_commands())
    assert "afterword " not in joined.replace("afterword-recovery", "")


# --- the bundle (made with the afterword CLI, the only use of afterword here) -----------------


@dataclass(frozen=True)
class Bundle:
    folder: Path
    corpus: dict[str, bytes]  # path under documents/ -> content
    alice_key: Path


def write_corpus(root: Path) -> dict[str, bytes]:
    rng = random.Random(20240101)
    files = {
        "evidence/readme.txt": b"Read me first.\n",
        "evidence/empty.txt": b"",
        "evidence/2019/letters/brief an M\u00fcller \u2013 \u65e5\u672c.txt": (
            "Gr\u00fc\u00dfe, na\u00efve caf\u00e9\n".encode()
        ),
        "evidence/2019/scans/page 1.bin": bytes(range(256)) * 4 + rng.randbytes(150_000),
        "evidence/deep/a/b/c/notes.md": b"# notes\r\nwindows line ends\r\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.fixture(scope="module")
def bundle(tools: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """2-of-3: alice holds an age envelope (her key made by age-keygen), bob and carol cards."""
    work = tmp_path_factory.mktemp("seal")
    corpus = write_corpus(work)
    run(["age-keygen", "-o", "alice.key"], work)
    alice = run(["age-keygen", "-y", "alice.key"], work).stdout.strip()
    env = {**os.environ, "AFTERWORD_PASSPHRASE": "owner passphrase"}
    seal = [str(AFTERWORD), "seal", "evidence", "-o", "B", "--owner-key", "owner.key"]
    seal += ["-k", str(THRESHOLD)]
    for label, recipient in (("alice", alice), ("bob", "paper"), ("carol", "paper")):
        seal += ["--custodian", f"{label}={recipient}"]
    for args in ([str(AFTERWORD), "keygen", "owner.key"], seal):
        made = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, f"{args[1]} failed: {made.stdout}{made.stderr}"
    folder = work / "B"
    for name in ("dossier.age", "manifest.json", "shares/alice.age"):
        assert (folder / name).is_file(), name
    return Bundle(folder, corpus, work / "alice.key")


# --- step 1: the words ------------------------------------------------------------------------


def read_card(card: str) -> str:
    """What a person does: take the numbered words between the markers, in number order."""
    assert card.count(CARD_BEGIN) == 1 and card.count(CARD_END) == 1
    body = card.split(CARD_BEGIN, 1)[1].split(CARD_END, 1)[0]
    numbered = [(int(n), w) for n, w in re.findall(r"(\d+)\.\s+([a-z]+)", body)]
    numbers = sorted(n for n, _ in numbered)
    assert numbers == list(range(1, len(numbers) + 1)), "card numbers must run 1, 2, 3 ..."
    assert len(numbers) in (20, 33), f"a SLIP-39 share has 20 or 33 words, not {len(numbers)}"
    assert not re.sub(r"(\d+)\.\s+([a-z]+)", "", body).strip(), "stray text on the card"
    return " ".join(w for _, w in sorted(numbered))


def open_envelope(bundle: Bundle, where: Path) -> str:
    """The custodian has her envelope and her own key in one folder and runs the doc's line."""
    custodian = where / "alice"
    custodian.mkdir()
    shutil.copy(bundle.folder / "shares" / "alice.age", custodian / "alice.age")
    shutil.copy(bundle.alice_key, custodian / "alice.key")
    words = sh(doc_command(ENVELOPE_CMD), custodian).stdout
    assert words.endswith("\n") and words.count("\n") == 1, words
    assert re.fullmatch(r"[a-z]+( [a-z]+){32}\n", words), words
    return words.strip()


def get_words(bundle: Bundle, label: str, where: Path) -> str:
    if label == "alice":
        return open_envelope(bundle, where)
    return read_card((bundle.folder / "shares" / f"{label}.txt").read_text(encoding="utf-8"))


# --- steps 2 to 5 -----------------------------------------------------------------------------


def shamir_recover(mnemonics: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`shamir recover`, typing one share per prompt (click reads stdin when it is no tty)."""
    return sh(doc_command(RECOVER_CMD), cwd, stdin="".join(m + "\n" for m in mnemonics))


def recover_hex(mnemonics: list[str], cwd: Path) -> str:
    out = shamir_recover(mnemonics, cwd).stdout
    found = MASTER_SECRET.findall(out)
    assert len(found) == 1, f"no master secret in shamir's output:\n{out}"
    assert "SUCCESS!" in out
    return found[0]


def write_key_file(hex_secret: str, cwd: Path) -> str:
    command = doc_command(KEY_CMD)
    assert len(re.findall(r"\bHEX\b", command)) == 1
    done = sh(re.sub(r"\bHEX\b", hex_secret, command), cwd)
    assert done.stdout == "" and done.stderr == ""
    identity = (cwd / "dossier-key.txt").read_text(encoding="ascii")
    assert re.fullmatch(r"AGE-SECRET-KEY-1[02-9AC-HJ-NP-Z]{58}\n", identity), identity
    return identity.strip()


def extracted_files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


@pytest.mark.parametrize(
    "labels",
    [("alice", "bob"), ("carol", "alice"), ("bob", "carol")],
    ids=["envelope+card", "card+envelope", "card+card"],
)
def test_documented_recovery_opens_the_dossier(
    bundle: Bundle, labels: tuple[str, str], tmp_path: Path
) -> None:
    # Working folder: the dossier and the public manifest, copied in as the doc says.
    work = tmp_path / "recovery"
    work.mkdir()
    shutil.copy(bundle.folder / "dossier.age", work)
    shutil.copy(bundle.folder / "manifest.json", work)

    # Step 1: the words of K shares.
    mnemonics = [get_words(bundle, label, tmp_path) for label in labels]
    assert len(set(mnemonics)) == THRESHOLD

    # Step 2: shamir recover.
    hex_secret = recover_hex(mnemonics, work)

    # Step 3: the bech32 one-liner, then the optional recipient check against manifest.json.
    write_key_file(hex_secret, work)
    recipient = sh(doc_command(RECIPIENT_CMD), work).stdout.strip()
    manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    assert recipient == manifest["dossier"]["recipient"]

    # Step 4: age -d | tar xf -, in a folder that holds nothing but the dossier and key files.
    opened = sh(doc_command(OPEN_CMD), work)
    assert opened.stdout == "" and opened.stderr == ""
    got = extracted_files(work)
    assert set(got) == {
        "dossier.age",
        "manifest.json",
        "dossier-key.txt",
        "afterword-manifest.json",
        *(f"documents/{rel}" for rel in bundle.corpus),
    }
    for rel, data in bundle.corpus.items():
        assert got[f"documents/{rel}"] == data, f"{rel} differs from the original"

    # Step 5: the sha256 check passes for every document.
    checked = sh(doc_command(CHECK_CMD), work).stdout
    assert sorted(checked.splitlines()) == sorted(f"documents/{rel}: OK" for rel in bundle.corpus)


def test_sha256_check_reports_a_changed_document(bundle: Bundle, tmp_path: Path) -> None:
    """Step 5 is worth doing: a document changed after opening shows up as FAILED."""
    words = [
        read_card((bundle.folder / "shares" / f"{c}.txt").read_text("utf-8"))
        for c in ("bob", "carol")
    ]
    write_key_file(recover_hex(words, tmp_path), tmp_path)
    shutil.copy(bundle.folder / "dossier.age", tmp_path)
    sh(doc_command(OPEN_CMD), tmp_path)
    (tmp_path / "documents" / "evidence" / "readme.txt").write_bytes(b"Read me first!\n")
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", doc_command(CHECK_CMD)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=recovery_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "documents/evidence/readme.txt: FAILED" in result.stdout
    assert "documents/evidence/empty.txt: OK" in result.stdout


@pytest.mark.parametrize("label", ["alice", "bob", "carol"])
def test_fewer_than_k_shares_give_no_secret(bundle: Bundle, label: str, tmp_path: Path) -> None:
    """One share, even typed twice, leaves shamir asking for more until input ends."""
    words = get_words(bundle, label, tmp_path)
    for typed in ([words], [words, words]):
        result = shamir_recover(typed, tmp_path)
        out = result.stdout + result.stderr
        assert "master secret" not in out.lower(), out
        assert not re.search(r"[0-9a-f]{64}", out), out
        assert f"1 of {THRESHOLD} shares needed" in out, out
    assert "Share already entered" in out


@pytest.mark.parametrize(
    "hex_secret",
    ["00" * 32, "ff" * 32, "0001" + "00" * 30, random.Random(7).randbytes(32).hex()],
)
def test_key_one_liner_matches_age_keygen_and_afterword(
    tools: dict[str, str], hex_secret: str, tmp_path: Path
) -> None:
    """The doc's one-liner gives the identity afterword derives, and age itself accepts it.

    This cross-check imports afterword; the recovery path above never does.
    """
    from afterword.crypto.encoding import age_identity_from_secret

    identity = write_key_file(hex_secret, tmp_path)
    assert identity == age_identity_from_secret(bytes.fromhex(hex_secret))
    recipient = sh(doc_command(RECIPIENT_CMD), tmp_path).stdout.strip()
    assert recipient.startswith("age1") and len(recipient) == 62
