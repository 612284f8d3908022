"""Every atheris harness in fuzz/ runs for a bounded time and finds nothing.

Each runs in its own process (``python -m fuzz.NAME -max_total_time=S``), as a person
would run it; ``AFTERWORD_FUZZ_SECONDS`` sets S (``make fuzz`` runs them longer). A crash
fails the test with libFuzzer's report: the traceback, and the input that caused it,
saved under the test's temporary folder (replay it with ``python -m fuzz.NAME FILE``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.conftest import record

pytestmark = pytest.mark.slow  # minutes of real processes or fuzzing: not in test-fast

ROOT = Path(__file__).resolve().parents[2]
HARNESSES = ("audit", "durations", "manifest", "notice", "release", "shares", "teaser", "web")
SECONDS = int(os.environ.get("AFTERWORD_FUZZ_SECONDS", "4"))


def test_every_harness_is_listed() -> None:
    found = {p.stem for p in (ROOT / "fuzz").glob("*.py")} - {"__init__", "common"}
    assert found == set(HARNESSES)


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_finds_no_crash(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", f"fuzz.{name}",
            f"-max_total_time={SECONDS}",
            "-rss_limit_mb=2048",
            "-timeout=20",  # one input taking this long is a hang: reported as a crash
            f"-artifact_prefix={tmp_path}/",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "AFTERWORD_FUZZ_SCRATCH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=SECONDS + 120,
    )  # fmt: skip
    report = result.stderr[-6000:]
    assert result.returncode == 0, f"fuzz.{name} found a crash:\n{report}"
    done = re.search(r"Done (\d+) runs in", result.stderr)
    assert done, report
    runs = int(done.group(1))
    assert runs >= 100, f"fuzz.{name} ran only {runs} inputs in {SECONDS} s:\n{report}"
    record(name, runs)
    print(f"fuzz.{name}: {runs} executions in {SECONDS} s")
