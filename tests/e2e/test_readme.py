"""The README's command blocks, run as written (issue 19, point 3).

Every ``sh`` block of README.md that a new owner would type is run here, in order, in one
directory, against a real ``afterword serve``: the placeholders a reader fills in are
filled in the same way (an ``age1...`` recipient from ``age-keygen``, the server's own
recipient from its ``/.well-known/afterword``, ``SWITCH-ID`` from the bundle, the server's
address for ``http://127.0.0.1:8000``), and nothing else is changed. A README command
that stops working, or a file name that no longer matches what the command before wrote,
fails here. Lines whose arguments are elided with ``...`` (the duress example's ``arm
bundle ... --password``) illustrate flags and are not run; they are listed in
``ILLUSTRATIVE`` so a new one is a decision, not an accident.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSPHRASE, require_tool
from tests.delivery.servers import SmtpServer
from tests.e2e.serve import AFTERWORD, Server

README = Path(__file__).resolve().parents[2] / "README.md"
ILLUSTRATIVE = ("afterword arm bundle ... --password",)
DURESS = "a different and also long duress passphrase"
RUN = ("afterword ", "age-keygen ", "curl ", "AFTERWORD_")


def commands(text: str) -> list[tuple[int, str]]:
    """Each command of each ``sh`` block, continuation lines joined, comments dropped:
    (the block's number, the command)."""
    found = []
    for number, block in enumerate(re.findall(r"```sh\n(.*?)```", text, re.S)):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command.startswith(RUN) and not command.startswith(ILLUSTRATIVE):
                found.append((number, re.sub(r"\s+", " ", command)))
    return found


def test_the_readme_lists_commands_a_reader_runs() -> None:
    listed = [c for _, c in commands(README.read_text())]
    assert any(c.startswith("afterword keygen owner.key") for c in listed), listed
    assert any(c.startswith("afterword open ") for c in listed)
    assert any(c.startswith("afterword custodian submit ") for c in listed)
    assert "afterword arm bundle ... --password" in README.read_text()  # not run: elided


@pytest.mark.slow
def test_every_command_in_the_readme_runs_as_written(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    require_tool("age-keygen")
    require_tool("curl")
    work = tmp_path / "owner"
    (work / "evidence").mkdir(parents=True)
    (work / "evidence" / "ledger.csv").write_text("date,amount\n2026-01-02,1000000\n")
    (work / "evidence" / "photo.txt").write_text("a photograph, as text\n")
    (work / "letter.pdf").write_bytes(b"%PDF-1.4 a letter\n")
    (tmp_path / "srv").mkdir()
    server = Server(tmp_path / "srv" / "data", None, smtp_server.url)
    server.start()
    env = {**os.environ, "AFTERWORD_PASSPHRASE": PASSPHRASE}
    ran: list[str] = []
    try:
        known = httpx.get(server.url + "/.well-known/afterword").json()
        fills: dict[str, str] = {"http://127.0.0.1:8000": server.url}
        fills["age1...server..."] = str(known["recipient"])
        for _, command in commands(README.read_text()):
            if command.startswith("afterword custodian submit"):
                # the README runs it once the waiting period is over; here, without one
                run(f"afterword release-now --server {server.url} --owner-key owner.key "
                    f"--switch {fills['SWITCH-ID']} --yes --skip-waiting", work, env)  # fmt: skip
            line = command.replace("AFTERWORD_DURESS_PASSPHRASE=...", "")
            for placeholder, value in fills.items():
                line = line.replace(placeholder, value)
            line = line.replace("--switch ID", f"--switch {fills.get('SWITCH-ID', 'ID')}")
            line = line.replace("--server URL", f"--server {server.url}")
            extra = {"AFTERWORD_DURESS_PASSPHRASE": DURESS} if command != line else {}
            out = run(line, work, {**env, **extra})
            ran.append(command)
            if command.startswith("age-keygen -o lawyer-age.key"):
                fills["age1..."] = _recipient(work / "lawyer-age.key")
            if command.startswith("afterword seal") and " -o served " in command:
                manifest = json.loads((work / "served" / "manifest.json").read_text())
                fills["SWITCH-ID"] = str(manifest["switch"])
            if command.startswith("afterword verify ledger-teaser.json"):
                assert out.startswith("OK: ledger-teaser.json is a valid afterword teaser"), out
        opened = work / "opened"
        assert (opened / "evidence" / "ledger.csv").read_text().startswith("date,amount")
        assert (opened / "letter.pdf").read_bytes() == b"%PDF-1.4 a letter\n"
        status = run(
            f"afterword status --server {server.url} --owner-key owner.key "
            f"--switch {fills['SWITCH-ID']} --json", work, env,
        )  # fmt: skip
        assert json.loads(status)["state"] == "released", status
    finally:
        server.stop()
    assert len(ran) >= 12, ran


def run(line: str, cwd: Path, env: dict[str, str]) -> str:
    args = shlex.split(line)
    assignments = {}
    while args and re.fullmatch(r"[A-Z_]+=.*", args[0]):
        name, _, value = args.pop(0).partition("=")
        assignments[name] = value
    if args[0] == "afterword":
        args[0] = AFTERWORD
    result = subprocess.run(
        args, cwd=cwd, env={**env, **assignments}, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"README command failed: {line}\n{result.stderr}"
    return result.stdout


def _recipient(identity: Path) -> str:
    match = re.search(r"public key: (age1\w+)", identity.read_text())
    assert match, identity.read_text()
    return match.group(1)
