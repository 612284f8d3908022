"""Peers get ``shown_seen`` (when the owner's status says a peer was last heard from) and
``head_counter`` (the check-in a peer held when its log head was last taken as fresh).

``shown_seen`` is this server's hourly ask at which the peer had been heard within two
asks, never a message's own instant: under duress every server releases, and the
handoffs and relays of the release would move a peer's ``last_seen`` at moments no real
check-in moves it, which a coercer who polls the owner's status sees. ``last_seen`` stays
the truth, for the silent-peer alarm. Rows from before start with their ``last_seen``.

``head_counter``: a head that did not grow while the peer's relays carry newer check-ins
(each one an entry of its log) is frozen, no sign that the peer still sends its heads, so
it is reported unproven after ``peer_silence``. Rows from before start at 0: their next
head is taken as fresh (docs/federation.md, "A third attacker").

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

COLUMNS = ("shown_seen", "head_counter")


def upgrade() -> None:
    # plain ALTER TABLE ... ADD COLUMN, as 0013 to 0015 do
    op.add_column("peers", sa.Column("shown_seen", sa.BigInteger(), nullable=True))
    op.add_column(
        "peers", sa.Column("head_counter", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.execute("UPDATE peers SET shown_seen = last_seen")


def downgrade() -> None:
    for column in reversed(COLUMNS):
        # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), as 0013's downgrade
        op.execute(f"ALTER TABLE peers DROP COLUMN {column}")
