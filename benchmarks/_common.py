"""What the benchmark scripts share: the machine description for docs/benchmarks.md, and
rewriting only one script's section of that file (between its markers), or only the
figures in it (``fill_section``: the prose stays the page's own)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
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


def machine_lines(packages: Sequence[str] = ()) -> list[str]:
    """The lines that end a section: the machine (:func:`machine`) and its load."""
    info = machine(packages)
    return [
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['ram']}, {info['os']},",
        f"{info['python']}, {info['packages']}; afterword {info['afterword']};",
        f"{load_text()}.",
    ]


def replace_section(name: str, body: str) -> None:
    """Rewrite only this script's part of docs/benchmarks.md, between its markers (appended
    at the end the first time)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
    replaced = _replace_block(text, begin, end, body)
    if replaced is not None:
        text = replaced
    else:
        text = text.rstrip("\n") + "\n\n" + f"{begin}\n{body.strip()}\n{end}" + "\n"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text(text, encoding="utf-8")
    print(f"[bench] wrote the {name} section of {DOCS}", file=sys.stderr, flush=True)


def _replace_block(text: str, begin: str, end: str, body: str) -> str | None:
    """``text`` with what lies between the first ``begin`` and ``end`` markers replaced by
    ``body``; None if the markers are not there."""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    found = pattern.search(text)
    if found is None:
        return None
    return text[: found.start()] + f"{begin}\n{body.strip()}\n{end}" + text[found.end() :]


def fill_section(name: str, blocks: Mapping[str, str], values: Mapping[str, str]) -> None:
    """Fill in this script's figures in docs/benchmarks.md and leave its prose alone: each
    block between ``<!-- NAME-BLOCK:begin -->`` and ``<!-- NAME-BLOCK:end -->`` (lines of
    their own), each value between ``<!--NAME:VALUE-->`` and the next ``<!--/-->`` (inline,
    invisible when rendered). A marker the page lacks, or one the script does not fill, is
    an error: the prose and the script must name the same figures."""
    text = DOCS.read_text(encoding="utf-8")
    for block, body in blocks.items():
        begin, end = f"<!-- {name}-{block}:begin -->", f"<!-- {name}-{block}:end -->"
        replaced = _replace_block(text, begin, end, body)
        if replaced is None:
            raise RuntimeError(f"{DOCS} has no {begin} ... {end}")
        text = replaced
    inline = re.compile(rf"<!--{re.escape(name)}:([\w-]+)-->(.*?)<!--/-->")
    named = {m.group(1) for m in inline.finditer(text)}
    if named != set(values):
        raise RuntimeError(
            f"{DOCS} names the figures {sorted(named)}, the script fills {sorted(values)}"
        )
    text = inline.sub(lambda m: f"<!--{name}:{m.group(1)}-->{values[m.group(1)]}<!--/-->", text)
    DOCS.write_text(text, encoding="utf-8")
    print(f"[bench] wrote the {name} section of {DOCS}", file=sys.stderr, flush=True)


def results_block(module: str, table: str) -> str:
    """A results block for ``fill_section``: the command that produced the table (with this
    run's options), then the table."""
    argv = " ".join(sys.argv[1:])
    return f"Produced by `.venv/bin/python -m {module}{' ' if argv else ''}{argv}`.\n\n{table}"
