"""``afterword keygen`` refuses a weak passphrase, saying why and what to do, and on a
terminal makes up a strong one when the passphrase is left empty (as ``age -p`` does).

The terminal is a real pseudo-terminal (the command's controlling tty), so the hidden
prompts are read the way a person's typing is."""

from __future__ import annotations

import os
import pty
import re
import select
import time
from pathlib import Path

from shamir_mnemonic.wordlist import WORD_INDEX_MAP

from afterword.crypto.keys import load_owner_key
from afterword.crypto.passphrase import made_up_passphrase, passphrase_weakness
from tests.cli.test_cli import ok, refused, run
from tests.e2e.serve import AFTERWORD

STRONG = "oboe tundra seventy glimmer"


class Terminal:
    """``afterword ARGS`` on a pseudo-terminal: wait for text, type lines."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERWORD_")}
        env |= {"TERM": "dumb", "COLUMNS": "100"}
        pid, fd = pty.fork()
        if pid == 0:  # the child: the terminal is its stdin, stdout, stderr and /dev/tty
            os.chdir(cwd)
            os.execve(AFTERWORD, [AFTERWORD, *args], env)
        self.pid, self.fd, self.seen = pid, fd, ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the command has ended
            return False
        self.seen += data.decode(errors="replace").replace("\r\n", "\n")
        return bool(data)

    def expect(self, text: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while text not in self.seen:
            assert time.monotonic() < end, f"never saw {text!r} in {self.seen!r}"
            assert self._read(0.2) or text in self.seen, f"ended before {text!r}: {self.seen!r}"

    def answer(self, prompt: str, line: str) -> None:
        """Type ``line`` at ``prompt``; only once getpass has written its space after the
        prompt is echo off and the terminal flushed, so typing earlier would be lost."""
        self.expect(prompt + " ")
        os.write(self.fd, line.encode() + b"\r")

    def finish(self, timeout: float = 60) -> int:
        end = time.monotonic() + timeout
        while self._read(0.2) and time.monotonic() < end:
            pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def test_a_weak_passphrase_from_a_script_is_refused_with_why_and_what_to_do(
    tmp_path: Path,
) -> None:
    line = refused(run("keygen", "owner.key", cwd=tmp_path, env={"AFTERWORD_PASSPHRASE": "a"}))
    assert line == (
        "afterword: error: the passphrase in AFTERWORD_PASSPHRASE is too weak (it would fall "
        "to about 12 guesses, and it must withstand 10 billion); use four or more words "
        "picked at random (not a saying, a name or a lyric); or unset AFTERWORD_PASSPHRASE "
        "and run keygen on a terminal, where a passphrase left empty is made up for you"
    )
    line = refused(
        run("keygen", "owner.key", cwd=tmp_path, env={"AFTERWORD_PASSPHRASE": "password"})
    )
    assert "too weak (this is a top-10 common password: it would fall to about 3 guesses" in line
    line = refused(
        run("keygen", "owner.key", cwd=tmp_path, env={"AFTERWORD_PASSPHRASE": "owner.key"})
    )
    assert "too weak" in line  # the keyfile's own name is among the first guesses
    assert not (tmp_path / "owner.key").exists()
    # the duress passphrase is held to the same rule
    weak_duress = {"AFTERWORD_PASSPHRASE": STRONG, "AFTERWORD_DURESS_PASSPHRASE": "Summer2024!"}
    line = refused(run("keygen", "owner.key", "--duress", cwd=tmp_path, env=weak_duress))
    assert (
        "the passphrase in AFTERWORD_DURESS_PASSPHRASE is too weak (this is similar to a " in line
    )
    assert not (tmp_path / "owner.key").exists()
    # a strong one from a script is taken as before
    assert "Public key:" in ok(
        run("keygen", "owner.key", cwd=tmp_path, env={"AFTERWORD_PASSPHRASE": STRONG})
    )
    load_owner_key(tmp_path / "owner.key", STRONG)


def test_on_a_terminal_a_weak_one_is_explained_and_an_empty_one_is_made_up(
    tmp_path: Path,
) -> None:
    term = Terminal("keygen", "owner.key", cwd=tmp_path)
    term.answer("New passphrase (leave empty to have a strong one made up):", "a")
    term.expect("That passphrase is too weak: it would fall to about 12 guesses, and it must")
    term.expect("To choose another, use four or more words picked at random")
    term.expect("or leave it empty to have one made up.")
    term.seen = term.seen[term.seen.rindex("made up.") :]
    term.answer("New passphrase (leave empty to have a strong one made up):", "")
    term.expect("Fingerprint:")
    assert term.finish() == 0
    said = re.search(
        r"write it down now, it is not shown again and cannot be recovered:\s+(\S+)", term.seen
    )
    assert said, term.seen
    made = said.group(1)
    words = made.split("-")
    assert len(words) == 10 and all(w in WORD_INDEX_MAP for w in words), made
    assert "Wrote owner.key" in term.seen
    load_owner_key(tmp_path / "owner.key", made)  # the passphrase shown is the keyfile's


def test_on_a_terminal_a_strong_one_is_typed_twice(tmp_path: Path) -> None:
    term = Terminal("keygen", "owner.key", cwd=tmp_path)
    term.answer("New passphrase (leave empty to have a strong one made up):", STRONG)
    term.answer("Repeat the passphrase:", STRONG + " typo")
    term.expect("The two entries differ; type the passphrase again.")
    term.seen = term.seen[term.seen.rindex("differ") :]
    term.answer("New passphrase (leave empty to have a strong one made up):", STRONG)
    term.answer("Repeat the passphrase:", STRONG)
    term.expect("Fingerprint:")
    assert term.finish() == 0
    assert "made up" not in term.seen.split("Repeat")[-1]
    load_owner_key(tmp_path / "owner.key", STRONG)


def test_made_up_passphrases_are_strong_and_never_repeat() -> None:
    made = {made_up_passphrase() for _ in range(20)}
    assert len(made) == 20
    assert all(passphrase_weakness(p) is None for p in made)
    assert passphrase_weakness("") == "it is empty"
    assert passphrase_weakness(STRONG) is None
    assert passphrase_weakness("x" * 500) is not None  # rated on its start, not refused
