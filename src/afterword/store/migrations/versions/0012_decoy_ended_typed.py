"""A ``decoy-ended`` row of the owner's log keeps where that decoy began and ended in the
real log as typed columns (``began``, ``ended``), read as numbers; they were written as
the text "BEGAN ENDED" in ``detail`` and split when read. Rows written before this
revision are converted here.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("owner_log") as batch:
        batch.add_column(sa.Column("began", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("ended", sa.Integer(), nullable=True))
    log = sa.table(
        "owner_log",
        sa.column("id", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("detail", sa.Text()),
        sa.column("began", sa.Integer()),
        sa.column("ended", sa.Integer()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(log.c.id, log.c.detail).where(log.c.kind == "decoy-ended")
    ).all()
    for row_id, detail in rows:
        began, ended = (int(n) for n in detail.split())
        connection.execute(
            sa.update(log).where(log.c.id == row_id).values(began=began, ended=ended, detail="")
        )


def downgrade() -> None:
    log = sa.table(
        "owner_log",
        sa.column("kind", sa.String()),
        sa.column("detail", sa.Text()),
        sa.column("began", sa.Integer()),
        sa.column("ended", sa.Integer()),
    )
    # back to the text the older code splits: "BEGAN ENDED"
    op.get_bind().execute(
        sa.update(log)
        .where(log.c.kind == "decoy-ended")
        .values(detail=sa.cast(log.c.began, sa.Text()) + " " + sa.cast(log.c.ended, sa.Text()))
    )
    with op.batch_alter_table("owner_log") as batch:
        batch.drop_column("ended")
        batch.drop_column("began")
