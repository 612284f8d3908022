"""The nonces table loses its ``used`` column: every row in it is a spent challenge.

Since challenges carry the server's MAC (afterword.engine.challenges), they are not stored
when issued, only when spent, and ``used`` was always written true. The rows written
false before that change are challenges issued and never spent: none can be presented
again (they carry no MAC), so they are deleted with the column.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM nonces WHERE NOT used")
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch would copy the table
    op.drop_column("nonces", "used")


def downgrade() -> None:
    op.add_column(
        "nonces", sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.true())
    )
