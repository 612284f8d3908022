"""``python -m benchmarks.seal``: parse the options, find the tools, measure each size,
print the table and (with ``--write-docs``) fill it into docs/benchmarks.md; also the entry
of the child process that seals.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import benchmarks.seal as package
from benchmarks._common import DEFAULT_WORKDIR, DOCS
from benchmarks.seal import BenchError, run_checked
from benchmarks.seal.child import child_seal
from benchmarks.seal.corpus import Corpus, ensure_corpus, size_label, warm_up
from benchmarks.seal.measure import bench_size
from benchmarks.seal.report import markdown, write_docs


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
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.seal", description=(package.__doc__ or "").split("\n\n")[0]
    )
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
            ".venv/bin/python -m benchmarks.seal",
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
