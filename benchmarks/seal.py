"""Sealing throughput: afterword's ``seal_bundle`` against the stock ``age`` CLI, same run.

Usage::

    .venv/bin/python benchmarks/seal.py                      # 1 and 4 GiB, 3 repeats
    .venv/bin/python benchmarks/seal.py --quick              # 0.25 GiB only
    .venv/bin/python benchmarks/seal.py --sizes 1,4 --write-docs   # also docs/benchmarks.md

For every size it builds (or reuses, with ``--keep``) a corpus of incompressible random
files under the work dir: a few large files plus thousands of small ones in nested folders.
The reference is ``age -r RECIPIENT -o out.age corpus.tar`` on a tar of the same folder
made beforehand (untimed); afterword seals the folder itself, as ``afterword seal`` would.
Every measurement is a fresh process, timed from spawn to exit, with its own peak RSS
(GNU ``/usr/bin/time``). After one untimed run of each tool, runs alternate between the
tools and the median is reported.

Only the standard library and afterword are used. Progress goes to stderr; the Markdown
table goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import DEFAULT_WORKDIR, DOCS, machine, replace_section

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


# ---------------------------------------------------------------------------------------
# The child: one afterword seal in a fresh process


def child_seal(src: Path, dst: Path, recipients: list[str]) -> int:
    started = time.perf_counter()
    from afterword.crypto.bundle import Custodian, seal_bundle
    from afterword.crypto.keys import OwnerKey

    imported = time.perf_counter()
    owner = OwnerKey.generate()
    custodians = [
        Custodian("a", recipients[0]),
        Custodian("b", "paper"),
        Custodian("c", recipients[-1]),
    ]
    sealing = time.perf_counter()
    result = seal_bundle([src], dst, owner, custodians, 2)
    done = time.perf_counter()
    report = {
        "documents": result.documents,
        "dossier_size": result.size,
        "import_seconds": imported - started,
        "seal_seconds": done - sealing,
    }
    print(json.dumps(report), flush=True)
    return 0


# ---------------------------------------------------------------------------------------
# Corpus


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


# ---------------------------------------------------------------------------------------
# Measuring


def run_checked(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout + proc.stderr


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
    seal_argv = [sys.executable, str(Path(__file__).resolve()), "--child-seal"]
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


# ---------------------------------------------------------------------------------------
# Report


def markdown(results: list[Result], age_version: str) -> str:
    lines = [
        "| size GiB | tool | median s | MiB/s | peak RSS MiB |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in results:
        for tool, runs in (
            (f"age {age_version} (CLI, tar file)", r.age),
            ("afterword", r.afterword),
        ):
            lines.append(
                f"| {size_label(r.gib)} | {tool} | {median_seconds(runs):.2f} | "
                f"{throughput(r.plaintext, runs):.1f} | {peak_rss(runs):.1f} |"
            )
    lines.append("")
    for r in results:
        ratio = throughput(r.plaintext, r.afterword) / throughput(r.plaintext, r.age)
        rss = peak_rss(r.afterword)
        ratio_ok = "met" if ratio >= RATIO_TARGET else "**missed**"
        rss_ok = "met" if rss < RSS_TARGET_MIB else "**missed**"
        age_s = ", ".join(f"{run.seconds:.2f}" for run in r.age)
        aw_s = ", ".join(f"{run.seconds:.2f}" for run in r.afterword)
        lines.append(
            f"- **{size_label(r.gib)} GiB** ({r.documents} files): afterword / age throughput "
            f"= **{ratio:.2f}x** (target >= {RATIO_TARGET}x: {ratio_ok}); afterword peak RSS "
            f"**{rss:.1f} MiB** (target < {RSS_TARGET_MIB:.0f} MiB: {rss_ok}). "
            f"Runs (s): age {age_s}; afterword {aw_s}."
        )
    return "\n".join(lines) + "\n"


def write_docs(table: str, results: list[Result], age_version: str, repeat: int) -> None:
    m = machine()
    sizes = ",".join(size_label(r.gib) for r in results)
    text = f"""## Sealing throughput

How fast afterword seals a folder of documents into a bundle, next to the stock `age`
CLI encrypting a tar of the same folder, measured in the same run on the same machine.
The targets: afterword reaches at least {RATIO_TARGET}x of age's throughput, and its peak
memory (RSS) stays under {RSS_TARGET_MIB:.0f} MiB at every size.

### Machine

- CPU: {m["cores"]} cores, {m["cpu"]}
- RAM: {m["ram"]}
- OS: {m["os"]}
- Python: {m["python"]}
- age: {age_version} (Debian package, `/usr/bin/age`)
- afterword: {m["afterword"]}
- Date: {datetime.now(UTC).strftime("%Y-%m-%d")}

### Method

- Corpus per size: exactly N GiB of incompressible random bytes (`os.urandom`), 1/8 of it
  in thousands of small files (4 to 64 KiB, nested two folders deep, {PER_DIR} per folder) and
  the rest in a few large files of at most {LARGE_MAX // MIB} MiB each; generated once under
  `benchmarks/_work/` on the same disk as the outputs.
- Reference: `tar -cf corpus.tar -C <dir> corpus` is made beforehand (not timed), then
  `age -r <recipient> -o out.age corpus.tar` is timed: the CLI reads the tar file and writes
  to the same disk.
- afterword: `seal_bundle([corpus], bundle, owner, custodians, 2)` with three custodians
  (two age recipients, one paper) in a fresh `python` process
  (`benchmarks/seal.py --child-seal SRC DST`); the timed span includes interpreter start-up,
  imports, key generation, the dossier, shares, manifest and notice.
- Every measurement is its own process, timed from spawn to exit; peak RSS is that process's
  maximum resident set as GNU `/usr/bin/time -f %M` reports it. The page cache is not
  dropped; instead the corpus and the tar are read once (untimed) before measuring so both
  tools start warm, and each tool runs once untimed (in a VM the first write of an output
  that size pays for guest memory the host has not backed yet, whichever tool goes first).
  Outputs are deleted and `sync` runs (untimed) after every measurement.
- {repeat} repeats per size, alternating which tool goes first; the table shows the median
  time. MiB/s is plaintext bytes (the corpus size, without tar headers) per second.

### Results

{table}
### Where the time goes

afterword does more than `age`: it reads thousands of separate files (the reference reads
one tar made beforehand, untimed), hashes every document with SHA-256 for the Merkle
manifest, frames the tar itself, and makes the shares, manifest and notice. On two cores
that work is split over two threads: one reads and hashes documents into pooled 1 MiB
buffers (many small documents per buffer), the other frames, encrypts (age STREAM via
`cryptography`'s ChaCha20-Poly1305, which releases the GIL) and writes.

History: the first version reached 0.45x. Profiling showed two SHA-256 passes (documents,
then the whole ciphertext for the manifest) plus buffer copies; two hash passes on two
cores cannot reach 0.8x, so the manifest now commits to the dossier's size and the SHA-256
of its age header and payload nonce instead of hashing every ciphertext byte (a changed
payload byte is still refused by age's authentication when opening, and every document by
the signed Merkle manifest). Peak memory grows slowly with the number of documents (about
0.6 KiB each for their commitments): 20,000 small files peaked at 59 MiB.

### Rerun

```sh
make bench                     # all three benchmarks; this one at 1 and 4 GiB
.venv/bin/python benchmarks/seal.py --sizes {sizes} --write-docs
.venv/bin/python benchmarks/seal.py --quick   # 0.25 GiB, a quick check; prints the table only
```

Options: `--repeat N` (default 5), `--workdir DIR` (default `benchmarks/_work/`, git-ignored),
`--keep` (keep the corpus to reuse in the next run; it is deleted otherwise).
"""
    replace_section("seal", text)


# ---------------------------------------------------------------------------------------
# Main


def parse_sizes(text: str) -> list[float]:
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 1,4") from exc
    if not sizes or any(s <= 0 for s in sizes):
        raise argparse.ArgumentTypeError("sizes must be positive GiB values, e.g. 1,4")
    return sizes


def tools() -> tuple[str, str, str, str]:
    age = shutil.which("age")
    keygen = shutil.which("age-keygen")
    if not age or not keygen:
        raise BenchError(
            "the age CLI (age and age-keygen) is not on PATH; it is the reference this "
            "benchmark compares against: run `make tools` or `apt-get install age`"
        )
    if not shutil.which("tar"):
        raise BenchError("tar is not on PATH; it makes the reference input for age")
    time_bin = "/usr/bin/time"
    if not os.access(time_bin, os.X_OK):
        raise BenchError(
            "GNU time (/usr/bin/time) is missing; it measures each run's own peak RSS: "
            "`apt-get install time`"
        )
    version = run_checked([age, "--version"]).strip()
    return age, keygen, time_bin, version


def new_recipient(keygen: str) -> str:
    text = run_checked([keygen])
    for line in text.splitlines():
        if "public key:" in line.lower():
            return line.split(":", 1)[1].strip()
    raise BenchError(f"no public key in the output of {keygen}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=parse_sizes, default=[1.0, 4.0], help="GiB, comma-separated (1,4)"
    )
    parser.add_argument("--quick", action="store_true", help="0.25 GiB only")
    parser.add_argument("--repeat", type=int, default=5, help="runs per tool and size (5)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="scratch folder")
    parser.add_argument("--keep", action="store_true", help="keep the corpus for the next run")
    parser.add_argument("--write-docs", action="store_true", help=f"also write {DOCS}")
    parser.add_argument("--child-seal", nargs=2, metavar=("SRC", "DST"), help=argparse.SUPPRESS)
    parser.add_argument("--recipient", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_seal:
        return child_seal(Path(args.child_seal[0]), Path(args.child_seal[1]), args.recipient)

    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    sizes = [0.25] if args.quick else args.sizes
    try:
        import afterword.crypto.bundle  # noqa: F401 - fail early, not in the first child
    except ImportError:
        print(
            "error: afterword is not importable; run with the project's venv: "
            ".venv/bin/python benchmarks/seal.py",
            file=sys.stderr,
        )
        return 2

    workdir: Path = args.workdir.resolve()
    roots = [workdir / f"{size_label(gib)}gib" for gib in sizes]
    try:
        age, keygen, time_bin, age_version = tools()
        age_version = age_version.removeprefix("v")
        recipients = [new_recipient(keygen), new_recipient(keygen)]
        results = []
        for gib, root in zip(sizes, roots, strict=True):
            corpus = Corpus(gib, root)
            ensure_corpus(corpus)
            warm_up(corpus)
            results.append(bench_size(corpus, age, time_bin, recipients, args.repeat))
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for root in roots:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
            else:  # keep the corpus and its tar, never the outputs
                shutil.rmtree(root / "bundle", ignore_errors=True)
                (root / "out.age").unlink(missing_ok=True)
        if not args.keep and workdir.is_dir() and not any(workdir.iterdir()):
            workdir.rmdir()

    table = markdown(results, age_version)
    print(table, end="")
    if args.write_docs:
        write_docs(table, results, age_version, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
