"""Assembling a running server from its settings: store, keys, engine, mail, web, worker.

Settings come from arguments or the environment (``AFTERWORD_DATABASE_URL``,
``AFTERWORD_PUBLIC_URL``, ``AFTERWORD_SMTP_URL``, ``AFTERWORD_MIN_DURATION``,
``AFTERWORD_OPERATOR``, ``AFTERWORD_MAX_UPLOAD``, ``AFTERWORD_ARM_QUOTA``,
``AFTERWORD_PEER_WAIT``: how long a switch on several servers waits for its peers before it
counts the owner silent, default 10m), with the embedded default: SQLite in the user's data
directory.

One more, for tests alone: ``AFTERWORD_TEST_CLOCK_OFFSET`` (whole seconds, may be
negative; unset or empty: 0) puts the engine's wall clock that far from the machine's,
so the federation tests can run servers whose clocks disagree (tests/federation). No
operator has a reason to set it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from afterword.delivery import Dispatcher, MailConfig, Mailer, WebhookSender
from afterword.engine import ARM_QUOTA, Config, Engine, ServerKeys
from afterword.engine.context import boot_seconds
from afterword.errors import AfterwordError
from afterword.store import Store
from afterword.store.db import default_data_dir, default_database_url
from afterword.switch.policy import parse_duration

log = logging.getLogger("afterword")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    public_url: str
    smtp_url: str | None
    min_duration: int
    operator: tuple[str, ...]
    max_upload: int = 8 << 30
    arm_quota: int = ARM_QUOTA  # switches one network may arm an hour (0: no quota)
    peer_wait: int = 600  # a switch with several servers: how long peers have to answer
    clock_offset: int = 0  # seconds the engine's wall clock runs ahead (tests only)

    @classmethod
    def load(
        cls,
        *,
        data_dir: Path | None = None,
        db: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
    ) -> Settings:
        folder = data_dir or Path(os.environ.get("AFTERWORD_DATA_DIR") or default_data_dir())
        operator = os.environ.get("AFTERWORD_OPERATOR", "")
        return cls(
            data_dir=folder,
            database_url=db
            or os.environ.get("AFTERWORD_DATABASE_URL")
            or default_database_url(folder),
            public_url=os.environ.get("AFTERWORD_PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            smtp_url=os.environ.get("AFTERWORD_SMTP_URL") or None,
            min_duration=parse_duration(os.environ.get("AFTERWORD_MIN_DURATION", "1h")),
            operator=tuple(x for x in operator.split(",") if x),
            max_upload=parse_size(os.environ.get("AFTERWORD_MAX_UPLOAD", "8G")),
            arm_quota=parse_count(os.environ.get("AFTERWORD_ARM_QUOTA", str(ARM_QUOTA))),
            peer_wait=parse_duration(os.environ.get("AFTERWORD_PEER_WAIT", "10m")),
            clock_offset=parse_offset(os.environ.get("AFTERWORD_TEST_CLOCK_OFFSET") or "0"),
        )


def parse_count(text: str) -> int:
    """A whole number of at least 0 (AFTERWORD_ARM_QUOTA)."""
    if not text.strip().isdigit():
        raise AfterwordError(
            f"AFTERWORD_ARM_QUOTA is {text!r}, not a whole number",
            "set it to how many switches one network may arm an hour (0 for no quota)",
        )
    return int(text)


def parse_offset(text: str) -> int:
    """Whole seconds, of either sign (AFTERWORD_TEST_CLOCK_OFFSET): ``-3600``, ``+259200``."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise AfterwordError(
            f"AFTERWORD_TEST_CLOCK_OFFSET is {text!r}, not a whole number of seconds",
            "it is for tests only: unset it, or give whole seconds such as -3600 or 259200",
        )
    return int(text.strip())


def offset_clock(offset: int) -> Callable[[], int]:
    """The engine's wall clock (whole seconds, as ``now_seconds``), ``offset`` seconds ahead."""

    def clock() -> int:
        return int(time.time()) + offset

    return clock


def parse_size(text: str) -> int:
    """Bytes from ``500M``, ``8G``, ``1048576`` (binary units)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().rstrip("IB") or "0", ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    if not number.isdigit() or int(number) <= 0:
        raise AfterwordError(
            f"cannot read the size {text!r}", "write bytes, or a number with K, M, G or T"
        )
    return int(number) * units[unit]


def proxy_options(trusted_proxies: Sequence[str] = ()) -> dict[str, Any]:
    """uvicorn's settings for X-Forwarded-For and X-Forwarded-Proto. By default no proxy is
    trusted (uvicorn's own default trusts 127.0.0.1): lockouts count guesses per network,
    and a client that could name its own address in a header would never be locked out.
    Behind a reverse proxy, name it (``afterword serve --trusted-proxy ADDR``)."""
    if not trusted_proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": ""}
    return {"proxy_headers": True, "forwarded_allow_ips": list(trusted_proxies)}


LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message`` and, for an error with one, ``exception`` (its traceback). The message is
    the record's own text: afterword's log lines name ids, origins and outcomes, never a
    body, a password, a key or a webhook's secret (see ``afterword.delivery``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def configure_logging(log_format: str = "text") -> None:
    """The server's logs on stderr: ``text`` (time, logger, message) or ``json``
    (:class:`JsonFormatter`), everything at INFO and above, uvicorn's too."""
    if log_format not in LOG_FORMATS:
        raise AfterwordError(
            f"--log-format {log_format!r} is not one afterword knows",
            "use --log-format text (the default) or --log-format json",
        )
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100`` for IPv6) of ``--metrics-address``."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise AfterwordError(
            f"--metrics-address {text!r} is not HOST:PORT",
            "give an address only the monitoring can reach, e.g. --metrics-address 127.0.0.1:9100",
        )
    return host, int(port)


def build_engine(settings: Settings) -> Engine:
    store = Store(settings.database_url)
    store.migrate()
    keys = ServerKeys.load_or_create(settings.data_dir)
    config = Config(
        data_dir=settings.data_dir,
        public_url=settings.public_url,
        min_duration=settings.min_duration,
        operator=settings.operator,
        max_upload=settings.max_upload,
        arm_quota=settings.arm_quota,
        peer_wait=settings.peer_wait,
    )
    if not settings.clock_offset:
        return Engine(store, keys, config)
    # The breaker compares how far the wall clock moved between two passes with how far
    # the boot clock moved. A constant offset adds the same to both ends of the wall
    # clock's span, so it is no jump; but an engine given its own clock and no
    # ``monotonic`` takes that clock as its own reference and would never see a real
    # jump (of the machine's clock under the offset), so the boot clock is named here.
    return Engine(
        store, keys, config, clock=offset_clock(settings.clock_offset), monotonic=boot_seconds
    )


def build_sender(settings: Settings) -> Dispatcher:
    mailer = Mailer(MailConfig.from_url(settings.smtp_url)) if settings.smtp_url else None
    if mailer is None:
        log.warning("no AFTERWORD_SMTP_URL: mail cannot be delivered (webhooks still work)")
    return Dispatcher(mailer, WebhookSender())


def start_worker(engine: Engine, settings: Settings, interval: float = 1.0) -> threading.Event:
    from afterword.worker.loop import run

    stop = threading.Event()
    sender = build_sender(settings)
    thread = threading.Thread(
        target=run, args=(engine, sender, stop, interval), name="afterword-worker", daemon=True
    )
    thread.start()
    return stop
