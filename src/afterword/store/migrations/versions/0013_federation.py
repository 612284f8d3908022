"""A switch may be watched by several servers (issue 17): ``servers`` keeps the roster
the owner signed (NULL: this server alone, as before), ``checkin_counter`` and
``checkin_doc`` the highest signed check-in seen (``checkin/1``), which orders check-ins
and is what this server relays to its peers. Switches before this revision have no
roster and no signed check-in yet.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN on both databases: a batch (SQLite's copy of the
    # table) would trip the foreign keys other tables hold on switches
    op.add_column("switches", sa.Column("servers", sa.Text(), nullable=True))
    op.add_column(
        "switches",
        sa.Column("checkin_counter", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("switches", sa.Column("checkin_doc", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in ("checkin_doc", "checkin_counter", "servers"):
        # ALTER TABLE ... DROP COLUMN, which SQLite has had since 3.35 (2021), for the
        # same reason as above
        op.execute(f"ALTER TABLE switches DROP COLUMN {column}")
