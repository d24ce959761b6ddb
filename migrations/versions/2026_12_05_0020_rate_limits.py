"""Rate-limit counters: one row per key, carrying the previous window's hits.

A hit used to add or update the row of its (key, window) and read the previous window's
row in the same statement. That read was planned while the table was small and kept its
plan (a hash join over the whole table): under load the table grows by a row per address
and token each minute, and every request's count read all of it (0.33 ms of PostgreSQL's
time per request at 1,000 rows, 0.87 ms at 6,000, until an ANALYZE). Now each key has one
row; a hit in a new window moves the row along, keeping the hits of the window before it,
so counting touches that row alone, through the primary key.

Upgrading keeps each key's newest window and forgets the one before it: a limit weighs
only its current window for at most one window after the upgrade.

Revision ID: 20261205_rate_limit_row_per_key
Revises: 20261204_map_points
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261205_rate_limit_row_per_key"
down_revision: str | Sequence[str] | None = "20261204_map_points"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM rate_limit_counters c USING rate_limit_counters newer"
        " WHERE newer.key = c.key AND newer.window_start > c.window_start"
    )
    op.add_column("rate_limit_counters", sa.Column("window_end", sa.DateTime(timezone=True), nullable=True))
    op.add_column("rate_limit_counters", sa.Column("previous_hits", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE rate_limit_counters SET window_end = window_start")
    op.alter_column("rate_limit_counters", "window_end", nullable=False)
    op.alter_column("rate_limit_counters", "previous_hits", server_default=None)
    op.drop_constraint("pk_rate_limit_counters", "rate_limit_counters", type_="primary")
    op.create_primary_key("pk_rate_limit_counters", "rate_limit_counters", ["key"])


def downgrade() -> None:
    op.drop_constraint("pk_rate_limit_counters", "rate_limit_counters", type_="primary")
    op.create_primary_key("pk_rate_limit_counters", "rate_limit_counters", ["key", "window_start"])
    op.drop_column("rate_limit_counters", "previous_hits")
    op.drop_column("rate_limit_counters", "window_end")
