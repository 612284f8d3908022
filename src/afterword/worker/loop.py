"""The worker loop: tick due switches, deliver the outbox, forever, surviving errors.

Any number of workers may run against PostgreSQL (claims skip each other's rows); on
SQLite one is enough. A failing pass (database restarting, mail server down) is logged
and retried on the next pass: the loop itself never dies of it.
"""

from __future__ import annotations

import logging
import threading

from afterword.delivery import Sender
from afterword.engine import Engine

log = logging.getLogger("afterword.worker")


def run_once(engine: Engine, sender: Sender) -> None:
    report = engine.tick()
    if report.processed or report.held:
        log.info("ticked %d switch(es), %d held", report.processed, len(report.held))
    engine.dispatch(sender)


def run(engine: Engine, sender: Sender, stop: threading.Event, interval: float = 1.0) -> None:
    log.info("worker started")
    while not stop.is_set():
        try:
            run_once(engine, sender)
        except Exception:
            log.exception("worker pass failed; retrying")
        stop.wait(interval)
    log.info("worker stopped")
