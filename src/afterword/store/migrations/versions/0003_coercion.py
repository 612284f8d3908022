"""Duress credentials, protected people (canaries), known clients, the owner's decoy log,
drills.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("switches") as batch:
        batch.add_column(sa.Column("duress_key", sa.String(80), nullable=True))
        batch.add_column(sa.Column("duress_password_hash", sa.Text(), nullable=True))
        batch.add_column(sa.Column("decoy_cut", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("drill_of", sa.String(64), nullable=True))
    op.create_table(
        "canary_tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("duress", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_canary_tokens_switch_id", "canary_tokens", ["switch_id"])
    op.create_table(
        "clients",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("first_seen", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "owner_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
    )
    op.create_index("ix_owner_log_switch_id", "owner_log", ["switch_id"])


def downgrade() -> None:
    op.drop_index("ix_owner_log_switch_id", "owner_log")
    op.drop_table("owner_log")
    op.drop_table("clients")
    op.drop_index("ix_canary_tokens_switch_id", "canary_tokens")
    op.drop_table("canary_tokens")
    with op.batch_alter_table("switches") as batch:
        batch.drop_column("drill_of")
        batch.drop_column("decoy_cut")
        batch.drop_column("duress_password_hash")
        batch.drop_column("duress_key")
