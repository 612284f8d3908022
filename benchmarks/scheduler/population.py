"""The benchmark's armed population: one real sealed bundle as the template, N switches
bulk-inserted with their audit entries, and the re-arm that makes the due crowd.

Separate from the workers and the scenarios: it writes rows straight into the database,
as no server would, to build a million switches in minutes.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scheduler import DAY, INSERT_BATCH, LEAD, BenchError, log


@dataclass(frozen=True)
class Template:
    """What every benchmark switch carries: the documents of one real sealed bundle."""

    owner_key: str
    manifest: str
    notice: str
    custodians: str
    contacts: str
    dossier_sha256: str
    dossier_size: int


def make_template() -> Template:
    """Seal a tiny real bundle once; every row carries its (real-sized) signed documents."""
    import pyrage

    from afterword.crypto.bundle import Custodian, seal_bundle
    from afterword.crypto.keys import OwnerKey

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "evidence"
        src.mkdir()
        (src / "ledger.csv").write_text("date,amount\n2024-01-01,100\n")
        recipients = [str(pyrage.x25519.Identity.generate().to_public()) for _ in range(2)]
        owner = OwnerKey.generate()
        custodians = [
            Custodian("alice", recipients[0]),
            Custodian("bob", recipients[1]),
            Custodian("carol", "paper"),
        ]
        result = seal_bundle([src], Path(tmp) / "bundle", owner, custodians, 2)
        bundle = result.bundle
        manifest = json.loads((bundle / "manifest.json").read_text())
        return Template(
            owner_key=owner.public_key,
            manifest=json.dumps(manifest),
            notice=json.dumps(json.loads((bundle / "notice.json").read_text())),
            custodians=json.dumps(json.loads((bundle / "custodians.json").read_text())),
            contacts=json.dumps(
                {
                    "owner": ["mailto:owner@example.org"],
                    "custodians": {
                        "alice": "mailto:alice@example.org",
                        "bob": "mailto:bob@example.org",
                        "carol": "mailto:carol@example.org",
                    },
                    "recipients": ["mailto:press@example.org"],
                }
            ),
            dossier_sha256=hashlib.sha256((bundle / "dossier.age").read_bytes()).hexdigest(),
            dossier_size=int(manifest["dossier"]["size"]),
        )


def policy() -> Any:
    from afterword.switch.policy import Policy

    # no grace: a switch's deadline is also its trigger, the heaviest tick transition short
    # of a release (overdue + triggered audit entries, one message per custodian)
    return Policy(interval=DAY, grace=0, waiting=DAY)


class StateCache:
    """Armed-state JSON by deadline: the background population shares 86,400 of them."""

    def __init__(self) -> None:
        from afterword.switch.codec import state_to_json
        from afterword.switch.machine import arm, replace

        self._arm, self._to_json, self._replace = arm, state_to_json, replace
        self._policy = policy()
        self._cache: dict[int, tuple[str, str]] = {}

    def own(self, deadline: int, checkins: int) -> str:
        """State JSON of one switch due at ``deadline`` that has checked in ``checkins``
        times: a text no other switch shares (not cached)."""
        state, _ = self._arm(self._policy, 2, deadline - DAY)
        state = self._replace(state, checkins=checkins, last_checkin=deadline - DAY)
        return json.dumps(self._to_json(state))

    def __call__(self, deadline: int) -> tuple[str, str]:
        """(state JSON, detail of the 'armed' audit entry) for a switch due at ``deadline``."""
        hit = self._cache.get(deadline)
        if hit is None:
            state, effects = self._arm(self._policy, 2, deadline - DAY)
            assert state.next_event_at == deadline
            hit = (json.dumps(self._to_json(state)), effects[0].detail)
            if len(self._cache) < 200_000:
                self._cache[deadline] = hit
        return hit


@dataclass
class Population:
    n: int
    due_ids: list[str]  # the switches the scenarios re-arm, spread through the table
    insert_seconds: float = 0.0
    build_seconds: float = 0.0
    size_bytes: int = 0
    lead: int = LEAD  # seconds from the start of a re-arm to the first deadline


def insert_population(
    store: Any, n: int, due: int, template: Template, history: float
) -> Population:
    """N armed switches (+ their 'armed' audit entry), deadlines spread over a day, and
    ``history`` delivered outbox messages per switch (a server that has been running)."""
    import sqlalchemy as sa

    from afterword.crypto.audit import GENESIS, entry_hash
    from afterword.store.models import AuditRow, OutboxRow, SwitchRow

    states = StateCache()
    base = int(time.time())
    every = round(1 / history) if history > 0 else 0
    first = base + 3600  # none of the background falls due while the benchmark runs
    stride = max(1, n // due)
    pop = Population(n, [])
    switches_t, audit_t, outbox_t = SwitchRow.__table__, AuditRow.__table__, OutboxRow.__table__
    reported = 0
    for start in range(0, n, INSERT_BATCH):
        t_build = time.perf_counter()
        rows, entries, messages = [], [], []
        for i in range(start, min(n, start + INSERT_BATCH)):
            sid = secrets.token_hex(16)  # rows only: no bundle, so no derived id
            if i % stride == 0 and len(pop.due_ids) < due:
                pop.due_ids.append(sid)
            deadline = first + (i * DAY) // n
            state, detail = states(deadline)
            entry = {"switch": sid, "seq": 1, "at": base, "kind": "armed", "detail": detail}
            head = entry_hash(GENESIS, entry)
            rows.append(_switch_row(sid, deadline, state, head, base, template))
            entries.append({**entry, "switch_id": sid, "prev": GENESIS, "hash": head})
            del entries[-1]["switch"]
            if every and i % every == 0:
                messages.append(_delivered_reminder(sid, deadline, base))
        t_insert = time.perf_counter()
        with store.engine.begin() as c:
            c.execute(sa.insert(switches_t), rows)
            c.execute(sa.insert(audit_t), entries)
            if messages:
                c.execute(sa.insert(outbox_t), messages)
        t_done = time.perf_counter()
        pop.build_seconds += t_insert - t_build
        pop.insert_seconds += t_done - t_insert
        done = start + len(rows)
        if done - reported >= max(100_000, n // 10) or done == n:
            reported = done
            log(
                f"  {done:,} / {n:,} inserted, {done / pop.insert_seconds:,.0f} switches/s "
                f"(database time; building rows took {pop.build_seconds:.1f} s)"
            )
    if len(pop.due_ids) < due:
        raise BenchError(f"only {len(pop.due_ids)} switches to make due; use more --switches")
    return pop


def _switch_row(
    sid: str, deadline: int, state: str, head: str, base: int, template: Template
) -> dict[str, Any]:
    """One armed switch's row, carrying the template's signed documents."""
    return {
        "id": sid,
        "owner_key": template.owner_key,
        "phase": "armed",
        "next_event_at": deadline,
        "held": False,
        "state": state,
        "manifest": template.manifest,
        "notice": template.notice,
        "custodians": template.custodians,
        "contacts": template.contacts,
        "dossier_sha256": template.dossier_sha256,
        "dossier_size": template.dossier_size,
        "created_at": base,
        "updated_at": base,
        "audit_seq": 1,  # the chain's tail, as the row holds it
        "audit_head": head,
    }


def _delivered_reminder(sid: str, deadline: int, base: int) -> dict[str, Any]:
    """A reminder delivered a day ago: the outbox history of a server that has been running."""
    return {
        "id": f"remind-{sid}-{deadline - DAY}-due-{base - DAY}",
        "switch_id": sid,
        "to": "mailto:owner@example.org",
        "subject": "afterword: check-in due",
        "body": f"Your switch {sid} needs a check-in. Check in with:\n\n"
        f"  afterword checkin --server https://example.org --owner-key "
        f"YOUR-KEY --switch {sid}\n",
        "data": json.dumps({"switch": sid, "event": "reminder-due"}),
        "created_at": base - DAY,
        "attempts": 1,
        "next_attempt_at": None,
        "delivered_at": base - DAY,
        "last_error": None,
    }


def rearm(store: Any, ids: list[str], deadlines: list[int]) -> float:
    """Put the due set back to 'armed' with new deadlines; returns the seconds it took.

    Each switch gets a state of its own (its own count of check-ins, as in a real
    population), not one shared by every switch due on the same second: shared texts would
    let the engine's cache of parsed states serve a whole burst from one parse."""
    import sqlalchemy as sa

    from afterword.store.models import SwitchRow

    states = StateCache()
    table = SwitchRow.__table__
    now = int(time.time())
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values(
            state=sa.bindparam("b_state"),
            next_event_at=sa.bindparam("b_next"),
            phase="armed",
            held=False,
            updated_at=now,
        )
    )
    params = [
        {"b_id": sid, "b_state": states.own(d, j + 1), "b_next": d}
        for j, (sid, d) in enumerate(zip(ids, deadlines, strict=True))
    ]
    started = time.perf_counter()
    with store.engine.begin() as c:
        for k in range(0, len(params), INSERT_BATCH):
            c.execute(stmt, params[k : k + INSERT_BATCH])
    return time.perf_counter() - started


def rehearse(store: Any, population: Population) -> int:
    """Re-arm the due set once with nothing falling due, and return a lead (seconds from a
    re-arm's start to its first deadline) twice as long as that took. A scenario's re-arm
    that ran past its first deadline would make the workers wait for the benchmark, and
    its rate and lags would count the wait: on 1,000,000 switches here it took 6 s, three
    times the old fixed lead of 2 s."""
    later = int(time.time()) + DAY
    seconds = rearm(store, population.due_ids, [later] * len(population.due_ids))
    lead = max(LEAD, math.ceil(2 * seconds))
    log(f"  re-arming {len(population.due_ids):,} switches took {seconds:.2f} s: lead {lead} s")
    return lead
