"""Every command's --help on an 80-column terminal: no line is wider, every option name is
printed whole (never cut with "…" or wrapped mid-name), and every option's description is
there in full, wrapped below its name when the name is long."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from afterword.cli import app
from tests.e2e.serve import AFTERWORD


def commands() -> list[tuple[list[str], Any]]:
    """Every command and group of ``afterword``, with the words that reach it."""
    found: list[tuple[list[str], Any]] = []
    todo: list[tuple[list[str], Any]] = [([], typer.main.get_command(app))]
    while todo:
        words, command = todo.pop(0)
        found.append((words, command))
        # typer's own click: its groups are commands with sub-commands
        todo += [([*words, n], sub) for n, sub in getattr(command, "commands", {}).items()]
    return found


def flat(text: str) -> str:
    return " ".join(text.split())


ALL = commands()


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(words) for words, _ in ALL}
    assert {"arm", "keygen", "custodian submit", "operator unquarantine", "canary"} <= names
    assert len(names) >= 29


@pytest.mark.parametrize(
    ("words", "command"), ALL, ids=[" ".join(w) or "afterword" for w, _ in ALL]
)
def test_help_fits_80_columns_with_whole_option_names(words: list[str], command: Any) -> None:
    result = CliRunner().invoke(
        app, [*words, "--help"], env={"COLUMNS": "80"}, prog_name="afterword"
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"Usage: afterword {' '.join(words)}".rstrip())
    assert "…" not in out and "╭" not in out  # nothing cut, no boxed table
    for line in out.splitlines():
        assert len(line) <= 80, line
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        for name in (*param.opts, *param.secondary_opts):
            # the whole name, on one line, between spaces, commas, slashes or a line's ends
            assert re.search(rf"(?m)(^|[\s,/]){re.escape(name)}($|[\s,/])", out), (name, out)
        if param.help:
            assert flat(param.help) in flat(out), (param.help, out)


def test_arm_help_in_a_real_80_column_terminal() -> None:
    """The installed command, as a shell runs it: the longest option names stand whole,
    with their descriptions on the next line."""
    env = {**os.environ, "COLUMNS": "80", "TERM": "xterm"}
    out = subprocess.run(
        [AFTERWORD, "arm", "--help"], env=env, capture_output=True, text=True, timeout=60
    ).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    long = next(i for i, line in enumerate(lines) if "--alert-custodians" in line)
    assert lines[long].strip() == "--alert-custodians / --no-alert-custodians"
    assert lines[long + 1].strip().startswith("Tell custodians too when a never-seen client")
    assert re.search(r"^\s+--differs-from-notice\s+Arm with a policy", out, re.MULTILINE)
