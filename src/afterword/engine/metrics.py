"""Health and metrics: what ``/healthz`` answers and what ``/metrics`` counts.

Two kinds of numbers, neither with a switch id, an address or anything of one person in it
(labels are a state, an outcome, a channel or a kind, from short fixed lists):

- events this process saw, counted as they happen (:data:`DELIVERIES`, :data:`REFUSED`,
  :data:`BREAKER_HOLDS`, :data:`TICK_SECONDS`, :data:`TICK_LAG`): per process, as
  Prometheus counts them, so each ``afterword serve`` and ``afterword worker`` shows its own;
- the database's state, read when Prometheus scrapes (:class:`DatabaseCollector`): a few
  aggregate queries (``repository.stats``), the same from any process.

The counters belong to no registry of prometheus-client's own (nothing is exposed unless
the operator asks, ``--metrics-address``): :func:`registry` gathers them with one
engine's database numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

from afterword.engine.context import Context, Heartbeat
from afterword.store import repository as repo
from afterword.switch.state import Phase

log = logging.getLogger("afterword.engine")

DELIVERIES = Counter(
    "afterword_deliveries",
    "Outbox delivery attempts by outcome (delivered, retried, given_up) and channel.",
    ["outcome", "channel"],
    registry=None,
)
REFUSED = Counter(
    "afterword_refused_requests",
    "Requests refused, by kind (the answer's reason: forbidden, locked, too_large, ...).",
    ["kind"],
    registry=None,
)
BREAKER_HOLDS = Counter(
    "afterword_breaker_holds",
    "Switches the mass-trigger breaker held for the operator.",
    registry=None,
)
TICK_SECONDS = Histogram(
    "afterword_tick_duration_seconds",
    "How long a scheduler pass took.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
TICK_LAG = Histogram(
    "afterword_tick_lag_seconds",
    "How late a pass took the longest-waiting due switch (whole seconds past its due time).",
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    registry=None,
)

CHANNELS = {"mailto": "mail", "http": "webhook", "https": "webhook", "peer": "peer"}


def channel(to: str) -> str:
    """The channel of a recipient, by its scheme only (never more of the address)."""
    return CHANNELS.get(to.partition(":")[0].lower(), "other")


REFUSAL_KINDS = {
    400: "malformed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method",
    409: "conflict",
    410: "gone",
    413: "too_large",
    415: "media_type",
    422: "invalid",
    425: "too_early",
    429: "locked",
}


def refused(status: int) -> None:
    """Count a request answered with ``status``, if it is a refusal (4xx)."""
    if 400 <= status < 500:
        REFUSED.labels(REFUSAL_KINDS.get(status, "other")).inc()


def observe_tick(seconds: float, lag: int) -> None:
    TICK_SECONDS.observe(seconds)
    TICK_LAG.observe(lag)


class DatabaseCollector(Collector):
    """The gauges read from the database at scrape time (see ``repository.stats``), and
    this process's worker's pulse. A database that does not answer is
    ``afterword_database_up 0`` and nothing more, never a failed scrape."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        now = self.ctx.clock()
        try:
            with self.ctx.store.connection() as c:
                stats = repo.stats(c, now, now - self.ctx.config.peer_silence)
        except Exception as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            yield GaugeMetricFamily("afterword_database_up", "The database answered.", 0)
            return
        yield GaugeMetricFamily("afterword_database_up", "The database answered.", 1)
        phases = GaugeMetricFamily("afterword_switches", "Switches by state.", labels=["state"])
        for phase in Phase:
            phases.add_metric([phase.value], stats.phases.get(phase.value, 0))
        yield phases
        yield _gauge("switches_due", "Switches due and not yet handled.", stats.due)
        yield _gauge(
            "switches_due_oldest_age_seconds",
            "How long the longest-waiting due switch has waited (0: none due).",
            _age(now, stats.oldest_due),
        )
        yield _gauge("switches_held", "Switches the breaker holds for the operator.", stats.held)
        yield _gauge(
            "switches_quarantined", "Switches taken out after their own step failed.",
            stats.quarantined,
        )  # fmt: skip
        yield _gauge("outbox_depth", "Messages not yet delivered nor given up.", stats.outbox)
        yield _gauge(
            "outbox_oldest_age_seconds",
            "Age of the oldest message not yet delivered (0: none waiting).",
            _age(now, stats.oldest_message),
        )
        yield _gauge(
            "peers_unreachable",
            "Other servers of running switches not heard from within AFTERWORD's peer "
            "silence (two days).",
            stats.peers_unreachable,
        )
        beat = self.ctx.heartbeat
        if beat is not None:
            yield _gauge(
                "worker_last_pass_age_seconds",
                "Seconds since this process's worker last finished a pass.",
                beat.age(),
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"afterword_{name}", documentation, value)


def _age(now: int, since: int | None) -> int:
    return 0 if since is None else max(0, now - int(since))


def registry(ctx: Context) -> CollectorRegistry:
    """A registry of this process's counters and ``ctx``'s database gauges, for one
    ``/metrics`` listener."""
    out = CollectorRegistry(auto_describe=False)
    for collector in (DELIVERIES, REFUSED, BREAKER_HOLDS, TICK_SECONDS, TICK_LAG):
        out.register(collector)
    out.register(DatabaseCollector(ctx))
    return out


STALE = 60.0
"""Seconds after which a worker's last pass is too long ago for ``/healthz``: a pass
starts at least every second (the worker's interval) and a full one of 500 switches
takes well under one (docs/benchmarks.md)."""


def health(ctx: Context) -> tuple[bool, str]:
    """Whether this process is well, and one line saying why (``/healthz``): the database
    answers, and the worker running here (if one does) finished a pass lately."""
    started = time.monotonic()
    try:
        with ctx.store.connection() as c:
            c.execute(text("SELECT 1"))
    except Exception as exc:
        return False, (
            f"the database does not answer ({type(exc).__name__}); see the server's log "
            "and check the database is up and AFTERWORD_DATABASE_URL is right"
        )
    took = (time.monotonic() - started) * 1000
    return _worker_health(ctx.heartbeat, f"database answered in {took:.0f} ms")


def _worker_health(beat: Heartbeat | None, db: str) -> tuple[bool, str]:
    if beat is None:
        return True, (
            f"ok: {db}; no worker runs in this process (--no-worker): each afterword "
            "worker answers /healthz for itself on its --metrics-address"
        )
    if beat.stopped:
        return False, f"the worker of this process has stopped ({db}); see the server's log"
    age = beat.age()
    if age > STALE:
        return False, (
            f"the worker's last pass ended {age:.0f} s ago, more than {STALE:.0f} s "
            f"({db}); see the server's log"
        )
    if beat.last is None:
        return True, f"ok: {db}; the worker started {age:.1f} s ago, no pass finished yet"
    return True, f"ok: {db}; the worker's last pass ended {age:.1f} s ago"
