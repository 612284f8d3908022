"""The audit chain's tail on the switch row: extending the log no longer reads it back.
And two indexes that cost a write for every audit entry and every message and served no
query: the audit log's on switch_id (its unique (switch_id, seq) leads with it) and the
outbox's on switch_id (the outbox is read by due time and id, never by switch).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64  # afterword.crypto.audit.GENESIS, as it was when this was written


def upgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.add_column(
            sa.Column("audit_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("audit_head", sa.String(64), nullable=False, server_default=GENESIS)
        )
    # every switch's tail as its log has it now
    op.execute(
        f"""
        UPDATE switches SET
          audit_seq = COALESCE(
            (SELECT MAX(a.seq) FROM audit a WHERE a.switch_id = switches.id), 0),
          audit_head = COALESCE(
            (SELECT a.hash FROM audit a WHERE a.switch_id = switches.id
             ORDER BY a.seq DESC LIMIT 1), '{GENESIS}')
        """
    )

    op.drop_index("ix_audit_switch_id", table_name="audit")
    op.drop_index("ix_outbox_switch_id", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_switch_id", "outbox", ["switch_id"])
    op.create_index("ix_audit_switch_id", "audit", ["switch_id"])
    # plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch would copy the table, which
    # the other tables' foreign keys to it forbid
    op.drop_column("switches", "audit_head")
    op.drop_column("switches", "audit_seq")
