"""Signed check-ins per second over HTTP, next to a bare FastAPI INSERT endpoint, same run.

Usage::

    .venv/bin/python -m benchmarks.checkin                   # SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.checkin --quick           # shorter runs
    .venv/bin/python -m benchmarks.checkin --write-docs      # also docs/benchmarks.md

For each database it starts two servers on loopback, each a single uvicorn process:

- ``afterword serve`` itself (the real CLI: web API and its idle worker thread), with
  ``--switches`` switches armed through the HTTP API from bundles sealed here, one owner
  key each;
- a bare FastAPI app (``children.py``) whose one endpoint parses a JSON body and INSERTs it
  into a table of the same database, through an ``afterword.store.Store`` (same driver,
  pool and SQLite pragmas), in a sync endpoint.

A load generator (``--procs`` processes, ``--clients`` threads in all, each with its own
keep-alive connection, stdlib ``http.client``) then does, as fast as it can for
``--duration`` seconds after ``--warmup``: against afterword, a check-in as ``afterword
checkin`` does it (POST challenge, sign the request over canonical JSON with the owner's
Ed25519 key, POST it), each client going round its own switches; against the bare app, one
POST of a body of the same size. Runs alternate between the two servers; the medians are
reported. One check-in is two HTTP requests.

Progress goes to stderr; the Markdown table goes to stdout. The package, by step:
``children`` (the bare server and the load generator, each its own process), ``servers``
(starting them, sealing and arming the owners' switches), ``runs`` (one measured run, one
database), ``report`` (the table, and the figures filled into docs/benchmarks.md, whose
prose is its own) and ``__main__`` (the options).
"""

from __future__ import annotations

import sys

SECTION = "checkin"

RATIO_TARGET = 0.7
INTERVAL = 7 * 86400


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure with a message for the person running the benchmark."""
