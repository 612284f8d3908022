"""The worker loop: tick due switches, deliver the outbox, forever, surviving errors.

Any number of workers may run against PostgreSQL (claims skip each other's rows); on
SQLite one is enough. A failing pass (database restarting, mail server down) is logged
and retried on the next pass: the loop itself never dies of it.

The scheduler never waits for delivery: :func:`run` ticks on its own thread and sends the
outbox on another, so a recipient that holds a send (a webhook trickling its answer, up to
the webhook deadline; a mail server slow to answer) delays no switch's deadline, grace end
or release. :func:`run_once` does both in turn on the caller's thread, for tests and the
simulation, which step virtual time themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from afterword.delivery import Sender
from afterword.engine import Engine, TickReport
from afterword.engine.context import Heartbeat
from afterword.engine.metrics import observe_tick

log = logging.getLogger("afterword.worker")


def run_once(engine: Engine, sender: Sender) -> bool:
    """One pass; True if there may be more due work right away (a full batch).

    The outbox is dispatched even when the tick fails (issue 15, item 1): a failing tick
    (the database away, or a bug) never keeps the mail that is already due from leaving;
    the tick's error is raised after, for the loop to log and retry."""
    try:
        report = timed_tick(engine)
    except Exception:
        engine.dispatch(sender)
        raise
    _log_tick(report)
    sent = engine.dispatch(sender)
    return report.processed >= engine.config.batch or sent > 0


def timed_tick(engine: Engine) -> TickReport:
    """``engine.tick()``, its duration and lag counted for ``/metrics``, and the pass
    noted on the process's heartbeat (if a worker runs here) for ``/healthz``."""
    started = time.perf_counter()
    report = engine.tick()
    observe_tick(time.perf_counter() - started, report.lag)
    if engine.ctx.heartbeat is not None:
        engine.ctx.heartbeat.passed()
    return report


def _log_tick(report: TickReport) -> bool:
    """Log a pass that did something; True if it did (it may have written mail)."""
    if not (report.processed or report.held or report.quarantined):
        return False
    log.info(
        "ticked %d switch(es), %d held, %d quarantined",
        report.processed,
        len(report.held),
        len(report.quarantined),
    )
    return True


MIN_WAIT = 0.05
"""The shortest idle wait: work due now that a pass did not take (another worker holds
it) is looked at again this soon, not in a busy loop."""


DELIVERY_THREADS = 8
"""Messages one worker sends at a time: a pass of ``Engine.dispatch``'s 50 ends within
7 webhook deadlines (3.5 min, inside the 5 min lease), and a switch's message waits for
no other switch's hanging recipients while fewer than 8 switches are ahead of it in the
pass (see :meth:`Engine.dispatch`)."""

DELIVERY_JOIN = 60.0
"""How long a stopping worker waits for the delivery thread to finish the send in flight
(a webhook ends by its 30 s deadline); past that the daemon thread is left to end alone."""


def run(engine: Engine, sender: Sender, stop: threading.Event, interval: float = 1.0) -> None:
    """Pass after pass; a busy pass is followed at once, an idle one when the next switch
    or message falls due, or after ``interval`` at the latest.

    Ticks run here; the outbox is sent by a thread of its own (:func:`deliver`), started
    and stopped with this loop and woken whenever a tick wrote work."""
    log.info("worker started")
    beat = engine.ctx.heartbeat = Heartbeat()
    wake = threading.Event()
    delivery = threading.Thread(
        target=deliver,
        args=(engine, sender, stop, interval, wake),
        name="afterword-delivery",
        daemon=True,
    )
    delivery.start()
    try:
        while not stop.is_set():
            try:
                report = timed_tick(engine)
            except Exception:
                log.exception("worker pass failed; retrying")
                stop.wait(interval)  # (a lasting failure is logged once an interval, no faster)
                continue
            if _log_tick(report):
                wake.set()  # the tick may have written mail: send it now, not at the next poll
            if report.processed < engine.config.batch:
                stop.wait(idle_wait(engine, interval, messages=False))
    finally:
        beat.stopped = True
        wake.set()
        delivery.join(DELIVERY_JOIN)
    log.info("worker stopped")


def deliver(
    engine: Engine,
    sender: Sender,
    stop: threading.Event,
    interval: float = 1.0,
    wake: threading.Event | None = None,
) -> None:
    """Send the outbox until ``stop``: a full pass is followed at once, an idle one when the
    next message falls due, when ``wake`` is set, or after ``interval`` at the latest. A
    failing pass is logged and retried an interval on. Sends go :data:`DELIVERY_THREADS`
    at a time."""
    wake = wake if wake is not None else threading.Event()
    with ThreadPoolExecutor(DELIVERY_THREADS, thread_name_prefix="afterword-send") as pool:
        while not stop.is_set():
            try:
                sent = engine.dispatch(sender, pool=pool)
            except Exception:
                log.exception("delivery pass failed; retrying")
                stop.wait(interval)
                continue
            if sent:
                continue
            wake.wait(idle_wait(engine, interval, switches=False))
            wake.clear()


def idle_wait(
    engine: Engine,
    interval: float,
    wall: Callable[[], float] = time.time,
    *,
    switches: bool = True,
    messages: bool = True,
) -> float:
    """How long an idle worker sleeps: until the next due instant (of a switch, a message,
    or only the one asked for), at most ``interval``.

    Sleeping a fixed ``interval`` made a deadline wait up to that long for the next pass
    (with two workers in step, p99 lags of 1.07 s at a 1 s interval). The engine's clock
    counts whole seconds (``int(time.time())``): a deadline at second T is due from the
    wall-clock instant T, so the wait is T less the current wall-clock time."""
    try:
        due = engine.next_due(switches, messages)
    except Exception:  # the database is away: the next pass will say so, and log it
        return interval
    if due is None:
        return interval
    now = engine.clock()
    if due <= now:
        return MIN_WAIT
    return min(interval, max(MIN_WAIT, due - now - wall() % 1))
