"""The networks an owner has authenticated from, per switch (typed: the server's own /24
or /48 of the caller): a sign-in from a new one is logged and mailed to the owner. It
used to leave no trace at all. Networks before this revision are not known (the clients
table holds digests only), so each one's first sign-in after it is reported once.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "networks",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("network", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("networks")
