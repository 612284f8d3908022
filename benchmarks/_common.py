"""What the benchmark scripts share: the machine description for docs/benchmarks.md, and
rewriting only one script's section of that file (between its markers)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_WORKDIR = HERE / "_work"
DOCS = ROOT / "docs" / "benchmarks.md"
PG_ADMIN = os.environ.get("AFTERWORD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def machine(packages: Sequence[str] = ()) -> dict[str, str]:
    """Cores, CPU, RAM, OS, Python, the given packages' versions, and which afterword."""
    cpu, ram = platform.processor() or "?", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    versions = []
    for name in packages:
        with contextlib.suppress(Exception):
            versions.append(f"{name} {version(name)}")
    info = {
        "cores": str(os.cpu_count() or "?"),
        "cpu": cpu,
        "ram": ram,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
        "packages": ", ".join(versions),
    }
    afterword = "?"
    with contextlib.suppress(Exception):
        afterword = version("afterword")
    import afterword as package

    source = Path(package.__file__).resolve().parents[1]
    if source != ROOT / "src":
        # run from a clean export (PYTHONPATH) while the checkout is being edited
        marker = source.parent / "COMMIT"
        commit = marker.read_text().strip()[:7] if marker.exists() else "?"
        return {**info, "afterword": f"{afterword} (commit {commit}, a clean export)"}
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True
        ).stdout.strip()
        afterword += f" (commit {head}{', with uncommitted changes in src/' if dirty else ''})"
    return {**info, "afterword": afterword}


LOAD_AT_START = os.getloadavg()


def load_text() -> str:
    """The machine's load averages (1, 5, 15 min) when the script started and now: the
    cores are shared, and other people's work shows here."""
    start = "/".join(f"{x:.1f}" for x in LOAD_AT_START)
    end = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return f"load average (1/5/15 min) {start} at the start, {end} at the end"


def replace_section(name: str, body: str) -> None:
    """Rewrite only this script's part of docs/benchmarks.md, between its markers (appended
    at the end the first time)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")
    print(f"[bench] wrote the {name} section of {DOCS}", file=sys.stderr, flush=True)
