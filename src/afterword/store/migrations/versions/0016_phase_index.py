"""Switches get an index on (phase, held, quarantined_at): what ``/metrics`` counts.

The count of switches per state (and held, and quarantined) is made at every scrape. Without
an index it read the whole switches table, whose rows carry the signed manifest and notice
(kilobytes each): 600 ms a scrape at 100,000 switches on SQLite. The index holds those three
short columns alone, so the count reads it instead (docs/benchmarks.md, "Metrics scrape
cost"); a transition that changes a switch's phase writes one more index entry.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_switches_phase", "switches", ["phase", "held", "quarantined_at"])


def downgrade() -> None:
    op.drop_index("ix_switches_phase", table_name="switches")
