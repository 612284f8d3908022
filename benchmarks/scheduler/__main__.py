"""``python -m benchmarks.scheduler``: parse the options, run each database, print the
tables and (with ``--write-docs``) fill them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import queue
import sys
import time
from pathlib import Path

import benchmarks.scheduler as package
from benchmarks._common import DEFAULT_WORKDIR, DOCS, PG_ADMIN
from benchmarks.scheduler import SCENARIOS, BenchError, log
from benchmarks.scheduler.database import bench_database
from benchmarks.scheduler.population import make_template
from benchmarks.scheduler.report import markdown, write_docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scheduler", description=(package.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--switches", type=int, default=1_000_000, help="armed switches")
    parser.add_argument("--quick", action="store_true", help="20,000 switches")
    parser.add_argument("--due", type=int, default=10_000, help="switches falling due")
    parser.add_argument("--window", type=int, default=60, help="seconds they fall due over")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--batch", type=int, default=500, help="Config.batch (500)")
    parser.add_argument("--breaker", type=int, default=None, help="Config.breaker_threshold")
    parser.add_argument("--poll", type=float, default=0.1, help="idle wait of the bench loop")
    parser.add_argument("--interval", type=float, default=1.0, help="shipped loop's sleep")
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument(
        "--outbox-history",
        type=float,
        default=0.1,
        help="delivered outbox messages per switch seeded with the population (0.1)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each scenario")
    parser.add_argument("--timeout", type=int, default=300, help="seconds past the window")
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--profile", action="store_true", help="cProfile worker 0")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    parser.add_argument("--write-docs", action="store_true", help=f"also write {DOCS}")
    args = parser.parse_args(argv)
    if args.quick:
        args.switches = 20_000
    if args.breaker is None:
        args.breaker = args.batch
    args.scenarios = list(dict.fromkeys(s for s in args.scenarios.split(",") if s))
    databases = [d for d in args.databases.split(",") if d]
    for s in args.scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s!r}; use {', '.join(SCENARIOS)}")
    for d in databases:
        if d not in ("postgresql", "sqlite"):
            parser.error(f"unknown database {d!r}; use postgresql, sqlite")
    if args.due > args.switches:
        parser.error("--due cannot exceed --switches")
    try:
        import afterword.engine  # noqa: F401 - fail early, not in the first worker
    except ImportError:
        print("error: run with the project's venv: .venv/bin/python -m benchmarks.scheduler")
        return 2
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        template = make_template()
        dbs = [bench_database(d, args, workdir, template) for d in databases]
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, queue.Empty) as exc:
        print(f"interrupted ({exc.__class__.__name__})", file=sys.stderr)
        return 130
    log(f"done in {time.perf_counter() - started:.0f} s")
    table = markdown(dbs, args)
    print(table, end="")
    if args.write_docs:
        write_docs(table, dbs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
