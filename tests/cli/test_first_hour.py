"""Issue 19: the owner's first hour holds no surprise. ``arm`` runs the policy the notice
promises (or one that differs only on purpose) and refuses a switch with nowhere to remind
or release to; ``release-now`` asks for the switch id (or ``--yes``), and goes through the
waiting period unless ``--skip-waiting``. The CLI as a user runs it, against a real
``afterword serve``."""

from __future__ import annotations

import json
import os
import pty
import select
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from afterword import __version__
from tests.cli.test_cli import AFTERWORD, ok, refused, run
from tests.conftest import PASSPHRASE, write_corpus
from tests.delivery.servers import SmtpServer, smtp_server  # noqa: F401
from tests.e2e.serve import Server

NOWHERE = "http://127.0.0.1:9"  # nothing listens: a refusal must come before any request
TOLD = ("--contact", "mailto:me@example.org", "--recipient", "mailto:desk@example.org")


@pytest.fixture
def server(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Server]:  # noqa: F811
    (tmp_path / "srv").mkdir()
    srv = Server(tmp_path / "srv" / "data", None, smtp_server.url)
    srv.start()
    yield srv
    srv.stop()


def sealed(tmp_path: Path, *policy: str) -> Path:
    write_corpus(tmp_path)
    ok(run("keygen", "owner.key", cwd=tmp_path))
    ok(
        run(
            "seal", "evidence", "-o", "bundle", "--owner-key", "owner.key",
            "--custodian", "sister=paper", "--threshold", "1", *policy, cwd=tmp_path,
        )
    )  # fmt: skip
    return tmp_path / "bundle"


def arm(tmp_path: Path, server: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run("arm", "bundle", "--server", server, "--owner-key", "owner.key", *args, cwd=tmp_path)


def test_arm_refuses_a_policy_other_than_the_notices(tmp_path: Path) -> None:
    sealed(tmp_path, "--interval", "7d", "--grace", "2d", "--waiting", "3d")
    refused(
        arm(tmp_path, NOWHERE, "--interval", "1h", *TOLD),
        "the notice promises check-ins every 1 week; --interval 1h differs",
        "--differs-from-notice",
    )
    refused(
        arm(tmp_path, NOWHERE, "--grace", "1s", "--waiting", "3d", "--interval", "7d", *TOLD),
        "the notice promises 2 days of grace; --grace 1s differs",
    )
    line = refused(arm(tmp_path, NOWHERE, "--interval", "1h", "--grace", "1s", *TOLD))
    assert "every 1 week, 2 days of grace; --interval 1h, --grace 1s differ" in line
    # on purpose, it goes on (to the server, which is not there)
    line = refused(arm(tmp_path, NOWHERE, "--interval", "1h", "--differs-from-notice", *TOLD))
    assert "notice" not in line and "127.0.0.1:9" in line


def test_arm_refuses_nowhere_to_remind_or_release_unless_meant(tmp_path: Path) -> None:
    sealed(tmp_path, "--interval", "7d")
    refused(
        arm(tmp_path, NOWHERE, "--recipient", "mailto:desk@example.org"),
        "no --contact: your reminders would go nowhere",
        "--no-contact",
    )
    refused(
        arm(tmp_path, NOWHERE, "--contact", "mailto:me@example.org"),
        "no --recipient: a release would be sent to no one",
        "--no-recipients",
    )
    refused(
        arm(tmp_path, NOWHERE, "--no-contact", "--contact", "mailto:me@example.org"),
        "contradict",
    )
    line = refused(arm(tmp_path, NOWHERE, "--no-contact", "--no-recipients"))
    assert "127.0.0.1:9" in line  # meant: past the checks, on to the server


def test_arm_needs_an_interval_when_the_notice_promises_none(tmp_path: Path) -> None:
    sealed(tmp_path)
    refused(arm(tmp_path, NOWHERE, *TOLD), "promises no check-in policy", "--interval")


def owner_args(server: Server, switch: str) -> tuple[str, ...]:
    return ("--server", server.url, "--owner-key", "owner.key", "--switch", switch)


def typed(args: list[str], cwd: Path, answer: str) -> tuple[int, str]:
    """Run the CLI on a terminal (a pty), typing ``answer`` at its prompt: (status, output)."""
    main, child = pty.openpty()
    env = {**os.environ, "AFTERWORD_PASSPHRASE": PASSPHRASE}
    proc = subprocess.Popen(
        [AFTERWORD, *args], cwd=cwd, env=env, stdin=child, stdout=child, stderr=child
    )
    os.close(child)
    seen, sent = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not sent and b"Type the switch id" in seen:
            os.write(main, answer.encode() + b"\n")
            sent = True
        if proc.poll() is not None and not ready:
            break
    proc.wait(timeout=30)
    os.close(main)
    return proc.returncode, seen.decode(errors="replace")


def test_the_notices_policy_and_a_release_asked_for(tmp_path: Path, server: Server) -> None:
    sealed(tmp_path, "--interval", "7d", "--grace", "2d", "--waiting", "3d")
    armed = json.loads(ok(arm(tmp_path, server.url, *TOLD, "--json")))
    switch = armed["switch"]
    assert armed["policy"]["interval"] == 7 * 86400
    assert (armed["policy"]["grace"], armed["policy"]["waiting"]) == (2 * 86400, 3 * 86400)
    owner = owner_args(server, switch)

    # a switch id in capitals is the same switch
    shouted = owner_args(server, switch.upper())
    assert json.loads(ok(run("status", *shouted, "--json", cwd=tmp_path)))["switch"] == switch

    # no terminal, no --yes: refused before anything is sent
    refused(run("release-now", *owner, cwd=tmp_path), "no terminal", "pass --yes")
    status = json.loads(ok(run("status", *owner, "--json", cwd=tmp_path)))
    assert status["state"] == "armed"

    # a wrong id typed: nothing sent
    code, said = typed(["release-now", *owner], tmp_path, "not-the-id")
    assert code == 1 and "nothing was released" in said, said
    assert "waiting period" in said and "afterword abort" in said
    assert json.loads(ok(run("status", *owner, "--json", cwd=tmp_path)))["state"] == "armed"

    # the id, typed in capitals: the release waits, and an abort stops it
    code, said = typed(["release-now", *owner], tmp_path, switch.upper())
    assert code == 0, said
    status = json.loads(ok(run("status", *owner, "--json", cwd=tmp_path)))
    assert (status["state"], status["cause"]) == ("triggered", "owner")
    assert status["release_at"] >= time.time() + 3 * 86400 - 120
    ok(run("abort", *owner, cwd=tmp_path))
    assert json.loads(ok(run("status", *owner, "--json", cwd=tmp_path)))["state"] == "armed"

    # --skip-waiting says it cannot be stopped, and releases at once
    code, said = typed(["release-now", *owner, "--skip-waiting"], tmp_path, "no")
    assert code == 1 and "nothing can stop it afterwards" in said, said
    out = json.loads(
        ok(run("release-now", *owner, "--yes", "--skip-waiting", "--json", cwd=tmp_path))
    )
    assert (out["state"], out["cause"]) in {("releasing", "deliberate"), ("released", "deliberate")}


def test_the_small_ones(tmp_path: Path) -> None:
    """--version; a server address with no scheme; serve on a port already taken."""
    assert ok(run("--version", cwd=tmp_path)).strip() == f"afterword {__version__}"
    owner = ("--owner-key", "owner.key", "--switch", "abc")
    for command in (["status", *owner], ["release-now", "--yes", *owner], ["arm", "bundle"]):
        refused(
            run(*command, "--server", "127.0.0.1:8000", cwd=tmp_path),
            "'127.0.0.1:8000' has no scheme; add http:// or https://",
        )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--port", str(port), "--data-dir", tmp_path / "data", cwd=tmp_path)
    refused(result, f"port {port} on 127.0.0.1 is already in use", "--port")
    assert "serving" not in result.stdout
