"""The audit log and the outbox no longer carry a foreign key to their switch; disarmed
switches get a partial index.

Every row of either is written by ``repository.record_many`` (or ``create_switch``) in the
transaction that holds its switch's row locked, and switch rows are never deleted: the key
could only catch a bug that cannot reach it. Its price was paid on every write: PostgreSQL
checks each inserted row with a query of its own (``SELECT ... FOR KEY SHARE`` on the
switch), six for a switch that triggers (two audit entries, four messages): a quarter of
the database's work in a burst of triggers. The logs' integrity is the hash chain's (see
afterword.crypto.audit), and the outbox's the switch row's lock.

Every worker, when it starts, looks for dossiers of disarmed switches left on disk: that
query read the whole switches table (on 1,000,000 switches, 4 GB) before the first tick.
The index holds the disarmed switches only, so no other write pays for it.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("audit", "outbox")
# SQLite's foreign keys have no names: batch mode names them by this convention to find them
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
DISARMED = "phase = 'disarmed'"  # afterword.store.models.DISARMED, as it was when written


def upgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(f"{table}_switch_id_fkey", table, type_="foreignkey")
        else:  # (SQLite copies the table: nothing refers to these two)
            with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch:
                batch.drop_constraint(f"fk_{table}_switch_id_switches", type_="foreignkey")
    where = sa.text(DISARMED)
    op.create_index(
        "ix_switches_disarmed", "switches", ["id"], sqlite_where=where, postgresql_where=where
    )


def downgrade() -> None:
    op.drop_index("ix_switches_disarmed", table_name="switches")
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.create_foreign_key(
                f"{table}_switch_id_fkey", table, "switches", ["switch_id"], ["id"]
            )
        else:
            with op.batch_alter_table(table) as batch:
                batch.create_foreign_key(
                    f"fk_{table}_switch_id_switches", "switches", ["switch_id"], ["id"]
                )
