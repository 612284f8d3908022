"""The scheduler: the worker's passes over due switches, and the breaker.

A tick claims a batch of due switches, decides each once, and holds those a jump of the
server's own wall clock made due (the breaker: ``clock_check``, ``jump_made``); each
switch's transition is isolated, so one that fails is quarantined alone. Also the
operator's answers (release-held, unquarantine) and when work is next due. Separate
because it is the worker's side, with the clocks and the batch.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from afterword.engine.apply import build_transition, decided
from afterword.engine.challenges import NONCE_TTL, SPENT_KEPT
from afterword.engine.context import Context, TickReport
from afterword.engine.errors import NotFound
from afterword.engine.lockout import ARM_WINDOW, LOCKOUT_WINDOW
from afterword.engine.mail_text import breaker_mail, held_mail, quarantine_mail
from afterword.engine.metrics import BREAKER_HOLDS
from afterword.engine.peers import ask_peers
from afterword.errors import AfterwordError
from afterword.store import repository as repo
from afterword.store.models import ArmRow, RefusalRow
from afterword.switch.machine import (
    Audit,
    Effect,
    Phase,
    PublishRelease,
    SubmitServerShares,
    SwitchState,
    Tick,
)

log = logging.getLogger("afterword.engine")


JUMP_KEPT = 86400  # seconds a clock jump's span is held against (see clock_check)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a tick holds its batch: every object a tick makes
    stays alive until it ends, so the collections its allocations set off (a fifth of its
    CPU time, measured) found nothing to free. Reference counting still frees as usual, and
    the collector runs again afterwards; if it was off already, it stays off."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def sweep(ctx: Context) -> int:
    """Delete the dossiers of disarmed switches that are still on disk: a process
    killed between a disarm's commit and the unlink leaves one behind. Every worker
    does this once, on its first pass. Returns how many it deleted."""
    with ctx.store.connection() as c:
        paths = [ctx.dossier_path(switch_id) for switch_id in repo.disarmed_ids(c)]
    left = [path for path in paths if path.exists()]
    for path in left:
        path.unlink(missing_ok=True)
        log.info("deleted the dossier %s of a disarmed switch", path.name)
    ctx.swept = True
    return len(left)


def tick(ctx: Context) -> TickReport:
    """One scheduler pass over due switches, with the mass-trigger breaker.

    The breaker keys on what no outsider can manufacture (issue 15, item 2): a jump of
    this server's own wall clock, seen against the boot clock between two passes. A
    switch is held when the jump is what makes it trigger: it triggers at the jumped
    time but not at the time the boot clock says it is. A crowd of switches armed to
    fall due in one minute is no jump, and holds nobody. Only a worker's first pass,
    which has no earlier reading to compare with, falls back to counting: more
    triggers than ``breaker_threshold`` in that pass are held, as a jump while no
    worker ran would make them. Held switches are told to their custodians and the
    operator."""
    if not ctx.swept:
        sweep(ctx)
    now = ctx.clock()
    first = clock_check(ctx, now)
    if now >= ctx.purge_at:  # spent challenges, long expired (see SPENT_KEPT)
        with ctx.store.transaction() as s:
            repo.purge_nonces(s, now - SPENT_KEPT)
            s.execute(delete(RefusalRow).where(RefusalRow.at <= now - LOCKOUT_WINDOW))
            s.execute(delete(ArmRow).where(ArmRow.at <= now - ARM_WINDOW))
        ctx.purge_at = now + NONCE_TTL
    if now >= ctx.peers_at:  # switches on several servers: are the others well?
        ask_peers(ctx, now)
        ctx.peers_at = now + min(60, ctx.config.peer_every)
    report = TickReport()
    with _gc_paused(), ctx.store.transaction() as s:
        rows = repo.claim_due(s, now, ctx.config.batch)
        if rows and rows[0].next_event_at is not None:  # (claimed oldest first)
            report.lag = max(0, now - rows[0].next_event_at)
        # each switch is decided once: the breaker counts those decisions, and the
        # ones it does not hold are stored as they are
        planned = []
        for row in rows:
            old = repo.state_of(row)
            planned.append((row, old, *decided(old, Tick(), now)))
        would_trigger = [(row, old) for row, old, new, _ in planned if _triggers(old, new.phase)]
        if first and len(would_trigger) > ctx.config.breaker_threshold:
            why = (
                f"{len(would_trigger)} switches would trigger in the first pass of a "
                "worker, which cannot tell a clock jump while no worker ran"
            )
            held_ids = {row.id for row, _ in would_trigger}
        else:
            why = "the server's wall clock jumped forward"
            held_ids = {row.id for row, old in would_trigger if jump_made(ctx, old, now)}
        held_rows = [row for row in rows if row.id in held_ids]
        repo.set_held(s, held_rows, True)
        transitions = []
        for row, old, new, effects in planned:
            if row.id in held_ids:
                transitions.append(
                    repo.Transition(
                        row, old, [Audit("held", why)], held_notices(ctx, row, why, now)
                    )
                )
                continue
            transition = isolated_transition(ctx, s, row, old, new, effects, now)
            transitions.append(transition)
            if row.quarantined_at is not None:  # its own failure, nobody else's
                report.quarantined.append(row.id)
                continue
            report.processed += 1
            report.triggered += transition.state.phase is Phase.TRIGGERED
        # the whole batch in a few statements, in this one transaction
        repo.record_many(s, transitions, now)
        if held_ids:
            report.held = sorted(held_ids)
            BREAKER_HOLDS.inc(len(held_ids))
            log.error("breaker: %d switches held for the operator: %s", len(held_ids), why)
            for message in breaker_mail(ctx.config.operator, report.held, why, now):
                repo.enqueue(s, held_rows[0].id, message, now)
    return report


def clock_check(ctx: Context, now: int) -> bool:
    """Read the boot clock beside the wall clock's ``now``; remember a forward jump
    between the last pass and this one. True on this engine's first pass."""
    mono = ctx.monotonic()
    last, ctx.last_pass = ctx.last_pass, (now, mono)
    if last is None:
        return True
    expected = last[0] + int(mono - last[1])  # where the wall clock should be
    if now - expected > ctx.config.clock_slack:
        log.error("the wall clock jumped %d s forward since the last pass", now - expected)
        ctx.jumps.append((expected, now))
    # a jump's crowd is due at once: a day on, every pass has long claimed it (and the
    # operator running release-held in a process of its own clears nothing here)
    ctx.jumps = [(start, end) for start, end in ctx.jumps if end > now - JUMP_KEPT]
    return False


def jump_made(ctx: Context, old: SwitchState, now: int) -> bool:
    """Whether a jump is what makes this switch trigger: it would at the far end of a
    jump (or now, if sooner), and would not at its near end."""
    return any(
        start < now
        and not _triggers(old, decided(old, Tick(), start)[0].phase)
        and _triggers(old, decided(old, Tick(), min(now, end))[0].phase)
        for start, end in ctx.jumps
    )


def held_notices(ctx: Context, row: repo.Switch, why: str, now: int) -> list[repo.Outgoing]:
    """Mail to a held switch's custodians (see :func:`mail_text.held_mail`)."""
    return held_mail(row, why, now, ctx.config.public_url)


def isolated_transition(
    ctx: Context,
    s: Session,
    row: repo.Switch,
    old: SwitchState,
    new: SwitchState,
    effects: list[Effect],
    now: int,
) -> repo.Transition:
    """A switch's transition in the tick, so that its failure stays its own (issue 15,
    item 1). The effects that read what the owner uploaded (the server's envelopes,
    the shares, combining them into the key) run in a savepoint: if they raise, that
    switch's writes are undone and it is quarantined, and the rest of the batch
    commits as usual. Errors of the database itself are not the switch's fault: they
    fail the pass, which is retried (the outbox is dispatched all the same)."""
    if not any(isinstance(e, SubmitServerShares | PublishRelease) for e in effects):
        return build_transition(ctx, s, row, new, effects, now)
    try:
        with s.begin_nested():
            return build_transition(ctx, s, row, new, effects, now)
    except DBAPIError:
        raise
    except Exception as exc:
        log.error("switch %s failed to move on and is quarantined", row.id, exc_info=True)
        return quarantine(ctx, s, row, old, exc, now)


def quarantine(
    ctx: Context, s: Session, row: repo.Switch, old: SwitchState, exc: Exception, now: int
) -> repo.Transition:
    """Take a switch whose own transition fails out of the scheduler (the typed
    ``quarantined_at``; its state stays as it was), and tell the operator and its
    custodians. Stable message ids: a retried pass does not mail twice."""
    repo.update_switch(s, row, quarantined_at=now)
    what = type(exc).__name__
    reason = str(exc.message) if isinstance(exc, AfterwordError) else what
    messages = quarantine_mail(
        row, old.phase, reason, what, now, ctx.config.public_url, ctx.config.operator
    )
    return repo.Transition(row, old, [Audit("quarantined", reason)], messages)


def unquarantine(ctx: Context, switch_id: str) -> bool:
    """The operator has looked at a quarantined switch: it is scheduled again (and, if
    it fails again, quarantined again). False if it was not quarantined."""
    now = ctx.clock()
    with ctx.store.transaction() as s:
        row = repo.get_switch(s, switch_id, lock=True)
        if row is None:
            raise NotFound(
                f"no switch {switch_id} on this server",
                "copy the switch id from the quarantine mail, and check the data "
                "directory or database is this server's",
            )
        if row.quarantined_at is None:
            return False
        repo.update_switch(s, row, quarantined_at=None)
        undone = [Audit("unquarantined", "by the operator")]
        repo.record(s, row, repo.state_of(row), undone, now)
        return True


def release_held(ctx: Context) -> int:
    """The operator confirms the clock is right: held switches move on now, past the
    breaker (which would otherwise hold the same crowd again on the next tick).

    Each switch moves on as in the tick, isolated: one whose release raises (a hostile
    switch held in the same crowd) is quarantined alone, and the others still move on;
    before, its error rolled the whole transaction back, every switch stayed held, and
    the operator could never release an honest victim held with it."""
    now = ctx.clock()
    with ctx.store.transaction() as s:
        rows = repo.held_switches(s)
        repo.set_held(s, rows, False)
        ctx.jumps.clear()  # the clock is confirmed: what it skipped is time that passed
        for row in rows:
            old = repo.state_of(row)
            repo.record(s, row, old, [Audit("unheld", "by the operator")], now)
            new, effects = decided(old, Tick(), now)
            transition = isolated_transition(ctx, s, row, old, new, effects, now)
            repo.record_many(s, [transition], now)
        return len(rows)


def next_due(ctx: Context, switches: bool = True, messages: bool = True) -> int | None:
    """When the worker next has work (the engine's clock, whole seconds), if ever: a
    switch to tick or a message to send, or only the one asked for."""
    with ctx.store.connection() as c:
        return repo.next_due(c, switches, messages)


def _triggers(old: SwitchState, new: Phase) -> bool:
    """Whether a decision moves a switch into triggered or releasing: what the breaker
    may hold."""
    return new in (Phase.TRIGGERED, Phase.RELEASING) and old.phase is not new
