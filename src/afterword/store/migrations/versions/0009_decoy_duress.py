"""The duress credentials a coerced owner sets: under duress, ``set-duress`` must answer
and behave as the real one does (a password set then signs in), yet never touch the
owner's own duress credentials. They are kept apart, and act as duress credentials too.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


COLUMNS = ("decoy_duress_key", "decoy_duress_password_hash")


def upgrade() -> None:
    # plain ALTER TABLE on both databases: a batch copy of ``switches`` on SQLite would drop
    # a table other tables' foreign keys point at
    op.add_column("switches", sa.Column("decoy_duress_key", sa.String(80), nullable=True))
    op.add_column("switches", sa.Column("decoy_duress_password_hash", sa.Text(), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        if op.get_bind().dialect.name == "sqlite":  # SQLite 3.35+ drops a column in place
            op.execute(f"ALTER TABLE switches DROP COLUMN {name}")
        else:
            op.drop_column("switches", name)
