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


def run_once(engine: Engine, sender: Sender) -> bool:
    """One pass; True if there may be more due work right away (a full batch)."""
    report = engine.tick()
    if report.processed or report.held:
        log.info("ticked %d switch(es), %d held", report.processed, len(report.held))
    sent = engine.dispatch(sender)
    return report.processed >= engine.config.batch or sent > 0


def run(engine: Engine, sender: Sender, stop: threading.Event, interval: float = 1.0) -> None:
    """Pass after pass; a busy pass is followed at once, an idle one after ``interval``."""
    log.info("worker started")
    while not stop.is_set():
        busy = False
        try:
            busy = run_once(engine, sender)
        except Exception:
            log.exception("worker pass failed; retrying")
        if not busy:
            stop.wait(interval)
    log.info("worker stopped")
