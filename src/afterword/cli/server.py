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
from typing import Annotated

import typer

from afterword.cli.common import run_action
from afterword.errors import AfterwordError


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
) -> None:
    """Run the switch service: web API and (unless --no-worker) the worker."""

    def action() -> None:
        import uvicorn

        from afterword.server import Settings, build_engine, proxy_options, start_worker
        from afterword.web.app import create_app

        os.umask(0o077)  # whatever the server writes (database, dossiers, keys) is its own
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        settings = Settings.load(data_dir=data_dir, db=db, host=host, port=port)
        sock = listen(host, port)  # before anything starts: a busy port is said first
        engine = build_engine(settings)
        stop = start_worker(engine, settings) if worker else None
        typer.echo(f"afterword serving on http://{host}:{port} (data in {settings.data_dir})")
        config = uvicorn.Config(
            create_app(engine),
            host=host,
            port=port,
            log_level="warning",
            **proxy_options(trusted_proxy or ()),
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            sock.close()
            if stop is not None:
                stop.set()

    run_action(action)


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
) -> None:
    """Run only the worker (scheduler and outbox); any number may run on PostgreSQL."""

    def action() -> None:
        import threading

        from afterword.server import Settings, build_engine, build_sender
        from afterword.worker.loop import run

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
        settings = Settings.load(data_dir=data_dir, db=db)
        engine = build_engine(settings)
        run(engine, build_sender(settings), threading.Event())

    run_action(action)
