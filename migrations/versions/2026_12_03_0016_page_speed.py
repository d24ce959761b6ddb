"""Page speed at ten million bookings: indexes the staff pages read along.

- bookings (session_start, id): everyone's bookings a keyset page at a time, soonest or
  latest first (Bookings for staff);
- users (role, first_name, last_name, id) of active, undeleted users (`is_active IS TRUE`, as
  accounts.find_people asks): the first 20
  clients or practitioners by name in the pickers (Availability, Book a session) without
  sorting two million people;
- reviews (status, flagged first, created_at, id): the moderation queue's first 100
  in the order it is worked, without sorting every review in that state;
- users (created_at DESC, id) of undeleted users: the Users page's newest first, a
  page without sorting three million users;
- users (updated_at): the analytics refresh finds practitioners whose account changed
  (deactivated, deleted) to recount only their hexagons' supply.

Revision ID: 20261203_page_speed
Revises: 20261203_job_runs
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261203_page_speed"
down_revision: str | Sequence[str] | None = "20261203_job_runs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_bookings_session_start_id", "bookings", ["session_start", "id"])
    op.create_index(
        "ix_users_active_by_name",
        "users",
        ["role", "first_name", "last_name", "id"],
        postgresql_where=sa.text("is_active IS TRUE AND deleted_at IS NULL"),
    )
    op.create_index(
        "ix_reviews_queue",
        "reviews",
        ["status", sa.text("(cardinality(flags) > 0) DESC"), "created_at", "id"],
    )
    op.create_index("ix_users_updated_at", "users", ["updated_at"])
    op.create_index(
        "ix_users_newest",
        "users",
        [sa.text("created_at DESC"), "id"],
        postgresql_where=sa.text("deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_users_newest", table_name="users")
    op.drop_index("ix_users_updated_at", table_name="users")
    op.drop_index("ix_reviews_queue", table_name="reviews")
    op.drop_index("ix_users_active_by_name", table_name="users")
    op.drop_index("ix_bookings_session_start_id", table_name="bookings")
