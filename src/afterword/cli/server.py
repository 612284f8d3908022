"""``afterword serve`` and ``afterword worker``: running the switch service.

The operator's long-running processes; they import the server lazily, so the offline
commands start without loading the web stack.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from afterword.cli.common import run_action
from afterword.errors import AfterwordError

if TYPE_CHECKING:
    from afterword.engine import Engine

log = logging.getLogger("afterword")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None, typer.Option(help="Database URL (default: SQLite in the data directory).")
    ] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
    worker: Annotated[bool, typer.Option(help="Also run the scheduler and mail worker.")] = True,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            help="A reverse proxy (address or network) whose X-Forwarded-For is believed; "
            "repeat for several. Without it no forwarded header is believed."
        ),
    ] = None,
    metrics_address: MetricsAddress = None,
    log_format: LogFormat = "text",
) -> None:
    """Run the switch service: web API and (unless --no-worker) the worker."""

    def action() -> None:
        import uvicorn

        from afterword.server import (
            Settings,
            build_engine,
            configure_logging,
            parse_address,
            proxy_options,
            start_worker,
        )
        from afterword.web.app import create_app

        os.umask(0o077)  # whatever the server writes (database, dossiers, keys) is its own
        configure_logging(log_format)
        ops = parse_address(metrics_address) if metrics_address else None
        settings = Settings.load(data_dir=data_dir, db=db, host=host, port=port)
        sock = listen(host, port)  # before anything starts: a busy port is said first
        ops_sock = listen(*ops) if ops else None
        engine = build_engine(settings)
        stop = start_worker(engine, settings) if worker else None
        said = f"afterword serving on http://{host}:{port} (data in {settings.data_dir})"
        if log_format == "json":  # every line on the terminal one JSON object
            log.info(said)
        else:
            typer.echo(said)
        metrics = serve_metrics(engine, ops_sock, log_format) if ops_sock else None
        config = uvicorn.Config(
            create_app(engine),
            host=host,
            port=port,
            log_level="warning",
            log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,
            **proxy_options(trusted_proxy or ()),
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
            if metrics is not None:
                metrics.should_exit = True
            if stop is not None:
                stop.set()

    run_action(action)


MetricsAddress = Annotated[
    str | None,
    typer.Option(
        help="Serve /metrics (Prometheus) and /healthz on this HOST:PORT, a listener of "
        "its own that only the monitoring should reach. Without it no metrics are served.",
    ),
]

LogFormat = Annotated[
    str, typer.Option(help="How the log on stderr is written: text, or json (one object a line).")
]


def serve_metrics(engine: Engine, sock: socket.socket, log_format: str) -> Any:
    """Serve ``/metrics`` and ``/healthz`` on ``sock`` from a thread of their own; the
    uvicorn server, whose ``should_exit`` stops it."""
    from afterword.web.ops import metrics_app

    server = serve_in_thread(metrics_app(engine), sock, log_format, "afterword-metrics")
    host, port = sock.getsockname()[:2]
    log.info("metrics on http://%s:%d/metrics (keep this address from the public)", host, port)
    return server


def serve_in_thread(app: Any, sock: socket.socket, log_format: str, name: str) -> Any:
    """uvicorn serving ``app`` on ``sock`` from a daemon thread ``name``, started; returns
    the uvicorn server (``should_exit`` stops it, ``started`` says it listens)."""
    import threading

    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        log_config=None if log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=name, daemon=True).start()
    return server


def listen(host: str, port: int) -> socket.socket:
    """The listening socket ``serve`` hands to uvicorn, bound here so that a port already
    taken is one line, said before "serving" (and before the worker starts)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise AfterwordError(
            f"cannot listen on {host!r}: {exc.strerror}",
            "pass --host with an address of this machine",
        ) from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AfterwordError(
                f"port {port} on {host} is already in use (another afterword serve, or "
                "another program)",
                "stop it, or pass --port with a free port",
            ) from None
        raise AfterwordError(
            f"cannot listen on {host} port {port}: {exc.strerror}",
            "pass --host and --port this user may listen on (ports below 1024 need root)",
        ) from None
    sock.set_inheritable(True)
    return sock


def worker_cmd(
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
    metrics_address: MetricsAddress = None,
    log_format: LogFormat = "text",
) -> None:
    """Run only the worker (scheduler and outbox); any number may run on PostgreSQL."""

    def action() -> None:
        import threading

        from afterword.server import (
            Settings,
            build_engine,
            build_sender,
            configure_logging,
            parse_address,
        )
        from afterword.worker.loop import run

        configure_logging(log_format)
        ops = parse_address(metrics_address) if metrics_address else None
        settings = Settings.load(data_dir=data_dir, db=db)
        ops_sock = listen(*ops) if ops else None
        engine = build_engine(settings)
        if ops_sock is not None:
            serve_metrics(engine, ops_sock, log_format)
        run(engine, build_sender(settings), threading.Event())

    run_action(action)
