"""Scheduler at scale: a large armed population, then a crowd falling due within one minute.

Usage::

    .venv/bin/python -m benchmarks.scheduler                  # 1,000,000 switches
    .venv/bin/python -m benchmarks.scheduler --quick          # 20,000 switches
    .venv/bin/python -m benchmarks.scheduler --write-docs     # also docs/benchmarks.md

For each database (PostgreSQL: a fresh database ``afterword_bench_<random>``, created and
dropped here; SQLite: a file under ``benchmarks/_work/``) it bulk-inserts N armed switches
(rows built with ``afterword.switch.machine.arm`` and ``afterword.switch.codec``, each with
its ``armed`` audit entry) whose deadlines are spread over a day, then re-arms 10,000 of
them so they fall due within the next minute, on the real clock. Worker processes (two on
PostgreSQL, one on SQLite), each with its own ``Store`` and ``Engine``, call the real
``Engine.tick()``; every worker stamps the wall-clock time right after each tick's commit
for each switch that tick moved, so the lag of a switch is that commit time minus its
deadline.

Scenarios (each re-arms the same 10,000 switches with new deadlines):

- ``minute``: deadlines spread evenly over 60 s (about 167 per second); the worker loop
  ticks again at once after a full batch, else polls every ``--poll`` seconds.
- ``burst``: all deadlines on the same second, same loop: the drain rate is the capacity.
- ``shipped``: as ``minute``, but each worker runs ``afterword.worker.loop.run`` itself
  (tick, outbox dispatch to a sender that drops messages, then 1 s sleep), as
  ``afterword worker`` does.

Progress goes to stderr; the Markdown tables go to stdout. The package, by step:
``population`` (the rows), ``workers`` (the spawned worker processes), ``scenario`` (one
scenario's run and checks), ``database`` (one database from creation to drop), ``report``
(the tables, and the figures filled into docs/benchmarks.md, whose prose is its own) and
``__main__`` (the options).
"""

from __future__ import annotations

import sys

SECTION = "scheduler"

APP_NAME = "afterword-bench-worker"

DAY = 86400
INSERT_BATCH = 10_000
LEAD = 2  # seconds between the re-arm and the first deadline, at least (see rehearse)
SCENARIOS = ("minute", "burst", "shipped")

LAG_TARGET = 1.0  # p99 lag, seconds
RATE_TARGET = 5000.0  # transitions per second on PostgreSQL with two workers


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure with a message for the person running the benchmark."""
