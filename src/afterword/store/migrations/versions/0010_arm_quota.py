"""Arming gets a quota per network (issue 15, item 21): each switch armed over the
network is counted by typed columns (network, time), kept for the quota's window.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arms",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_arms_lookup", "arms", ["network", "at"])


def downgrade() -> None:
    op.drop_index("ix_arms_lookup", "arms")
    op.drop_table("arms")
