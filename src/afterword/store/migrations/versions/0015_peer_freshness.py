"""What keeps a replayed or silent peer from passing for a live, checked one
(docs/federation.md, section 6).

``peers.heard_at``: the sender's clock (``at``) on the newest relay or handoff taken from
the peer (0: none yet). A relay or handoff is a sign of the peer's life (``last_seen``)
only if its ``at`` is newer, so one played again cannot hide a peer that fell silent.
``peers.head_seen``: this server's clock when it last took a head of the peer's log (NULL:
none yet; rows of 0014 that hold a head start at the peer's ``since``): a live peer that
sends no head for ``peer_silence`` is reported unproven, as one whose heads grow
unproven is.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = ("heard_at", "head_seen")


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN, as 0013 and 0014 do
    op.add_column(
        "peers", sa.Column("heard_at", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("peers", sa.Column("head_seen", sa.BigInteger(), nullable=True))
    op.execute("UPDATE peers SET head_seen = since WHERE checkpoint IS NOT NULL")


def downgrade() -> None:
    for column in reversed(COLUMNS):
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as 0013's downgrade
        op.execute(f"ALTER TABLE peers DROP COLUMN {column}")
