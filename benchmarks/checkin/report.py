"""The check-in benchmark's table and its figures for docs/benchmarks.md.

The prose of the section lives in docs/benchmarks.md; this module only fills in what a
run measured, between the section's markers.
"""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime
from typing import Any

from benchmarks._common import fill_section, load_text, machine, results_block
from benchmarks.checkin import RATIO_TARGET, SECTION
from benchmarks.checkin.runs import DatabaseResult, Run


def med(runs: list[Run], key: Any) -> float:
    return statistics.median(key(r) for r in runs)


def markdown(dbs: list[DatabaseResult], args: argparse.Namespace) -> str:
    lines = [
        "| database | server | check-ins/s | HTTP requests/s | latency p50 ms | latency p99 ms "
        "| server CPU ms/request | server process busy | bytes/response | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for db in dbs:
        for kind, title in (
            ("bare", "bare FastAPI + INSERT"),
            ("afterword", "afterword serve"),
            ("engine", "afterword engine alone: no HTTP, 1 thread"),
        ):
            runs = db.of(kind)
            if not runs:
                continue
            checkins = f"{med(runs, lambda r: r.ops_per_s):,.0f}" if kind != "bare" else "-"
            http = f"{med(runs, lambda r: r.requests_per_s):,.0f}" if kind != "engine" else "-"
            lines.append(
                f"| {db.label} | {title} | {checkins} | {http} | "
                f"{med(runs, lambda r: r.latency(0.5)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.latency(0.99)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.server_cpu / max(r.requests, 1)) * 1000:.2f} | "
                f"{med(runs, lambda r: r.server_cpu / r.seconds):.0%} | "
                f"{med(runs, lambda r: r.response_bytes):,.0f} | {sum(r.errors for r in runs)} |"
            )
        bare, aw = db.of("bare"), db.of("afterword")
        if bare and aw:
            b = med(bare, lambda r: r.requests_per_s)
            ratio = med(aw, lambda r: r.requests_per_s) / b
            ratio_ci = med(aw, lambda r: r.ops_per_s) / b
            ok = "met" if ratio >= RATIO_TARGET else "**missed**"
            runs_text = "; ".join(
                f"{r.kind} {r.requests_per_s:,.0f}" for r in db.runs if r.kind != "engine"
            )
            summary.append(
                f"- **{db.label}**: afterword / bare HTTP requests per second = "
                f"**{ratio:.2f}** (target >= {RATIO_TARGET}: {ok}); check-ins per second / "
                f"bare requests per second = {ratio_ci:.2f}. An afterword owner response "
                f"carried {med(aw, lambda r: r.response_bytes):,.0f} bytes on average. "
                f"Runs in order (HTTP requests/s): {runs_text}."
            )
    return "\n".join([*lines, "", *summary]) + "\n"


def write_docs(table: str, dbs: list[DatabaseResult], args: argparse.Namespace) -> None:
    """Fill this run's figures into the check-in section of docs/benchmarks.md (the
    section's prose is the page's own)."""
    results = results_block("benchmarks.checkin", table)
    blocks = {"machine": _machine_text(dbs), "results": results, "costs": _costs_text(dbs)}
    values = {
        "ratio-target": f"{RATIO_TARGET}",
        "switches": f"{args.switches}",
        "clients": f"{args.clients}",
        "procs": f"{args.procs}",
        "switches-per-client": f"{max(1, args.switches // max(args.clients, 1))}",
        "warmup": f"{args.warmup:g}",
        "duration": f"{args.duration:g}",
        "repeat": f"{args.repeat}",
    }
    fill_section(SECTION, blocks, values)


def _machine_text(dbs: list[DatabaseResult]) -> str:
    m = machine(("fastapi", "uvicorn", "sqlalchemy", "psycopg"))
    labels = ", ".join(db.label for db in dbs)
    return f"""- CPU: {m["cores"]} cores, {m["cpu"]}; RAM: {m["ram"]}; OS: {m["os"]}
- Python: {m["python"]}; {m["packages"]}; databases: {labels} (local, default settings;
  servers, database and load generator share the two cores; other work was running on the
  machine: {load_text()})
- afterword: {m["afterword"]}
- Date: {datetime.now(UTC).strftime("%Y-%m-%d")}"""


def _costs_text(dbs: list[DatabaseResult]) -> str:
    """Each database's CPU per request against the budget the target leaves, and the
    verdict: within it, or how much cheaper a request must get."""
    costs = []
    factors: list[float] = []
    engine_over: list[bool] = []
    for db in dbs:
        bare, aw, engine = db.of("bare"), db.of("afterword"), db.of("engine")
        if not (bare and aw and engine):
            continue
        bare_ms = med(bare, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
        aw_ms = med(aw, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
        engine_ms = med(engine, lambda r: r.server_cpu / max(r.ops, 1)) * 1000
        factors.append(aw_ms * RATIO_TARGET / bare_ms)
        engine_over.append(engine_ms > 2 * bare_ms / RATIO_TARGET)
        costs.append(
            f"- {db.label}: {bare_ms:.2f} ms of server CPU per bare request, {aw_ms:.2f} ms "
            f"per afterword request ({2 * aw_ms:.2f} ms per check-in); meeting the target "
            f"needs at most {bare_ms / RATIO_TARGET:.2f} ms per request, "
            f"{2 * bare_ms / RATIO_TARGET:.2f} ms per check-in. The engine alone (no HTTP) "
            f"spent {engine_ms:.2f} ms per check-in "
            f"({med(engine, lambda r: r.ops_per_s):,.0f} check-ins/s on one thread)."
        )
    cost_text = "\n".join(costs)
    verdicts = []
    for db, factor, over in zip(
        [d for d in dbs if d.of("bare") and d.of("afterword") and d.of("engine")],
        factors,
        engine_over,
        strict=True,
    ):
        busy = med(db.of("afterword"), lambda r: r.server_cpu / r.seconds)
        bare_busy = med(db.of("bare"), lambda r: r.server_cpu / r.seconds)
        if factor <= 1:
            ratio = med(db.of("afterword"), lambda r: r.requests_per_s) / med(
                db.of("bare"), lambda r: r.requests_per_s
            )
            why = (
                "its server process was busy"
                if ratio >= RATIO_TARGET
                else "the ratio is lost to time its server process spent waiting: busy"
            )
            verdicts.append(
                f"{db.label}: by CPU per request afterword is within the budget ({factor:.0%} "
                f"of it); {why} {busy:.0%} of the time (the bare app's {bare_busy:.0%})."
            )
        else:
            verdicts.append(
                f"{db.label}: a request has to get about {factor:.2f} times cheaper; "
                + (
                    "the engine alone would already miss the budget."
                    if over
                    else "the engine alone fits it, the rest is the HTTP layer around it."
                )
            )
    verdict = " ".join(verdicts)
    return f"{cost_text}\n\n{verdict}"
