"""The audit log and the outbox no longer carry a foreign key to their switch.

Every row of either is written by ``repository.record_many`` (or ``create_switch``) in the
transaction that holds its switch's row locked, and switch rows are never deleted: the key
could only catch a bug that cannot reach it. Its price was paid on every write: PostgreSQL
checks each inserted row with a query of its own (``SELECT ... FOR KEY SHARE`` on the
switch), six for a switch that triggers (two audit entries, four messages): a quarter of
the database's work in a burst of triggers. The logs' integrity is the hash chain's (see
afterword.crypto.audit), and the outbox's the switch row's lock.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("audit", "outbox")
# SQLite's foreign keys have no names: batch mode names them by this convention to find them
SQLITE_NAMES = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade() -> None:
    for table in TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(f"{table}_switch_id_fkey", table, type_="foreignkey")
        else:  # (SQLite copies the table: nothing refers to these two)
            with op.batch_alter_table(table, naming_convention=SQLITE_NAMES) as batch:
                batch.drop_constraint(f"fk_{table}_switch_id_switches", type_="foreignkey")


def downgrade() -> None:
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
