"""A client's unpaid holds are counted from an index of their own.

Every booking counts the client's pending holds that have not run out (the cap on unpaid
holds). The only index the planner could use for it listed every pending hold on the
platform by expiry and filtered them by client, so a booking read more of the table the
more people had a time held. This partial index finds one client's pending holds directly.

Revision ID: 20261210_client_pending_holds
Revises: 20261209_moved_bookings
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261210_client_pending_holds"
down_revision: str | Sequence[str] | None = "20261209_moved_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_bookings_client_pending_hold",
        "bookings",
        ["client_id", "hold_expires_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_client_pending_hold", table_name="bookings")
