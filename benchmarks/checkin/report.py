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
from benchmarks.checkin import RATIO_TARGET, RATIO_TARGET_ONE, SECTION
from benchmarks.checkin.runs import DatabaseResult, Run


def med(runs: list[Run], key: Any) -> float:
    return statistics.median(key(r) for r in runs)


ROWS = (
    ("bare", "bare FastAPI + INSERT"),
    ("challenge", "afterword serve, two requests (challenge + signed request)"),
    ("checkin", "afterword serve, one request (`checkin/1`)"),
    ("engine", "afterword engine alone, two-request check-in: no HTTP, 1 thread"),
    ("engine-checkin", "afterword engine alone, one-request check-in: no HTTP, 1 thread"),
)
HTTP_KINDS = ("challenge", "checkin")
"""afterword's loads over HTTP, each against its own target and its engine-alone row:
(target, requests per check-in, the engine's kind)."""
TARGETS = {
    "challenge": (RATIO_TARGET, 2, "engine"),
    "checkin": (RATIO_TARGET_ONE, 1, "engine-checkin"),
}


def markdown(dbs: list[DatabaseResult], args: argparse.Namespace) -> str:
    lines = [
        "| database | server | check-ins/s | HTTP requests/s | requests/s / bare "
        "| latency p50 ms | latency p99 ms "
        "| server CPU ms/request | server process busy | bytes/response | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = []
    for db in dbs:
        bare = db.of("bare")
        b = med(bare, lambda r: r.requests_per_s) if bare else float("nan")
        for kind, title in ROWS:
            runs = db.of(kind)
            if not runs:
                continue
            checkins = f"{med(runs, lambda r: r.ops_per_s):,.0f}" if kind != "bare" else "-"
            http = "-"
            ratio = "-"
            if not kind.startswith("engine"):
                http = f"{med(runs, lambda r: r.requests_per_s):,.0f}"
                ratio = f"{med(runs, lambda r: r.requests_per_s) / b:.2f}"
            lines.append(
                f"| {db.label} | {title} | {checkins} | {http} | {ratio} | "
                f"{med(runs, lambda r: r.latency(0.5)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.latency(0.99)) * 1000:.1f} | "
                f"{med(runs, lambda r: r.server_cpu / max(r.requests, 1)) * 1000:.2f} | "
                f"{med(runs, lambda r: r.server_cpu / r.seconds):.0%} | "
                f"{med(runs, lambda r: r.response_bytes):,.0f} | {sum(r.errors for r in runs)} |"
            )
        two, one = db.of("challenge"), db.of("checkin")
        if not bare or not (two or one):
            continue
        parts = []
        if one:
            ratio_one = med(one, lambda r: r.ops_per_s) / b
            ok = "met" if ratio_one >= RATIO_TARGET_ONE else "**missed**"
            versus = ""
            if two:
                times = med(one, lambda r: r.ops_per_s) / med(two, lambda r: r.ops_per_s)
                versus = f", {times:.2f} times the two-request check-ins per second"
            parts.append(
                f"one-request check-ins per second / bare requests per second = "
                f"**{ratio_one:.2f}** (target >= {RATIO_TARGET_ONE}: {ok}){versus}"
            )
        if two:
            ratio_two = med(two, lambda r: r.requests_per_s) / b
            ratio_ci = med(two, lambda r: r.ops_per_s) / b
            ok = "met" if ratio_two >= RATIO_TARGET else "**missed**"
            parts.append(
                f"two-request HTTP requests per second / bare = **{ratio_two:.2f}** (target >= "
                f"{RATIO_TARGET}: {ok}), its check-ins per second / bare requests per second "
                f"= {ratio_ci:.2f}"
            )
        sizes = "; ".join(
            f"{kind} {med(db.of(kind), lambda r: r.response_bytes):,.0f}"
            for kind in HTTP_KINDS
            if db.of(kind)
        )
        runs_text = "; ".join(
            f"{r.kind} {r.requests_per_s:,.0f}" for r in db.runs if not r.kind.startswith("engine")
        )
        summary.append(
            f"- **{db.label}**: {'; '.join(parts)}. An afterword response carried, in bytes on "
            f"average: {sizes}. Runs in order (HTTP requests/s): {runs_text}."
        )
    return "\n".join([*lines, "", *summary]) + "\n"


def write_docs(table: str, dbs: list[DatabaseResult], args: argparse.Namespace) -> None:
    """Fill this run's figures into the check-in section of docs/benchmarks.md (the
    section's prose is the page's own)."""
    results = results_block("benchmarks.checkin", table)
    blocks = {"machine": _machine_text(dbs), "results": results, "costs": _costs_text(dbs)}
    values = {
        "ratio-target": f"{RATIO_TARGET}",
        "ratio-target-one": f"{RATIO_TARGET_ONE}",
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
    """Each database's CPU per request, for each kind of check-in, against the budget its
    target leaves, and the verdict: within it, or how much cheaper a request must get."""
    costs = []
    verdicts = []
    for db in dbs:
        bare = db.of("bare")
        if not bare:
            continue
        bare_ms = med(bare, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
        bare_busy = med(bare, lambda r: r.server_cpu / r.seconds)
        bare_rps = med(bare, lambda r: r.requests_per_s)
        for kind in HTTP_KINDS:
            target, per_checkin, engine_kind = TARGETS[kind]
            aw, engine = db.of(kind), db.of(engine_kind)
            if not (aw and engine):
                continue
            name = "two-request" if per_checkin == 2 else "one-request"
            aw_ms = med(aw, lambda r: r.server_cpu / max(r.requests, 1)) * 1000
            engine_ms = med(engine, lambda r: r.server_cpu / max(r.ops, 1)) * 1000
            budget = bare_ms / target
            per = f" ({per_checkin * aw_ms:.2f} ms per check-in)" if per_checkin > 1 else ""
            costs.append(
                f"- {db.label}, {name} check-in: {bare_ms:.2f} ms of server CPU per bare "
                f"request, {aw_ms:.2f} ms per afterword request{per}; meeting the target "
                f"(>= {target}) needs at most {budget:.2f} ms per request, "
                f"{per_checkin * budget:.2f} ms per check-in. The engine alone (no HTTP) "
                f"spent {engine_ms:.2f} ms per check-in "
                f"({med(engine, lambda r: r.ops_per_s):,.0f} check-ins/s on one thread)."
            )
            factor = aw_ms / budget
            busy = med(aw, lambda r: r.server_cpu / r.seconds)
            if factor <= 1:
                ratio = med(aw, lambda r: r.requests_per_s) / bare_rps
                why = (
                    "its server process was busy"
                    if ratio >= target
                    else "the ratio is lost to time its server process spent waiting: busy"
                )
                verdicts.append(
                    f"{db.label}, {name}: by CPU per request afterword is within the budget "
                    f"({factor:.0%} of it); {why} {busy:.0%} of the time (the bare app's "
                    f"{bare_busy:.0%})."
                )
            else:
                over = engine_ms > per_checkin * budget
                verdicts.append(
                    f"{db.label}, {name}: a request has to get about {factor:.2f} times "
                    "cheaper; "
                    + (
                        "the engine alone would already miss the budget."
                        if over
                        else f"the engine alone ({engine_ms:.2f} ms per check-in) fits it, "
                        f"not with the HTTP layer around it ({per_checkin * aw_ms:.2f} ms "
                        "per check-in in all)."
                    )
                )
    return "\n".join(costs) + "\n\n" + " ".join(verdicts)
