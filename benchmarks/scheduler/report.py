"""The scheduler's tables and its figures for docs/benchmarks.md.

The prose of the section lives in docs/benchmarks.md; this module only fills in what a
run measured, between the section's markers.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
from datetime import UTC, datetime
from typing import Any

from benchmarks._common import fill_section, load_text, machine, results_block
from benchmarks.scheduler import DAY, INSERT_BATCH, LAG_TARGET, LEAD, RATE_TARGET, SECTION
from benchmarks.scheduler.scenario import DatabaseResult, ScenarioResult


def fmt_ms(seconds: float | None, count: int) -> str:
    if seconds is None or not count:
        return "n/a"
    return f"{seconds / count * 1000:.2f}"


def median_of(results: list[ScenarioResult], key: Any) -> float:
    return statistics.median(key(r) for r in results)


def markdown(dbs: list[DatabaseResult], args: argparse.Namespace) -> str:
    lines = [
        "| database | switches | insert s | switches/s inserted | database size MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for db in dbs:
        p = db.population
        lines.append(
            f"| {db.label} | {p.n:,} | {p.insert_seconds:.1f} | "
            f"{p.n / p.insert_seconds:,.0f} | {p.size_bytes / 2**20:,.0f} |"
        )
    lines += [
        "",
        "| database | workers | scenario | transitions/s | lag p50 s | lag p99 s | lag max s "
        "| workers busy | max triggers in one tick | SQL statements/transition "
        "| client CPU ms/transition | server CPU ms/transition |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for db in dbs:
        for scenario in args.scenarios:
            runs = [r for r in db.scenarios if r.scenario == scenario]
            if not runs:
                continue
            server = (
                fmt_ms(median_of(runs, lambda r: r.server_cpu / max(r.moved, 1)), 1)
                if all(r.server_cpu is not None for r in runs)
                else "n/a"
            )
            note = "" if len(runs) == 1 else f" (median of {len(runs)})"
            lines.append(
                f"| {db.label} | {runs[0].workers} | {scenario}{note} | "
                f"{median_of(runs, lambda r: r.rate):,.0f} | "
                f"{median_of(runs, lambda r: r.lag(0.5)):.3f} | "
                f"{median_of(runs, lambda r: r.lag(0.99)):.3f} | "
                f"{median_of(runs, lambda r: r.lag(1.0)):.3f} | "
                f"{median_of(runs, lambda r: r.busy):.0%} | "
                f"{max(r.max_triggered for r in runs)} | "
                f"{median_of(runs, lambda r: r.statements / max(r.moved, 1)):.3f} | "
                f"{fmt_ms(median_of(runs, lambda r: r.client_cpu / max(r.moved, 1)), 1)} | "
                f"{server} |"
            )
    lines.append("")
    for db in dbs:
        for r in db.scenarios:
            if r.problems or r.errors:
                lines.append(
                    f"- **{db.label} {r.scenario}: {'; '.join(r.problems) or ''}"
                    f"{f' {r.errors} tick errors' if r.errors else ''}**"
                )
    for db in dbs:
        by_scenario: dict[str, list[ScenarioResult]] = {}
        for r in db.scenarios:
            by_scenario.setdefault(r.scenario, []).append(r)
        for scenario, runs in by_scenario.items():
            if len(runs) > 1:
                lines.append(
                    f"- {db.label} {scenario}, every run: "
                    + "; ".join(f"{r.rate:,.0f}/s, p99 {r.lag(0.99):.3f} s" for r in runs)
                )
    lines += _targets(dbs)
    return "\n".join(lines) + "\n"


def _targets(dbs: list[DatabaseResult]) -> list[str]:
    """The lines that say whether PostgreSQL met the lag and rate targets."""
    lines: list[str] = []
    pg = [db for db in dbs if db.name == "postgresql"]
    for db in pg:
        minute = [r for r in db.scenarios if r.scenario == "minute"]
        burst = [r for r in db.scenarios if r.scenario == "burst"]
        shipped = [r for r in db.scenarios if r.scenario == "shipped"]
        if minute:
            p99 = median_of(minute, lambda r: r.lag(0.99))
            ok = "met" if p99 < LAG_TARGET else "**missed**"
            lines.append(
                f"- Target p99 lag < {LAG_TARGET:g} s ({db.label}, {minute[0].workers} workers,"
                f" minute): **{p99:.3f} s**, {ok}."
            )
        if shipped:
            p99 = median_of(shipped, lambda r: r.lag(0.99))
            ok = "met" if p99 < LAG_TARGET else "**missed**"
            lines.append(f"- Same with the shipped worker loop (shipped): **{p99:.3f} s**, {ok}.")
        if burst:
            rate = median_of(burst, lambda r: r.rate)
            ok = "met" if rate >= RATE_TARGET else "**missed**"
            lines.append(
                f"- Target >= {RATE_TARGET:,.0f} transitions/s ({db.label}, "
                f"{burst[0].workers} workers, burst): **{rate:,.0f}/s**, {ok}."
            )
    return lines


def write_docs(table: str, dbs: list[DatabaseResult], args: argparse.Namespace) -> None:
    """Fill this run's figures into the scheduler's section of docs/benchmarks.md (the
    section's prose is the page's own)."""
    results = results_block("benchmarks.scheduler", table)
    blocks = {"machine": _machine_text(dbs), "results": results, "cost": _cost_text(dbs, args)}
    fill_section(SECTION, blocks, _figures(dbs, args))


def _machine_text(dbs: list[DatabaseResult]) -> str:
    m = machine()
    dbl = ", ".join(db.label for db in dbs)
    return f"""- CPU: {m["cores"]} cores, {m["cpu"]}; RAM: {m["ram"]}; OS: {m["os"]}
- Python: {m["python"]}; databases: {dbl} (local, default settings, on the same machine
  and the same two cores as the workers; other work was running on the machine:
  {load_text()})
- afterword: {m["afterword"]}
- Date: {datetime.now(UTC).strftime("%Y-%m-%d")}"""


def _figures(dbs: list[DatabaseResult], args: argparse.Namespace) -> dict[str, str]:
    """The run's parameters and figures the section's prose names, as it prints them."""
    runs = [r for db in dbs for r in db.scenarios]
    messages = statistics.median(r.messages / max(r.moved, 1) for r in runs) if runs else 0
    return {
        "switches": f"{args.switches:,}",
        "due": f"{args.due:,}",
        "lag-target": f"{LAG_TARGET:g}",
        "rate-target": f"{RATE_TARGET:,.0f}",
        "insert-batch": f"{INSERT_BATCH:,}",
        "messages": f"{messages:.0f}",
        "lead": f"{LEAD}",
        "leads": ", ".join(f"{db.label} {db.population.lead} s" for db in dbs),
        "window": f"{args.window}",
        "per-second": f"{args.due // max(args.window, 1)}",
        "pg-workers": f"{args.pg_workers}",
        "config": f"`Config(batch={args.batch}, breaker_threshold={args.breaker})`",
        "poll": f"{args.poll:g}",
        "interval": f"{args.interval:g}",
        "outbox-history": f"{args.outbox_history:g}",
        "average-per-second": f"{args.switches / DAY:,.1f}",
        "peak-factor": f"{args.due / max(args.window, 1) / (args.switches / DAY):,.0f}",
        "one-hour-jump": f"{args.switches / 24:,.0f}",
    }


def _cost(
    dbs: list[DatabaseResult], name: str, scenario: str
) -> tuple[float, float | None, float, str]:
    """Median CPU ms per transition (worker, PostgreSQL), statements, and the label."""
    db = next((d for d in dbs if d.name == name), None)
    mine = [r for r in (db.scenarios if db else []) if r.scenario == scenario]
    if db is None or not mine:
        return math.nan, None, math.nan, name
    server = (
        median_of(mine, lambda r: r.server_cpu / max(r.moved, 1)) * 1000
        if all(r.server_cpu is not None for r in mine)
        else None
    )
    return (
        median_of(mine, lambda r: r.client_cpu / max(r.moved, 1)) * 1000,
        server,
        median_of(mine, lambda r: r.statements / max(r.moved, 1)),
        db.label,
    )


def _cost_text(dbs: list[DatabaseResult], args: argparse.Namespace) -> str:
    """The opening paragraph of "Where the time goes": the burst's CPU per transition
    against the budget the target leaves, and whether the target fits by CPU."""
    pg_client, pg_server, pg_statements, pg_label = _cost(dbs, "postgresql", "burst")
    lite_client, _, lite_statements, lite_label = _cost(dbs, "sqlite", "burst")
    cores = os.cpu_count() or 1
    budget = cores * 1000 / RATE_TARGET
    factor = (pg_client + (pg_server or 0.0)) / budget
    fit = "The workers' CPU, not the database, is what runs out first."
    pg_db = next((d for d in dbs if d.name == "postgresql"), None)
    bursts = [r for r in (pg_db.scenarios if pg_db else []) if r.scenario == "burst"]
    if bursts and factor <= 1:
        # how much of the machine the run used: workers' and PostgreSQL's CPU over the span
        used = statistics.median(
            (r.client_cpu + (r.server_cpu or 0.0)) / (r.moved / r.rate * cores)
            for r in bursts
            if r.rate
        )
        rate = median_of(bursts, lambda r: r.rate)
        fit = (
            f"By CPU the target fits, and the run reached it using about {used:.0%} of the "
            "two cores (workers and PostgreSQL together, median over the runs); on two "
            "cores of their own and as fast, the same code would have room for about "
            f"{cores * 1000 / (pg_client + (pg_server or 0.0)):,.0f} transitions/s by CPU "
            "alone."
            if rate >= RATE_TARGET
            else f"By CPU the target fits; the rate falls short because the run got only about "
            f"{used:.0%} of the two cores (workers and PostgreSQL together, median over the "
            "runs): the rest went to other work on the machine (see the load average above) "
            "and to the moments the workers and PostgreSQL waited for each other. On two "
            "cores of its own the same code would have room for about "
            f"{cores * 1000 / (pg_client + (pg_server or 0.0)):,.0f} transitions/s by CPU "
            "alone, an upper bound this run could not show."
        )
    return f"""In `burst` on {pg_label} a transition cost {pg_client:.2f} ms of CPU in the worker
processes and {pg_server or 0:.2f} ms in PostgreSQL, and {pg_statements:.3f} SQL statements
(a tick of {args.batch} switches sends about {pg_statements * args.batch:.0f}); on
{lite_label}, {lite_client:.2f} ms and {lite_statements:.3f} statements.
{cores} cores give {cores * 1000:,} ms of CPU per second, so {RATE_TARGET:,.0f} transitions
per second leaves {budget:.2f} ms per transition for everything (workers and PostgreSQL):
the measured cost is {factor:.0%} of that. {fit}"""
