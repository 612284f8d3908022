"""Lockouts count wrong guesses in a table of their own, by typed columns (switch, door,
network, time). They used to match the audit entries' text, which holds the caller's
User-Agent: a crafted one locked any network out. Refusals before this revision are not
carried over (the window is 15 minutes).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("switch_id", sa.String(64), nullable=False),
        sa.Column("door", sa.String(16), nullable=False),
        sa.Column("network", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_refusals_lookup", "refusals", ["switch_id", "door", "network", "at"])
    op.create_index("ix_refusals_at", "refusals", ["at"])


def downgrade() -> None:
    op.drop_index("ix_refusals_at", "refusals")
    op.drop_index("ix_refusals_lookup", "refusals")
    op.drop_table("refusals")
