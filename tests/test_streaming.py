"""Sealing and opening stream: memory stays flat, and a terminal gets a progress bar.

Peak memory is measured on a child process (``ru_maxrss`` of RUSAGE_CHILDREN), not time:
this asserts a bound that does not depend on how busy the machine is.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import PASSPHRASE

pytestmark = pytest.mark.slow

AFTERWORD = str(Path(sys.executable).parent / "afterword")
SIZE = 384 * 1024 * 1024  # far above the 100 MiB bound, so buffering it all would show
LIMIT_KIB = 100 * 1024


def _peak_rss_kib_of(code: str) -> int:
    """Run ``code`` in a fresh interpreter; return that child's peak RSS in KiB."""
    script = (
        "import resource, subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


def test_seal_and_open_memory_is_flat(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    with open(docs / "big.bin", "wb") as f:  # random head and tail, sparse middle
        f.write(os.urandom(1 << 20))
        f.seek(SIZE - (1 << 20))
        f.write(os.urandom(1 << 20))
    for i in range(200):
        (docs / f"small-{i}.txt").write_bytes(os.urandom(i * 37))
    seal = textwrap.dedent(f"""
        from pathlib import Path
        from afterword.crypto.bundle import Custodian, seal_bundle
        from afterword.crypto.keys import OwnerKey
        seal_bundle([Path({str(docs)!r})], Path({str(tmp_path / "b")!r}), OwnerKey.generate(),
                    [Custodian("a", "paper"), Custodian("b", "paper")], 2)
    """)
    seal_peak = _peak_rss_kib_of(seal)
    assert (tmp_path / "b" / "dossier.age").stat().st_size > SIZE
    opener = textwrap.dedent(f"""
        from pathlib import Path
        from afterword.crypto.bundle import open_bundle
        b = Path({str(tmp_path / "b")!r})
        open_bundle(b / "dossier.age", [b / "shares" / "a.txt", b / "shares" / "b.txt"],
                    Path({str(tmp_path / "out")!r}))
    """)
    open_peak = _peak_rss_kib_of(opener)
    assert (tmp_path / "out" / "docs" / "big.bin").stat().st_size == SIZE
    with open(docs / "big.bin", "rb") as a, open(tmp_path / "out" / "docs" / "big.bin", "rb") as b:
        while chunk := a.read(1 << 22):
            assert chunk == b.read(1 << 22)
    assert seal_peak < LIMIT_KIB, f"sealing {SIZE >> 20} MiB peaked at {seal_peak >> 10} MiB"
    assert open_peak < LIMIT_KIB, f"opening {SIZE >> 20} MiB peaked at {open_peak >> 10} MiB"


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """On a terminal, seal shows bytes and rate on stderr; in a pipe it prints no bar."""
    subprocess.run(
        [AFTERWORD, "keygen", "owner.key"],
        cwd=tmp_path,
        env={**os.environ, "AFTERWORD_PASSPHRASE": PASSPHRASE},
        check=True,
        capture_output=True,
    )
    (tmp_path / "big.bin").write_bytes(os.urandom(64 << 20))
    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [AFTERWORD, "seal", "big.bin", "-o", "b", "--owner-key", "owner.key",
         "--custodian", "a=paper", "-k", "1"],
        cwd=tmp_path,
        env={**os.environ, "AFTERWORD_PASSPHRASE": PASSPHRASE, "COLUMNS": "120", "TERM": "xterm"},
        stdout=subprocess.PIPE,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(secondary)
    seen = b""
    while True:
        ready, _, _ = select.select([primary], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(primary, 65536)
        except OSError:
            break
        if not data:
            break
        seen += data
    stdout, _ = proc.communicate(timeout=120)
    os.close(primary)
    assert proc.returncode == 0
    text = seen.decode("utf-8", "replace")
    assert "Sealing" in text
    assert "MiB" in text and "/s" in text, text[-500:]
    assert b"Sealing" not in stdout  # the bar never pollutes stdout
