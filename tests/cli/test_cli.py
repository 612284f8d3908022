"""The CLI as a user runs it: the real console script in a subprocess, real files."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from afterword.crypto.keys import OwnerKey
from tests.conftest import PASSPHRASE, AgeKey, write_corpus
from tests.e2e.serve import AFTERWORD


def run(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "AFTERWORD_PASSPHRASE": PASSPHRASE, **(env or {})}
    return subprocess.run(
        [AFTERWORD, *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A refusal is exit status 1 with one line on stderr naming the problem; no traceback."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("afterword: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def walkthrough(tmp_path: Path, make_age_key: Callable[[str], AgeKey]) -> dict[str, object]:
    """The README's five-minute walkthrough, up to sealing."""
    corpus = write_corpus(tmp_path)
    lawyer = make_age_key("lawyer")
    out = ok(run("keygen", "owner.key", cwd=tmp_path))
    assert "Public key:   ed25519:" in out and "Fingerprint:" in out
    out = ok(
        run(
            "seal", "evidence", "-o", "bundle", "--owner-key", "owner.key",
            "--custodian", f"lawyer={lawyer.recipient}",
            "--custodian", "friend=paper", "--custodian", "sister=paper",
            "--threshold", "2", "--titles",
            "--conditions", "If I stop checking in, this is published.",
            "--interval", "7d", "--grace", "2d", "--waiting", "3d",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert "Sealed 5 document(s)" in out and "shares/friend.txt" in out
    assert "keeping them safe is your job" in out.lower()
    return {"dir": tmp_path, "corpus": corpus, "lawyer": lawyer}


def test_seal_warns_when_paper_cards_name_no_server(tmp_path: Path) -> None:
    """Issue 19, point 4: a card that says "Server: (none recorded)" leaves its holder
    nowhere to go; seal says so, and with --server the card names it."""
    ok(run("keygen", "owner.key", cwd=tmp_path))
    (tmp_path / "doc.txt").write_text("x")
    base = ["seal", "doc.txt", "--owner-key", "owner.key", "--custodian", "a=paper", "-k", "1"]
    bare = run(*base, "-o", "bare", cwd=tmp_path)
    ok(bare)
    assert "the paper cards name no server" in bare.stderr and "--server URL" in bare.stderr
    named = run(*base, "-o", "named", "--server", "https://switch.example", cwd=tmp_path)
    ok(named)
    assert "name no server" not in named.stderr
    assert "https://switch.example" in (tmp_path / "named" / "shares" / "a.txt").read_text()


def test_walkthrough_seal_open_teaser_verify(walkthrough: dict[str, object]) -> None:
    d = walkthrough["dir"]
    assert isinstance(d, Path)
    lawyer = walkthrough["lawyer"]
    assert isinstance(lawyer, AgeKey)
    notice = json.loads((d / "bundle" / "notice.json").read_text())
    assert notice["policy"] == {"interval": 604800, "grace": 172800, "waiting": 259200}
    assert sorted(notice["titles"]) == sorted(walkthrough["corpus"])  # type: ignore[call-overload]

    out = ok(
        run(
            "open", "bundle/dossier.age", "--share", "bundle/shares/lawyer.age",
            "--share", "bundle/shares/friend.txt", "--identity", lawyer.path, "-o", "opened",
            cwd=d,
        )
    )  # fmt: skip
    assert "Opened 5 document(s)" in out and "matches the signed manifest" in out
    corpus = walkthrough["corpus"]
    assert isinstance(corpus, dict)
    for rel, data in corpus.items():
        assert (d / "opened" / rel).read_bytes() == data

    out = ok(
        run("teaser", "bundle", "evidence/ledger.csv", "-o", "teaser.json", "--owner-key",
            "owner.key", cwd=d)
    )  # fmt: skip
    assert "document" in out
    out = ok(run("verify", "teaser.json", "--notice", "bundle/notice.json", cwd=d))
    assert out.startswith("OK: teaser.json is a valid afterword teaser.")
    assert "the document is in the dossier" in out
    assert "valid afterword notice" in ok(run("verify", "bundle/notice.json", cwd=d))
    assert "matches the notice" in ok(
        run("verify", "bundle/manifest.json", "--notice", "bundle/notice.json", cwd=d)
    )


def test_verify_exits_non_zero_on_tampering(walkthrough: dict[str, object]) -> None:
    d = walkthrough["dir"]
    assert isinstance(d, Path)
    notice = json.loads((d / "bundle" / "notice.json").read_text())
    notice["threshold"] = 1
    (d / "forged.json").write_text(json.dumps(notice))
    refused(run("verify", "forged.json", cwd=d), "signature does not verify")
    (d / "junk.json").write_text("{not json")
    refused(run("verify", "junk.json", cwd=d), "not valid JSON")
    refused(run("verify", "missing.json", cwd=d), "not found")
    (d / "other.json").write_text('{"hello": 1}')
    refused(run("verify", "other.json", cwd=d), "not an afterword file")


def test_open_refusals_are_one_line_and_leave_nothing(walkthrough: dict[str, object]) -> None:
    d = walkthrough["dir"]
    assert isinstance(d, Path)
    refused(
        run("open", "bundle/dossier.age", "--share", "bundle/shares/friend.txt", "-o", "o", cwd=d),
        "not enough shares: 1 distinct given, 2 needed",
    )
    refused(
        run("open", "bundle/dossier.age", "--share", "bundle/shares/lawyer.age",
            "--share", "bundle/shares/friend.txt", "-o", "o", cwd=d),
        "no identity was given", "--identity",
    )  # fmt: skip
    data = (d / "bundle" / "dossier.age").read_bytes()
    (d / "bundle" / "dossier.age").write_bytes(data[:-70000])
    refused(
        run("open", "bundle/dossier.age", "--share", "bundle/shares/sister.txt",
            "--share", "bundle/shares/friend.txt", "-o", "o", cwd=d),
        "truncated",
    )  # fmt: skip
    assert not any(p.name.startswith((".o", "o")) and p.name != "owner.key" for p in d.iterdir())


def test_open_hostile_dossier_is_a_one_line_refusal(walkthrough: dict[str, object]) -> None:
    """Issue 15 item 18: a sparse member and a deeply nested manifest, each refused with
    what went wrong, nothing written; before the fix the first wrote 32 MiB of zeros and
    the second ended in a RecursionError traceback."""
    from afterword.crypto.keys import load_owner_key
    from tests.crypto import hostile

    d = walkthrough["dir"]
    assert isinstance(d, Path) and isinstance(walkthrough["lawyer"], AgeKey)
    args = ["open", "bundle/dossier.age", "--share", "bundle/shares/lawyer.age",
            "--share", "bundle/shares/friend.txt", "--identity", walkthrough["lawyer"].path,
            "-o", "o"]  # fmt: skip
    owner = load_owner_key(d / "owner.key", PASSPHRASE)
    hostile.plant(d / "bundle", owner, hostile.gnu_sparse("documents/evidence/z") + hostile.end())
    refused(run(*args, cwd=d), "'documents/evidence/z', which is a GNU sparse file")
    (d / "bundle" / "manifest.json").write_bytes(b"[" * 50_000 + b"]" * 50_000)
    refused(run(*args, cwd=d), "manifest.json nests deeper than 64 levels")
    assert not any(p.name.startswith((".o", "o")) and p.name != "owner.key" for p in d.iterdir())


def test_seal_refusals(tmp_path: Path) -> None:
    ok(run("keygen", "owner.key", cwd=tmp_path))
    (tmp_path / "doc.txt").write_text("x")
    base = ["seal", "doc.txt", "-o", "b", "--owner-key", "owner.key"]
    refused(run(*base, "--custodian", "a=paper", "--threshold", "2", cwd=tmp_path), "threshold 2")
    refused(
        run(*base, "--custodian", "a=age1bogus", "--threshold", "1", cwd=tmp_path),
        "not a valid age recipient",
    )
    refused(
        run(*base, "--custodian", "a=paper", "-k", "1", "--interval", "soon", cwd=tmp_path),
        "cannot read the duration",
    )
    refused(
        run(*base, "--custodian", "a=paper", "-k", "1", cwd=tmp_path,
            env={"AFTERWORD_PASSPHRASE": "wrong"}),
        "wrong passphrase",
    )  # fmt: skip
    refused(
        run(*base, "--custodian", "a=paper", "-k", "1", "missing.txt", cwd=tmp_path),
        "does not exist",
    )
    assert not (tmp_path / "b").exists()
    refused(run("keygen", "owner.key", cwd=tmp_path), "already exists")


def test_no_passphrase_and_no_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AFTERWORD_PASSPHRASE"}
    result = subprocess.run(
        [AFTERWORD, "keygen", "k.key"], cwd=tmp_path, env=env, capture_output=True, text=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    refused(result, "AFTERWORD_PASSPHRASE")
    assert not (tmp_path / "k.key").exists()


def test_the_owner_flags_default_to_afterword_environment_variables(
    tmp_path: Path, owner_keyfile: Path
) -> None:
    """AFTERWORD_SERVER (several, separated by spaces), AFTERWORD_OWNER_KEY and
    AFTERWORD_SWITCH stand for --server, --owner-key and --switch: `afterword status` alone
    unlocks that key file and asks every server named (none runs here: each is named)."""
    env = {
        "AFTERWORD_SERVER": "http://127.0.0.1:9 http://127.0.0.1:19",
        "AFTERWORD_OWNER_KEY": str(owner_keyfile),
        "AFTERWORD_SWITCH": "A" * 32,
    }
    result = run("status", cwd=tmp_path, env=env)
    assert result.returncode == 1
    for url in ("http://127.0.0.1:9", "http://127.0.0.1:19"):
        assert f"{url}: cannot reach the server at {url}" in result.stderr, result.stderr
    shown = run("status", "--help", cwd=tmp_path, env={"COLUMNS": "80"}).stdout
    assert "AFTERWORD_SERVER" in shown and "AFTERWORD_SWITCH" in shown
    assert "AFTERWORD_OWNER_KEY" in shown


def test_operator_release_held_names_what_it_did(tmp_path: Path) -> None:
    """The command the breaker's alert tells the operator to run exists and reports."""
    out = ok(run("operator", "release-held", "--data-dir", tmp_path / "srv", cwd=tmp_path))
    assert out.strip() == "Released the hold on 0 switch(es)."
    assert (tmp_path / "srv" / "afterword.db").is_file()  # migrated on the way


def test_operator_unquarantine_puts_the_switch_back_on_the_schedule(
    tmp_path: Path, owner: OwnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command the quarantine mail tells the operator to run exists, schedules the
    switch again, and says plainly when there is nothing to put back."""
    import sqlalchemy as sa

    from afterword.server import Settings, build_engine
    from afterword.store.models import SwitchRow
    from tests.engine.test_isolation import arm, seal

    srv = tmp_path / "srv"
    monkeypatch.setenv("AFTERWORD_MIN_DURATION", "1s")  # the helper's policy waits 60 s
    engine = build_engine(Settings.load(data_dir=srv))
    switch = arm(engine, seal(engine, tmp_path, owner, "doc"))
    due = engine.next_due()
    assert due is not None
    with engine.store.connection() as c:  # as scheduler.quarantine leaves it: the typed column
        c.execute(sa.update(SwitchRow).where(SwitchRow.id == switch).values(quarantined_at=1))
    assert engine.next_due() is None  # out of the scheduler

    out = ok(run("operator", "unquarantine", switch, "--data-dir", srv, cwd=tmp_path))
    assert out.strip() == f"Switch {switch} is scheduled again."
    assert engine.next_due() == due  # due again, at the instant it was due before
    audit = engine.status(switch)["audit"]
    assert (audit[-1]["kind"], audit[-1]["detail"]) == ("unquarantined", "by the operator")

    again = run("operator", "unquarantine", switch, "--data-dir", srv, cwd=tmp_path)
    refused(again, f"switch {switch} is not quarantined", "nothing to do")
    unknown = run("operator", "unquarantine", "nosuchswitch", "--data-dir", srv, cwd=tmp_path)
    refused(unknown, "no switch nosuchswitch on this server", "copy the switch id")
    engine.store.close()
