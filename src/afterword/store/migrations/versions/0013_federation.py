"""A switch may be watched by several servers (issue 17). ``servers`` keeps the roster
the owner signed (NULL: this server alone, as before); ``checkin_counter`` and
``checkin_doc`` the highest signed check-in seen (``checkin/1``), which orders check-ins
and is what this server relays to its peers; ``duress_counter`` the highest duress
check-in taken (one outranked by a later real check-in still triggers, once).

``peers``: each other server of a switch, when it was last heard from and in which state
it said the switch was, when it was last asked, and the last signed checkpoint of its
audit log for the switch (C2SP tlog-checkpoint) with whether it was caught rewriting it.
Switches before this revision have no roster and no signed check-in yet.

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
    op.add_column(
        "switches",
        sa.Column("duress_counter", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_table(
        "peers",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("url", sa.String(512), primary_key=True),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("last_asked", sa.BigInteger(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("checkpoint_at", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("forked", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_peers_last_asked", "peers", ["last_asked"])


def downgrade() -> None:
    op.drop_index("ix_peers_last_asked", "peers")
    op.drop_table("peers")
    for column in ("duress_counter", "checkin_doc", "checkin_counter", "servers"):
        # ALTER TABLE ... DROP COLUMN, which SQLite has had since 3.35 (2021), for the
        # same reason as above
        op.execute(f"ALTER TABLE switches DROP COLUMN {column}")
