"""Switches keep the highest owner request they acted on: ``request_counter`` and the
request itself (``request_doc``, the owner-signed proof of it).

Every signed owner request carries the owner's counter (the one check-ins use). A relayed
copy is taken only if its counter is past ``request_counter``, so a release-now delivered
after the abort that followed it, by a slow network or a hostile server that kept it,
moves nothing (docs/federation.md, "A third attacker"). A request from the owner whose
counter is behind is refused (409) with ``request_doc``, so the CLI signs past it.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

COLUMNS = ("request_counter", "request_doc")


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN, as 0013 to 0015 do
    op.add_column(
        "switches",
        sa.Column("request_counter", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("switches", sa.Column("request_doc", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in reversed(COLUMNS):
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as 0013's downgrade
        op.execute(f"ALTER TABLE switches DROP COLUMN {column}")
