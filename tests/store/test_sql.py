"""store/sql.py: Core statements on the driver answer as SQLAlchemy's own execution does."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from afterword.store import Store, sql
from afterword.store.models import NonceRow, OutboxRow, SwitchRow

SWITCHES = SwitchRow.__table__
OUTBOX = OutboxRow.__table__
NONCES = NonceRow.__table__

INSERT_SWITCH = sa.insert(SWITCHES)
SWITCH_BY_ID = sa.select(
    SWITCHES.c.id, SWITCHES.c.held, SWITCHES.c.next_event_at, SWITCHES.c.decoy_cut
).where(SWITCHES.c.id == sa.bindparam("id"))
COUNT = sa.select(sa.func.count(), sa.func.min(SWITCHES.c.created_at))
HOLD = sa.update(SWITCHES).where(SWITCHES.c.id == sa.bindparam("b_id")).values(held=True)
HOLD_SOME = (
    sa.update(SWITCHES)
    .where(SWITCHES.c.id.in_(sa.bindparam("ids", expanding=True)))
    .values(next_event_at=sa.bindparam("at"))
)
INSERT_NONCE = sa.insert(NONCES)


def switch(i: int, **values: Any) -> dict[str, Any]:
    return {
        "id": f"s{i}",
        "owner_key": "k",
        "phase": "armed",
        "next_event_at": 100 + i,
        "held": False,
        "state": "{}",
        "manifest": "{}",
        "notice": "{}",
        "custodians": "{}",
        "contacts": "{}",
        "dossier_sha256": "0" * 64,
        "dossier_size": 1,
        "created_at": 10 + i,
        "updated_at": 10 + i,
        "audit_seq": 0,
        "audit_head": "0" * 64,
        **values,
    }


def test_rows_and_types_are_sqlalchemys(store: Store) -> None:
    with store.engine.begin() as c:
        assert sql.run_many(c, INSERT_SWITCH, [switch(i) for i in range(3)]) == 3
        assert sql.run(c, HOLD, {"b_id": "s1"}).rowcount == 1
    with store.engine.begin() as c:
        for i in range(3):
            ours = sql.run(c, SWITCH_BY_ID, {"id": f"s{i}"}).one()
            theirs = c.execute(SWITCH_BY_ID, {"id": f"s{i}"}).one()
            assert tuple(ours) == tuple(theirs)
            assert ours.held is (i == 1)  # a bool on SQLite too, not 0/1
            assert ours.decoy_cut is None and ours.next_event_at == 100 + i
            assert ours._asdict()["id"] == f"s{i}"
        assert sql.run(c, SWITCH_BY_ID, {"id": "nope"}).one_or_none() is None
        assert tuple(sql.run(c, COUNT).one()) == (3, 10)


def test_in_lists_and_executemany_count_the_rows_they_change(store: Store) -> None:
    with store.engine.begin() as c:
        sql.run_many(c, INSERT_SWITCH, [switch(i) for i in range(5)])
        assert sql.run(c, HOLD_SOME, {"ids": ["s0"], "at": 7}).rowcount == 1
        assert sql.run(c, HOLD_SOME, {"ids": ["s1", "s2", "s9"], "at": 8}).rowcount == 2
        assert sql.run_many(c, HOLD, [{"b_id": f"s{i}"} for i in (3, 4, 9)]) == 2
        got = c.execute(sa.select(SWITCHES.c.id, SWITCHES.c.next_event_at, SWITCHES.c.held))
        assert sorted(tuple(r) for r in got) == [
            ("s0", 7, False), ("s1", 8, False), ("s2", 8, False), ("s3", 103, True),
            ("s4", 104, True),
        ]  # fmt: skip


def test_statements_run_in_sqlalchemys_transaction(store: Store) -> None:
    """Begun if none is (as SQLAlchemy's autobegin), and rolled back with it."""
    with store.engine.connect() as c:
        sql.run(c, INSERT_SWITCH, switch(1))
        assert c.in_transaction()
        c.rollback()
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(SWITCHES)).scalar() == 0
        sql.run(c, INSERT_SWITCH, switch(2))
        c.commit()
    with store.engine.connect() as c:
        assert c.execute(sa.select(SWITCHES.c.id)).scalars().all() == ["s2"]


def test_the_engines_listeners_hear_what_the_driver_runs(store: Store) -> None:
    heard: list[tuple[str, Any]] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: heard.append((a[2], a[3])))
    with store.engine.begin() as c:
        sql.run_many(c, INSERT_SWITCH, [switch(1), switch(2)])
        sql.run(c, SWITCH_BY_ID, {"id": "s1"})
        sql.run(c, HOLD_SOME, {"ids": ["s1", "s2"], "at": 5})
    ours = [text for text, _ in heard if "switches" in text]
    assert len(ours) == 3
    assert ours[0].startswith("INSERT INTO switches") and len(heard[-3][1]) == 2  # two rows
    assert ours[1].startswith("SELECT switches.id")
    assert ours[2].startswith("UPDATE switches")
    sent = heard[-1][1]  # the IN list, expanded: each id its own parameter
    assert sorted(v for v in (sent.values() if isinstance(sent, dict) else sent) if v != 5) == [
        "s1",
        "s2",
    ]


def test_a_driver_error_is_sqlalchemys_and_hides_the_parameters(store: Store) -> None:
    secret = "AGE-SECRET-KEY-1NEVERINALOG"
    with store.engine.begin() as c:
        sql.run(c, INSERT_SWITCH, switch(1))
    with pytest.raises(sa.exc.IntegrityError) as caught, store.engine.begin() as c:
        sql.run(c, INSERT_SWITCH, switch(1, state=secret))
    assert secret not in str(caught.value)
    assert "INSERT INTO switches" in str(caught.value)
    with store.engine.connect() as c:  # nothing half-written, and the pool still works
        assert c.execute(sa.select(SWITCHES.c.state)).scalars().all() == ["{}"]


def test_a_nonce_spent_twice_is_found_by_returning(store: Store) -> None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING, as repository.spend_nonce sends it."""
    from afterword.store import repository as repo

    with store.transaction() as s:
        s.connection().execute(sa.insert(SWITCHES), switch(1))
        assert repo.spend_nonce(s, "s1", "n1", 99) is True
        assert repo.spend_nonce(s, "s1", "n1", 99) is False
        assert repo.purge_nonces(s, 100) == 1


def test_a_column_left_to_its_python_default_is_refused_by_name(store: Store) -> None:
    """Python-side defaults are SQLAlchemy's to compute; here they must be given."""
    values = switch(1)
    del values["audit_seq"]
    with pytest.raises(ValueError, match="audit_seq"), store.engine.begin() as c:
        sql.run(c, INSERT_SWITCH, values)


def test_a_missing_parameter_is_named_and_a_statements_own_values_are_sent(store: Store) -> None:
    """The statement's literal values (``.like("%-x")``, ``.values(held=True)``) travel
    with it; a parameter the caller must give and did not is refused by its name."""
    with store.engine.begin() as c:
        sql.run_many(c, INSERT_SWITCH, [switch(1), switch(2, phase="overdue")])
        like = sa.select(SWITCHES.c.id).where(SWITCHES.c.phase.like("over%"))
        assert sql.run(c, like).scalars() == ["s2"]
        with pytest.raises(sa.exc.InvalidRequestError, match="'b_id'"):
            sql.run(c, HOLD, {"id": "s1"})
