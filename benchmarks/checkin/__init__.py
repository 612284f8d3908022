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
``--duration`` seconds after ``--warmup``, one of three loads (:data:`KINDS`):

- ``bare``: against the bare app, one POST of a body of the same size;
- ``challenge``: against afterword, the two-request check-in (POST challenge, sign the
  request over canonical JSON with the owner's Ed25519 key, POST it to
  ``/switches/ID/owner``), each client going round its own switches;
- ``checkin``: against afterword, the one-request check-in of federation (issue 17): sign a
  ``checkin/1`` (``crypto/checkin.py``) with the next counter for the switch and POST it
  to ``/switches/ID/checkins``. Each client keeps its own counter per switch (it alone
  checks in on its switches), carried from run to run by the orchestrator, so no
  check-in is stale; a 409 would count as an error and move the client past the
  server's counter, as ``afterword checkin`` does.

Runs rotate the order of the three loads from one repeat to the next; the medians are
reported. Then the engine alone, without HTTP, does each kind of check-in in this process.

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
"""The two-request check-in: afterword's HTTP requests/s over the bare app's."""
RATIO_TARGET_ONE = 1.0
"""The one-request check-in (issue 17): afterword's check-ins/s (one request each) over the
bare app's requests/s."""
KINDS = ("bare", "challenge", "checkin")
"""The loads, by name: the bare app, the two-request check-in, the one-request check-in."""
INTERVAL = 7 * 86400


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A failure with a message for the person running the benchmark."""
