"""Consistency proofs between the servers of a switch (docs/federation.md, section 6).

``peers.proved``: the peer's newest signed checkpoint proved to extend the one before (or
the first one held): the base the next proof must start from, while ``peers.checkpoint``
stays the newest head taken (what a later shorter log is compared with); rows of 0013
start with the head they hold as the base. ``peers.holds``: the size of this server's log
for the switch whose checkpoint the peer says it holds (the ``held`` of its last relay; 0:
not said yet), where the proof in this server's next relay to it starts.
``peers.unproven_since``: since when the peer's heads have grown past the base held here
with no proof that matched it (NULL: none pending), and ``peers.unproven_alerted``
whether that has been reported.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = ("proved", "holds", "unproven_since", "unproven_alerted")


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN, as 0013 does
    op.add_column("peers", sa.Column("proved", sa.Text(), nullable=True))
    op.execute("UPDATE peers SET proved = checkpoint")
    op.add_column("peers", sa.Column("holds", sa.BigInteger(), nullable=False, server_default="0"))
    op.add_column("peers", sa.Column("unproven_since", sa.BigInteger(), nullable=True))
    op.add_column(
        "peers",
        sa.Column("unproven_alerted", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    for column in reversed(COLUMNS):
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as 0013's downgrade
        op.execute(f"ALTER TABLE peers DROP COLUMN {column}")
