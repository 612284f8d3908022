"""``python -m benchmarks.checkin``: parse the options, run each database, print the table
and (with ``--write-docs``) fill it into docs/benchmarks.md; also the entry of the two
child processes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import benchmarks.checkin as package
from benchmarks._common import DEFAULT_WORKDIR, DOCS, PG_ADMIN
from benchmarks.checkin import BenchError, log
from benchmarks.checkin.children import child_bare, child_load
from benchmarks.checkin.report import markdown, write_docs
from benchmarks.checkin.runs import bench_database
from benchmarks.checkin.servers import seal_owners


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.checkin", description=(package.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (16)")
    parser.add_argument("--procs", type=int, default=2, help="load generator processes (2)")
    parser.add_argument("--switches", type=int, default=256, help="armed switches (256)")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds (15)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before (3)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server (3)")
    parser.add_argument("--quick", action="store_true", help="5 s runs, 2 repeats, 64 switches")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--write-docs", action="store_true", help=f"also write {DOCS}")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="also profile the engine alone, each kind of check-in (cProfile, extra runs "
        "not in the table) into DIR/engine[-checkin]-DATABASE.txt and .prof",
    )
    parser.add_argument("--child-bare", nargs=2, metavar=("URL", "PORT"), help=argparse.SUPPRESS)
    parser.add_argument("--child-load", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_bare:
        return child_bare(args.child_bare[0], int(args.child_bare[1]))
    if args.child_load:
        return child_load(args.child_load)
    if args.quick:
        args.duration, args.repeat, args.switches = 5.0, 2, 64
    databases = [d for d in args.databases.split(",") if d]
    for d in databases:
        if d not in ("postgresql", "sqlite"):
            parser.error(f"unknown database {d!r}; use sqlite, postgresql")
    if args.clients < 1 or args.switches < args.clients:
        parser.error("need at least one client and at least one switch per client")
    exe = Path(sys.executable).with_name("afterword")
    if not exe.exists():
        print("error: run with the project's venv: .venv/bin/python -m benchmarks.checkin")
        return 2
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            started = time.perf_counter()
            owners = seal_owners(args.switches, Path(tmp))
            log(f"sealed {len(owners)} bundles in {time.perf_counter() - started:.1f} s")
            dbs = [bench_database(d, args, workdir, owners) for d in databases]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    table = markdown(dbs, args)
    print(table, end="")
    if args.write_docs:
        write_docs(table, dbs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
