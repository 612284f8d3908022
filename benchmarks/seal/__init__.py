"""Sealing throughput: afterword's ``seal_bundle`` against the stock ``age`` CLI, same run.

Usage::

    .venv/bin/python -m benchmarks.seal                      # 1 and 4 GiB, 5 repeats
    .venv/bin/python -m benchmarks.seal --quick              # 0.25 GiB only
    .venv/bin/python -m benchmarks.seal --sizes 1,4 --write-docs   # also docs/benchmarks.md

For every size it builds (or reuses, with ``--keep``) a corpus of incompressible random
files under the work dir: a few large files plus thousands of small ones in nested folders.
The reference is ``age -r RECIPIENT -o out.age corpus.tar`` on a tar of the same folder
made beforehand (untimed); afterword seals the folder itself, as ``afterword seal`` would.
Every measurement is a fresh process, timed from spawn to exit, with its own peak RSS
(GNU ``/usr/bin/time``). After one untimed run of each tool, runs alternate between the
tools and the median is reported.

Only the standard library and afterword are used. Progress goes to stderr; the Markdown
table goes to stdout. The package, by step: ``corpus`` (the random files and their tar),
``child`` (one afterword seal in its own process), ``measure`` (timing both tools, one size),
``report`` (the table, and the figures filled into docs/benchmarks.md, whose prose is its
own) and ``__main__`` (the options and the tools).
"""

from __future__ import annotations

import subprocess
import sys

SECTION = "seal"

MIB = 1 << 20
GIB = 1 << 30
CHUNK = 4 * MIB  # write size while generating the corpus
LARGE_MAX = 256 * MIB  # large files are at most this big
SMALL_SHARE = 8  # 1/8 of the corpus is small files
SMALL_MIN, SMALL_MAX = 4 * 1024, 64 * 1024
PER_DIR = 50  # small files per leaf folder
CORPUS_VERSION = 1

RSS_TARGET_MIB = 100.0
RATIO_TARGET = 0.8


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure with a message for the person running the benchmark."""


def run_checked(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout + proc.stderr
