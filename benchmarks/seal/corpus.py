"""The corpus a size is measured on: exactly N GiB of random files (a few large, thousands
of small ones), made once (or reused with ``--keep``), its tar for age, and the warm-up read.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.seal import (
    CHUNK,
    CORPUS_VERSION,
    GIB,
    LARGE_MAX,
    MIB,
    PER_DIR,
    SMALL_MAX,
    SMALL_MIN,
    SMALL_SHARE,
    BenchError,
    log,
    run_checked,
)


def size_label(gib: float) -> str:
    return f"{gib:g}"


def plan_corpus(total: int) -> list[tuple[str, int]]:
    """(relative path, size) of every file; sizes add up to exactly ``total``."""
    rng = random.Random(f"afterword-bench-{total}")
    small_budget = total // SMALL_SHARE
    files: list[tuple[str, int]] = []
    small_total = 0
    index = 0
    while small_total + SMALL_MAX <= small_budget:
        size = rng.randint(SMALL_MIN, SMALL_MAX)
        folder = f"small/g{index // 1000:02d}/d{(index // PER_DIR) % 20:02d}"
        files.append((f"{folder}/doc-{index:05d}.bin", size))
        small_total += size
        index += 1
    large_total = total - small_total
    count = max(1, -(-large_total // LARGE_MAX))
    base, extra = divmod(large_total, count)
    for i in range(count):
        files.append((f"large/part-{i:02d}.bin", base + (1 if i < extra else 0)))
    assert sum(size for _, size in files) == total
    return files


@dataclass
class Corpus:
    gib: float
    root: Path  # the size's own folder under the work dir
    files: int = 0
    total: int = 0

    @property
    def folder(self) -> Path:
        return self.root / "corpus"

    @property
    def tar(self) -> Path:
        return self.root / "corpus.tar"

    @property
    def marker(self) -> Path:
        return self.root / "corpus.json"


def ensure_corpus(corpus: Corpus) -> None:
    total = round(corpus.gib * GIB)
    plan = plan_corpus(total)
    spec = {"version": CORPUS_VERSION, "bytes": total, "files": len(plan)}
    corpus.files, corpus.total = len(plan), total
    try:
        reusable = json.loads(corpus.marker.read_text()) == spec and corpus.folder.is_dir()
    except (OSError, ValueError):
        reusable = False
    if reusable:
        log(f"{size_label(corpus.gib)} GiB: reusing corpus in {corpus.folder}")
    else:
        corpus.root.mkdir(parents=True, exist_ok=True)
        need = int(total * 3.2)  # corpus + tar + one output, with margin
        free = shutil.disk_usage(corpus.root).free
        if free < need:
            raise BenchError(
                f"{size_label(corpus.gib)} GiB needs ~{need / GIB:.1f} GiB free in "
                f"{corpus.root}, only {free / GIB:.1f} GiB is; use a smaller --sizes or --workdir"
            )
        corpus.marker.unlink(missing_ok=True)
        corpus.tar.unlink(missing_ok=True)
        shutil.rmtree(corpus.folder, ignore_errors=True)
        log(
            f"{size_label(corpus.gib)} GiB: writing {len(plan)} random files "
            f"({total / MIB:.0f} MiB) to {corpus.folder}"
        )
        written, reported, started = 0, 0, time.perf_counter()
        for rel, size in plan:
            path = corpus.folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                left = size
                while left:
                    n = min(CHUNK, left)
                    f.write(os.urandom(n))
                    left -= n
            written += size
            if written - reported >= 512 * MIB:
                reported = written
                log(f"  {written / MIB:.0f} / {total / MIB:.0f} MiB")
        log(f"  done in {time.perf_counter() - started:.1f} s")
        corpus.marker.write_text(json.dumps(spec))
    if corpus.tar.exists() and corpus.tar.stat().st_mtime >= corpus.marker.stat().st_mtime:
        log(f"{size_label(corpus.gib)} GiB: reusing {corpus.tar}")
        return
    log(f"{size_label(corpus.gib)} GiB: tar -cf corpus.tar -C {corpus.root} corpus (untimed)")
    partial = corpus.root / "corpus.tar.partial"
    run_checked(["tar", "-cf", str(partial), "-C", str(corpus.root), "corpus"])
    partial.rename(corpus.tar)


def warm_up(corpus: Corpus) -> None:
    """Read the corpus and the tar once (untimed) so both tools start with a warm cache."""
    log(f"{size_label(corpus.gib)} GiB: warm-up read of the corpus and the tar")
    buf = bytearray(CHUNK)
    paths = [p for p in sorted(corpus.folder.rglob("*")) if p.is_file()]
    for path in [*paths, corpus.tar]:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass
