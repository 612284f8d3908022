"""Check-in by password and optional TOTP.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.add_column(sa.Column("password_hash", sa.Text(), nullable=True))
        batch.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.drop_column("totp_secret")
        batch.drop_column("password_hash")
