"""Rate limits: one row per key, carrying the previous window's hits (table rate_limits).

A hit used to add or update the row of its (key, window) in rate_limit_counters and read
the previous window's row in the same statement. That read was planned while the table was
small (a hash join over the whole table) and kept its plan: under load the table grows by a
row per address and token each minute, and every request's count read all of it (0.33 ms
of PostgreSQL's time per request at 1,000 rows, 0.87 ms at 6,000, until an ANALYZE). In
rate_limits each key has one row; a hit in a new window moves the row along, keeping the
hits of the window before it, so counting touches that row alone, through the primary key.

A new table rather than a changed one, so servers of the previous release keep counting in
rate_limit_counters until they are restarted (deploy.md: migrations before new code). Each
key's newest window is copied; during the upgrade a key's hits are split between the two
tables. The old table is dropped by a later release's migration.

Revision ID: 20261205_rate_limits
Revises: 20261204_map_points
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261205_rate_limits"
down_revision: str | Sequence[str] | None = "20261204_map_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("previous_hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limits")),
    )
    op.create_index("ix_rate_limits_window_start", "rate_limits", ["window_start"])
    op.execute(
        "INSERT INTO rate_limits (key, window_start, window_end, hits, previous_hits)"
        " SELECT DISTINCT ON (key) key, window_start, window_start, hits, 0"
        " FROM rate_limit_counters ORDER BY key, window_start DESC"
    )


def downgrade() -> None:
    op.drop_index("ix_rate_limits_window_start", table_name="rate_limits")
    op.drop_table("rate_limits")
