"""Counts of the fuzz runs, printed at the end of the session (for docs/reliability.md);
``AFTERWORD_REPORT=FILE`` also appends them to FILE as JSON lines."""

from __future__ import annotations

import json
import os
from typing import Any

EXECUTIONS: dict[str, int] = {}


def record(name: str, count: int) -> None:
    EXECUTIONS[name] = EXECUTIONS.get(name, 0) + count
    path = os.environ.get("AFTERWORD_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": "fuzz", "harness": name, "executions": count}) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not EXECUTIONS:
        return
    terminalreporter.write_sep("-", "fuzz executions (only AfterwordError may escape)")
    for name, count in sorted(EXECUTIONS.items()):
        terminalreporter.write_line(f"{name}: {count} executions")
