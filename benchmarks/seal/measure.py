"""Measuring: each run of either tool in a fresh process under GNU time (wall time, its own
peak RSS), and one size's untimed warm-up runs and alternating timed runs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.seal import MIB, BenchError, log
from benchmarks.seal.corpus import Corpus, size_label


@dataclass
class Run:
    seconds: float
    rss_mib: float
    user_seconds: float
    sys_seconds: float
    minor_faults: int
    stdout: str


def measure(time_bin: str, argv: list[str]) -> Run:
    """Run ``argv`` in a fresh process: wall time from spawn to exit and its own peak RSS.

    GNU time does the fork: Linux keeps the RSS high-water mark across ``exec``, so a
    process forked straight from this (larger) Python process would report our RSS as its.
    """
    with tempfile.TemporaryDirectory() as tmp:
        stats = Path(tmp) / "time"
        wrapped = [time_bin, "-f", "%M %U %S %R", "-o", str(stats), *argv]
        started = time.perf_counter()
        proc = subprocess.run(wrapped, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        seconds = time.perf_counter() - started
        lines = stats.read_text().strip().splitlines() if stats.exists() else []
    if proc.returncode != 0 or not lines:
        stderr = proc.stderr.decode(errors="replace").strip()
        raise BenchError(f"{argv[0]} exited with {proc.returncode}:\n{stderr}")
    rss_kib, user, system, faults = lines[-1].split()
    return Run(
        seconds,
        int(rss_kib) / 1024,
        float(user),
        float(system),
        int(faults),
        proc.stdout.decode(errors="replace"),
    )


@dataclass
class Result:
    gib: float
    plaintext: int
    documents: int
    age: list[Run] = field(default_factory=list)
    afterword: list[Run] = field(default_factory=list)


def median_seconds(runs: list[Run]) -> float:
    return statistics.median(r.seconds for r in runs)


def peak_rss(runs: list[Run]) -> float:
    return max(r.rss_mib for r in runs)


def throughput(plaintext: int, runs: list[Run]) -> float:
    return plaintext / MIB / median_seconds(runs)


def clear(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    os.sync()  # untimed: no dirty pages of this run are written back during the next one


def bench_size(
    corpus: Corpus, age: str, time_bin: str, recipients: list[str], repeat: int
) -> Result:
    result = Result(corpus.gib, corpus.total, corpus.files)
    age_out = corpus.root / "out.age"
    bundle = corpus.root / "bundle"
    clear(age_out)
    clear(bundle)
    age_argv = [age, "-r", recipients[0], "-o", str(age_out), str(corpus.tar)]
    seal_argv = [sys.executable, "-m", "benchmarks.seal", "--child-seal"]
    seal_argv += [str(corpus.folder), str(bundle)]
    for r in recipients:
        seal_argv += ["--recipient", r]
    label = f"{size_label(corpus.gib)} GiB"

    def tag(i: int) -> str:
        return f"{label} warm-up" if i < 0 else f"{label} run {i + 1}/{repeat}"

    def one_age(i: int) -> None:
        run = measure(time_bin, age_argv)
        out_size = age_out.stat().st_size
        if out_size < corpus.tar.stat().st_size:
            raise BenchError(f"age wrote only {out_size} bytes for a {corpus.tar} input")
        clear(age_out)
        if i >= 0:
            result.age.append(run)
        log(
            f"{tag(i)} age:       {run.seconds:7.2f} s  "
            f"{corpus.total / MIB / run.seconds:7.1f} MiB/s  rss {run.rss_mib:6.1f} MiB  "
            f"user {run.user_seconds:5.2f} s  sys {run.sys_seconds:5.2f} s  "
            f"faults {run.minor_faults}"
        )

    def one_afterword(i: int) -> None:
        run = measure(time_bin, seal_argv)
        report = json.loads(run.stdout.strip().splitlines()[-1])
        if report["documents"] != corpus.files or report["dossier_size"] < corpus.total:
            raise BenchError(f"afterword sealed something else than the corpus: {report}")
        if not (bundle / "dossier.age").is_file():
            raise BenchError(f"afterword left no {bundle / 'dossier.age'}")
        clear(bundle)
        if i >= 0:
            result.afterword.append(run)
        log(
            f"{tag(i)} afterword: {run.seconds:7.2f} s  "
            f"{corpus.total / MIB / run.seconds:7.1f} MiB/s  rss {run.rss_mib:6.1f} MiB  "
            f"user {run.user_seconds:5.2f} s  sys {run.sys_seconds:5.2f} s  "
            f"faults {run.minor_faults}  (imports {report['import_seconds']:.2f} s, "
            f"seal_bundle {report['seal_seconds']:.2f} s)"
        )

    # One untimed run of each first: the first write of an output this size can pay for
    # memory the machine (a VM especially) has not touched yet, whichever tool goes first.
    one_age(-1)
    one_afterword(-1)
    for i in range(repeat):
        order = (one_age, one_afterword) if i % 2 == 0 else (one_afterword, one_age)
        for step in order:
            step(i)
    return result
