"""The sealing benchmark's table and its figures for docs/benchmarks.md.

The prose of the section lives in docs/benchmarks.md; this module only fills in what a
run measured, between the section's markers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from benchmarks._common import fill_section, machine
from benchmarks.seal import LARGE_MAX, MIB, PER_DIR, RATIO_TARGET, RSS_TARGET_MIB, SECTION
from benchmarks.seal.corpus import size_label
from benchmarks.seal.measure import Result, median_seconds, peak_rss, throughput


def markdown(results: list[Result], age_version: str) -> str:
    lines = [
        "| size GiB | tool | median s | MiB/s | peak RSS MiB |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in results:
        for tool, runs in (
            (f"age {age_version} (CLI, tar file)", r.age),
            ("afterword", r.afterword),
        ):
            lines.append(
                f"| {size_label(r.gib)} | {tool} | {median_seconds(runs):.2f} | "
                f"{throughput(r.plaintext, runs):.1f} | {peak_rss(runs):.1f} |"
            )
    lines.append("")
    for r in results:
        ratio = throughput(r.plaintext, r.afterword) / throughput(r.plaintext, r.age)
        rss = peak_rss(r.afterword)
        ratio_ok = "met" if ratio >= RATIO_TARGET else "**missed**"
        rss_ok = "met" if rss < RSS_TARGET_MIB else "**missed**"
        age_s = ", ".join(f"{run.seconds:.2f}" for run in r.age)
        aw_s = ", ".join(f"{run.seconds:.2f}" for run in r.afterword)
        lines.append(
            f"- **{size_label(r.gib)} GiB** ({r.documents} files): afterword / age throughput "
            f"= **{ratio:.2f}x** (target >= {RATIO_TARGET}x: {ratio_ok}); afterword peak RSS "
            f"**{rss:.1f} MiB** (target < {RSS_TARGET_MIB:.0f} MiB: {rss_ok}). "
            f"Runs (s): age {age_s}; afterword {aw_s}."
        )
    return "\n".join(lines) + "\n"


def write_docs(table: str, results: list[Result], age_version: str, repeat: int) -> None:
    """Fill this run's figures into the sealing section of docs/benchmarks.md (the section's
    prose is the page's own)."""
    m = machine()
    values = {
        "ratio-target": f"{RATIO_TARGET}",
        "rss-target": f"{RSS_TARGET_MIB:.0f}",
        "cores": m["cores"],
        "cpu": m["cpu"],
        "ram": m["ram"],
        "os": m["os"],
        "python": m["python"],
        "age": age_version,
        "afterword": m["afterword"],
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "per-dir": f"{PER_DIR}",
        "large-max": f"{LARGE_MAX // MIB}",
        "repeats": f"{repeat}",
    }
    fill_section(SECTION, {"results": table}, values)
