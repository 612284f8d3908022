"""Counts the crash tests keep, printed at the end of the session for docs/reliability.md.

``AFTERWORD_REPORT=FILE`` also appends one JSON line per run to FILE.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    runs: int = 0
    kills: int = 0
    releases: int = 0
    redelivered: int = 0  # copies of a message sent again under the same id
    seconds: float = 0.0
    killed_in: Counter[str] = field(default_factory=Counter)


TALLIES: dict[str, Tally] = {}


def record(db: str, run: dict[str, Any]) -> None:
    """Count one finished, checked run."""
    tally = TALLIES.setdefault(db, Tally())
    tally.runs += 1
    tally.kills += run["kills"]
    tally.releases += run["releases"]
    tally.redelivered += run["redelivered"]
    tally.seconds += run["seconds"]
    tally.killed_in.update(run["killed_in"])
    path = os.environ.get("AFTERWORD_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "crash", "db": db, **run}) + "\n")


def report_crashes(reporter: Any) -> None:
    if not TALLIES:
        return
    reporter.write_sep("-", "crash-restarts (SIGKILL during a release)")
    for db, t in sorted(TALLIES.items()):
        phases = ", ".join(f"{k} {v}" for k, v in sorted(t.killed_in.items()))
        reporter.write_line(
            f"{db}: {t.runs} runs, {t.kills} SIGKILL crash-restarts, {t.releases} releases "
            f"completed exactly once, {t.redelivered} same-id redeliveries, {t.seconds:.0f} s; "
            f"killed while: {phases}"
        )
