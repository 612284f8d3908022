"""End to end, with real processes: ``afterword serve`` (SQLite and PostgreSQL), a real
SMTP server and a webhook receiver, and the CLI as a user types it.

seal (server + two custodians, 2 of 3) -> arm -> check in -> fall silent -> the server is
killed and restarted mid-way -> one human share -> release -> the recipients' mail ->
download the release, verify it, open it with the stock age CLI.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from afterword.client import Client
from afterword.crypto.keys import load_owner_key
from tests.cli.test_cli import ok, run
from tests.conftest import PASSPHRASE, AgeKey, require_tool, write_corpus
from tests.delivery.servers import SmtpServer, WebhookServer, text_of
from tests.e2e.serve import Server
from tests.owner_request import next_counter as request_number

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, smtp_server: SmtpServer
) -> Iterator[Server]:
    db = None
    if request.param == "postgresql":
        import sqlalchemy as sa

        db = request.getfixturevalue("pg_url")
        engine = sa.create_engine(db)
        with engine.begin() as c:
            c.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    (tmp_path / "srv").mkdir()
    srv = Server(tmp_path / "srv" / "data", db, smtp_server.url)
    srv.start()
    yield srv
    srv.stop()


def cli(*args: str | Path, cwd: Path) -> str:
    """The real console script, which must succeed: its standard output."""
    return ok(run(*args, cwd=cwd))


def wait_for_state(server: Server, cwd: Path, switch: str, state: str, timeout: float = 60) -> dict:
    """Poll the owner's status through the library client (the CLI would re-derive the
    keyfile's scrypt key on every call, too slow to catch a short phase)."""
    owner = load_owner_key(cwd / "owner.key", PASSPHRASE)
    deadline = time.monotonic() + timeout
    status: dict = {}
    with Client(server.url) as client:
        while time.monotonic() < deadline:
            status = client.owner(switch, owner, "status", request_number())
            if status["state"] == state:
                return status
            time.sleep(0.2)
    raise AssertionError(f"never reached {state}: {status.get('state')}\n{server.log()}")


def test_seal_arm_silence_release_open(
    server: Server,
    tmp_path: Path,
    smtp_server: SmtpServer,
    webhook_server: WebhookServer,
    make_age_key: Callable[[str], AgeKey],
) -> None:
    work = tmp_path / "owner"
    corpus = write_corpus(work)
    alice = make_age_key("alice")
    cli("keygen", "owner.key", cwd=work)
    recipient = httpx.get(server.url + "/.well-known/afterword").json()["recipient"]
    cli(
        "seal", "evidence", "-o", "bundle", "--owner-key", "owner.key",
        "--custodian", f"server={recipient}", "--custodian", f"alice={alice.recipient}",
        "--custodian", "carol=paper", "--threshold", "2", cwd=work,
    )  # fmt: skip
    armed = json.loads(
        cli(
            "arm", "bundle", "--server", server.url, "--owner-key", "owner.key",
            "--interval", "6s", "--grace", "2s", "--waiting", "8s", "--reminders", "3s",
            "--server-custodian", "server",
            "--recipient", "mailto:press@example.org", "--recipient", webhook_server.url + "/in",
            "--contact", "mailto:owner@example.org",
            "--custodian-contact", "alice=mailto:alice@example.org", "--json", cwd=work,
        )
    )  # fmt: skip
    switch = armed["switch"]
    assert armed["state"] == "armed"

    for _ in range(3):  # checking in keeps it armed
        time.sleep(1.5)
        out = cli("checkin", "--server", server.url, "--owner-key", "owner.key",
                  "--switch", switch, cwd=work)  # fmt: skip
        assert "armed" in out

    # silence; kill the server once the release is pending, start it again
    wait_for_state(server, work, switch, "triggered")
    server.kill()
    server.start()
    status = wait_for_state(server, work, switch, "releasing")
    assert status["shares"] == 1  # the server submitted its own share
    told = smtp_server.wait_for(1)
    assert any(m["To"] == "alice@example.org" for m in told) or smtp_server.wait_for(2)

    out = cli("custodian", "submit", "bundle/shares/alice.age", "--identity", alice.path,
              "--server", server.url, cwd=work)  # fmt: skip
    assert "state released" in out

    # the recipients hear of it exactly once, even after more worker passes
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        press = [m for m in smtp_server.messages if m["To"] == "press@example.org"]
        if press and webhook_server.requests:
            break
        time.sleep(0.2)
    time.sleep(2.5)
    press = [m for m in smtp_server.messages if m["To"] == "press@example.org"]
    assert len(press) == 1, [m["Subject"] for m in smtp_server.messages]
    assert f"{server.url}/r/{switch}" in text_of(press[0])
    assert len({r.headers["Idempotency-Key"] for r in webhook_server.requests}) == 1

    # download the release; verify it; open it with stock tools
    folder = tmp_path / "release"
    folder.mkdir()
    for name in ("key", "dossier.age", "manifest.json", "notice.json", "statement.json"):
        response = httpx.get(f"{server.url}/r/{switch}/{name}")
        response.raise_for_status()
        (folder / name).write_bytes(response.content)
    page = httpx.get(f"{server.url}/r/{switch}").text
    assert "missed" in page and "alice" in page
    server_key = httpx.get(server.url + "/.well-known/afterword").json()["server_key"]
    said = cli("verify", folder, "--server-key", server_key, cwd=work)
    assert said.startswith("OK:")
    age = require_tool("age")
    out_dir = tmp_path / "opened"
    out_dir.mkdir()
    subprocess.run(
        f"{age} -d -i {folder / 'key'} {folder / 'dossier.age'} | tar -x -C {out_dir}",
        shell=True,
        check=True,
    )
    for rel, data in corpus.items():
        assert (out_dir / "documents" / rel).read_bytes() == data

    # the owner's signed, hash-chained audit log, exported and checked offline
    exported = cli("audit", "--server", server.url, "--owner-key", "owner.key",
                   "--switch", switch, cwd=work)  # fmt: skip
    (work / "audit.json").write_text(exported)
    said = cli("verify", "audit.json", "--server-key", server_key, cwd=work)
    assert said.startswith("OK:") and "audit log" in said
    kinds = [e["kind"] for e in json.loads(exported)["entries"]]
    assert kinds[0] == "armed" and kinds.count("checked-in") == 3 and kinds[-1] == "released"

    log = server.log()
    assert "AGE-SECRET-KEY" not in log and "Traceback" not in log
