"""What one ``/metrics`` scrape costs, at 1,000 and 100,000 switches, on SQLite and
PostgreSQL, next to a bare FastAPI endpoint served the same way in the same run.

Each database gets the scheduler benchmark's population (real signed documents, bulk
inserted; benchmarks/scheduler/population.py), with 1% of the switches due and a
pending message for each of them, so every query of ``repository.stats`` has rows to
count. The metrics app (``afterword.web.ops.metrics_app``) and a bare endpoint (a sync
FastAPI route answering a few bytes, the same thread-pool path) are each served by
uvicorn on loopback, as ``afterword serve --metrics-address`` serves it
(``cli.server.serve_in_thread``), and scraped over one kept-alive connection.

    .venv/bin/python -m benchmarks.metrics [--sizes 1000,100000] [--no-pg] [--write-docs]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import PG_ADMIN, machine_lines, replace_section


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def timed(client: Any, path: str, repeats: int) -> list[float]:
    """Milliseconds of ``repeats`` GETs of ``path`` after a warm-up of 10."""
    for _ in range(10):
        client.get(path).raise_for_status()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        client.get(path).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    return times


def populate(store: Any, n: int) -> None:
    """``n`` armed switches, 1% of them due with a message waiting each; on PostgreSQL
    vacuumed and analysed after, as autovacuum keeps a running server (the count by state
    is an index-only scan once the visibility map is set)."""
    import sqlalchemy as sa
    from benchmarks.scheduler.population import insert_population, make_template

    from afterword.store.models import OutboxRow, SwitchRow

    population = insert_population(store, n, max(1, n // 100), make_template(), 0)
    now = int(time.time())
    with store.engine.begin() as c:
        c.execute(
            sa.update(SwitchRow)
            .where(SwitchRow.id.in_(population.due_ids))
            .values(next_event_at=now - 60)
        )
        c.execute(
            sa.insert(OutboxRow),
            [
                {
                    "id": f"{sid}:bench",
                    "switch_id": sid,
                    "to": "mailto:owner@example.org",
                    "subject": "s",
                    "body": "b",
                    "data": "{}",
                    "created_at": now - 30,
                    "attempts": 1,
                    "next_attempt_at": now + 30,
                }
                for sid in population.due_ids
            ],
        )
    if store.engine.dialect.name == "postgresql":  # as autovacuum leaves a running server
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("VACUUM ANALYZE"))


def bare_app() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def bare() -> PlainTextResponse:
        return PlainTextResponse("ok\n")

    app.add_api_route("/bare", bare, methods=["GET"])
    return app


def serve(app: Any) -> tuple[Any, str]:
    from afterword.cli.server import listen, serve_in_thread

    sock = listen("127.0.0.1", 0)
    server = serve_in_thread(app, sock, "text", "bench-server")
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def measure(url: str, n: int, repeats: int, work: Path) -> list[tuple[str, float, float]]:
    """(endpoint, median ms, p95 ms) for the bare endpoint and /metrics at ``n`` switches."""
    import httpx

    from afterword.engine import Config, Engine, ServerKeys
    from afterword.store import Store
    from afterword.web.ops import metrics_app

    store = Store(url)
    store.migrate()
    log(f"{url.split(':')[0]}: inserting {n:,} switches")
    populate(store, n)
    data = work / secrets.token_hex(4)
    engine = Engine(store, ServerKeys.load_or_create(data), Config(data))
    rows = []
    for name, app, path in (("bare FastAPI", bare_app(), "/bare"),
                            ("/metrics", metrics_app(engine), "/metrics")):  # fmt: skip
        server, base = serve(app)
        try:
            with httpx.Client(base_url=base, timeout=60) as client:
                if path == "/metrics":
                    text = client.get(path).text
                    assert f"afterword_switches_due {n // 100}.0" in text, text
                times = timed(client, path, repeats)
        finally:
            server.should_exit = True
        times.sort()
        rows.append((name, statistics.median(times), times[int(len(times) * 0.95) - 1]))
    store.engine.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--pg-admin", default=PG_ADMIN)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    import sqlalchemy as sa

    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="afterword-metrics-") as tmp:
        work = Path(tmp)
        for n in sizes:
            sqlite = f"sqlite:///{work / f'metrics-{n}.db'}"
            results += [("SQLite", n, *row) for row in measure(sqlite, n, args.repeats, work)]
            if args.no_pg:
                continue
            admin = sa.create_engine(args.pg_admin, isolation_level="AUTOCOMMIT")
            name = f"afterword_bench_metrics_{secrets.token_hex(4)}"
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
            try:
                url = args.pg_admin.rsplit("/", 1)[0] + "/" + name
                results += [("PostgreSQL", n, *row) for row in measure(url, n, args.repeats, work)]
            finally:
                with admin.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                admin.dispose()
    table = ["| database | switches | endpoint | median ms | p95 ms |", "|---|---:|---|---:|---:|"]
    table += [
        f"| {db} | {n:,} | {name} | {median:.2f} | {p95:.2f} |"
        for db, n, name, median, p95 in results
    ]
    body = "\n".join(
        [
            "## Metrics scrape cost",
            "",
            "What one `GET /metrics` costs (`benchmarks/metrics.py`): the metrics app served by",
            "uvicorn on loopback as `--metrics-address` serves it, scraped over one kept-alive",
            f"connection, {args.repeats} times after 10 untimed, next to a bare FastAPI endpoint",
            "served the same way in the same run. The database holds the scheduler benchmark's",
            "switches (real signed documents), 1% of them due with a message waiting each,",
            "vacuumed on PostgreSQL as autovacuum keeps a running server. The database gauges",
            "are four aggregate queries made at scrape time (`repository.stats`); the count by",
            "state reads all of the index on (phase, held, quarantined_at) (migration 0015),",
            "so it grows with the switches; the other three read a range of an index.",
            "",
            *table,
            "",
            *machine_lines(["prometheus-client", "fastapi", "uvicorn"]),
        ]
    )
    print(body)
    if args.write_docs:
        replace_section("metrics", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
