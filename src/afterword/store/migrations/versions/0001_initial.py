"""Initial schema: switches, audit log, outbox, nonces, shares, server envelopes, releases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "switches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner_key", sa.String(80), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("next_event_at", sa.BigInteger(), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("custodians", sa.Text(), nullable=False),
        sa.Column("contacts", sa.Text(), nullable=False),
        sa.Column("dossier_sha256", sa.String(64), nullable=False),
        sa.Column("dossier_size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_switches_next_event_at", "switches", ["next_event_at"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("prev", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("switch_id", "seq"),
    )
    op.create_index("ix_audit_switch_id", "audit", ["switch_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), nullable=False),
        sa.Column("to", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_switch_id", "outbox", ["switch_id"])
    op.create_index("ix_outbox_next_attempt_at", "outbox", ["next_attempt_at"])
    op.create_table(
        "nonces",
        sa.Column("nonce", sa.String(64), primary_key=True),
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_nonces_switch_id", "nonces", ["switch_id"])
    op.create_table(
        "shares",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("custodian", sa.String(64), primary_key=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "server_envelopes",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("custodian", sa.String(64), primary_key=True),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "releases",
        sa.Column("switch_id", sa.String(64), sa.ForeignKey("switches.id"), primary_key=True),
        sa.Column("identity", sa.Text(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("published_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("releases", "server_envelopes", "shares", "nonces", "outbox", "audit"):
        op.drop_table(table)
    op.drop_table("switches")
