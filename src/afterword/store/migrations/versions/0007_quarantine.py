"""Switches gain ``quarantined_at``: the instant a switch's own transition failed in the
scheduler (a hostile or broken roster, shares of another secret). A quarantined switch is
no longer claimed as due, so it cannot hold back any other switch; the operator and its
custodians are told through the outbox.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("switches", sa.Column("quarantined_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), as 0006 does
    op.drop_column("switches", "quarantined_at")
