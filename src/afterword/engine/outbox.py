"""The outbox: sending what the transactions wrote, after they committed.

Messages are leased before they are sent (so no send happens inside a lock), the switches
take turns, and each outcome is a transaction of its own; a failed message waits
``_BACKOFF``. Separate because it is the one place mail and webhooks leave, exactly once
in effect (the same id on a retry).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from typing import Any

from afterword.delivery import Message, PermanentError, Sender, TransientError
from afterword.engine.context import Context
from afterword.engine.metrics import DELIVERIES, channel
from afterword.store import repository as repo

log = logging.getLogger("afterword.engine")


LEASE = 300  # seconds a claimed outbox row is left alone while it is being sent


MAX_BACKOFF = 6 * 3600


# a failed message is tried again after 30 s, doubling with each attempt up to MAX_BACKOFF
# (by its attempts so far: 1, 2, ...; every attempt past the last waits MAX_BACKOFF too)
_BACKOFF = tuple(min(MAX_BACKOFF, 30 * 2**attempts) for attempts in range(11))


def dispatch(ctx: Context, sender: Sender, limit: int = 50, pool: Executor | None = None) -> int:
    """Send due outbox messages; lease them first so no send happens inside a lock.

    The lease and each message's outcome are transactions of their own, on one
    connection kept for the pass (none is open while a message is sent): taking a
    connection from the pool and giving it back cost as much as a transaction.

    The leased messages are sent taking the switches in turn (each switch's first
    message, then each one's second, ...), so one switch with many recipients does not
    put the others' mail behind all of its own. With a ``pool`` of N threads they are
    sent N at a time (outcomes still written here, in order): if every send ends within
    D (the webhook deadline; the mailer's timeouts), a pass ends within
    ceil(limit / N) * D, and a message of a switch among the first N in the pass's
    turn order is on its way at once, whatever the other switches' recipients do.
    Without a pool they are sent one by one on this thread (tests, the simulation)."""
    now = ctx.clock()
    sent = 0
    with ctx.store.connect() as c:  # rows, not objects: Core alone
        with c.begin():
            rows = repo.lease_outbox(c, now, limit, now + LEASE)
            leased = [(r.id, _message(r)) for r in _in_turn(rows)]

        def attempt(item: tuple[str, Message]) -> Exception | None:
            message_id, message = item
            try:
                sender.send(message)
            except (TransientError, PermanentError) as exc:
                return exc
            except Exception as exc:  # a bug in a sender: retry later, like a transient
                log.exception("sending message %s failed unexpectedly", message_id)
                return TransientError(f"unexpected {exc.__class__.__name__}", message_id=message_id)
            return None

        outcomes = map(attempt, leased) if pool is None else pool.map(attempt, leased)
        for (message_id, message), error in zip(leased, outcomes, strict=True):
            with c.begin():
                if error is None:
                    repo.outbox_delivered(c, message_id, ctx.clock())
                    sent += 1
                    outcome = "delivered"
                elif isinstance(error, PermanentError):
                    repo.outbox_given_up(c, message_id, f"permanent: {error}")
                    log.error("gave up on message %s: %s", message_id, error)
                    outcome = "given_up"
                else:
                    repo.outbox_retry(c, message_id, ctx.clock(), str(error), _BACKOFF)
                    outcome = "retried"
            DELIVERIES.labels(outcome, channel(message.to)).inc()
    return sent


def _in_turn(rows: Sequence[Any]) -> list[Any]:
    """``rows`` with their switches taking turns: every switch's first row (in the order
    the switches first appear), then every switch's second, and so on."""
    by_switch: dict[str, list[Any]] = {}
    for row in rows:
        by_switch.setdefault(row.switch_id, []).append(row)
    queues = list(by_switch.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def _message(row: Any) -> Message:
    """The message an outbox row (its id, to, subject, body and data) holds."""
    return Message(row.id, row.to, row.subject, row.body, json.loads(row.data))
