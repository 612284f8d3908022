"""Coercion resistance with real processes, as a user types it: ``afterword serve`` with a
real SMTP server, and the CLI with a keyfile that has a duress passphrase.

keygen --duress -> seal -> arm -> a protected person is added and checks in -> a check-in
with the duress passphrase prints what the real one prints -> custodians see "triggered
(duress)" -> a custodian votes from a paper card -> the release completes, while the owner's status
under the duress passphrase still reads "armed".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import AgeKey, write_corpus
from tests.delivery.servers import SmtpServer, text_of
from tests.e2e.serve import AFTERWORD, Server

pytestmark = pytest.mark.slow

REAL, DURESS = "the real passphrase", "the duress passphrase"


@pytest.fixture
def server(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[Server]:
    (tmp_path / "srv").mkdir()
    srv = Server(tmp_path / "srv" / "data", None, smtp_server.url)
    srv.start()
    yield srv
    srv.stop()


def cli(*args: str | Path, cwd: Path, passphrase: str = REAL) -> str:
    env = {
        **os.environ,
        "AFTERWORD_PASSPHRASE": passphrase,
        "AFTERWORD_DURESS_PASSPHRASE": DURESS,
    }
    result = subprocess.run(
        [AFTERWORD, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def without_times(text: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?( UTC)?", "TIME", text)


def test_duress_passphrase_canaries_and_votes_from_the_command_line(
    server: Server,
    tmp_path: Path,
    smtp_server: SmtpServer,
    make_age_key: Callable[[str], AgeKey],
) -> None:
    work = tmp_path / "owner"
    write_corpus(work)
    alice = make_age_key("alice")
    cli("keygen", "owner.key", "--duress", cwd=work)
    recipient = httpx.get(server.url + "/.well-known/afterword").json()["recipient"]
    cli(
        "seal", "evidence", "-o", "bundle", "--owner-key", "owner.key",
        "--custodian", f"server={recipient}", "--custodian", f"alice={alice.recipient}",
        "--custodian", "carol=paper", "--threshold", "2", cwd=work,
    )  # fmt: skip
    armed = json.loads(
        cli(
            "arm", "bundle", "--server", server.url, "--owner-key", "owner.key",
            "--interval", "1h", "--grace", "1h", "--waiting", "8s", "--cooling-off", "1h",
            "--server-custodian", "server", "--recipient", "mailto:press@example.org",
            "--contact", "mailto:owner@example.org",
            "--custodian-contact", "alice=mailto:alice@example.org", "--json", cwd=work,
        )
    )  # fmt: skip
    switch = armed["switch"]
    owner_args = ("--server", server.url, "--owner-key", "owner.key", "--switch", switch)

    added = json.loads(
        cli("canary", "add", *owner_args, "--name", "mother", "--interval", "1d",
            "--grace", "6h", "--on-miss", "alert", "--json", cwd=work)
    )  # fmt: skip
    assert added["url"] == f"{server.url}/canary/{added['token']}"
    said = cli("canary", "checkin", "--server", server.url, "--token", added["token"], cwd=work)
    assert "Thank you, mother" in said

    real = cli("checkin", *owner_args, cwd=work)
    forced = cli("checkin", *owner_args, cwd=work, passphrase=DURESS)
    assert "armed" in real and without_times(forced) == without_times(real)

    alice_says = json.loads(
        cli("custodian", "status", "bundle/shares/alice.age", "--identity", alice.path,
            "--server", server.url, "--json", cwd=work)
    )  # fmt: skip
    assert (alice_says["switch"], alice_says["state"]) == (switch, "triggered")
    assert alice_says["cause"] == "duress"

    voted = cli("custodian", "vote", "bundle/shares/carol.txt", "--server", server.url, cwd=work)
    assert "Your vote is counted" in voted

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = json.loads(
            cli("custodian", "status", "bundle/shares/carol.txt", "--server", server.url,
                "--json", cwd=work)
        )["state"]  # fmt: skip
        if state == "releasing":
            break
        time.sleep(1)
    assert state == "releasing", server.log()
    out = cli("custodian", "submit", "bundle/shares/alice.age", "--identity", alice.path,
              "--server", server.url, cwd=work)  # fmt: skip
    assert "state released" in out
    statement = httpx.get(f"{server.url}/r/{switch}/statement.json").json()
    assert statement["cause"] == "duress"

    shown = json.loads(cli("status", *owner_args, "--json", cwd=work, passphrase=DURESS))
    assert shown["state"] == "armed" and "duress" not in json.dumps(shown["audit"])
    truth = json.loads(cli("status", *owner_args, "--json", cwd=work))
    assert truth["state"] == "released"

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not [
        m for m in smtp_server.messages if m["To"] == "press@example.org"
    ]:
        time.sleep(0.2)
    press = [m for m in smtp_server.messages if m["To"] == "press@example.org"]
    assert len(press) == 1
    owner_mail = [m for m in smtp_server.messages if m["To"] == "owner@example.org"]
    assert not [m for m in owner_mail if "duress" in text_of(m).lower()]
    assert "Traceback" not in server.log()
