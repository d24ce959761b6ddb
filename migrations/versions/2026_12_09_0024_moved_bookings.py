"""A moved booking's old day is recounted by the analytics refresh.

The incremental refresh recomputes the practitioner-days of rows changed since the last
one, found by each booking's current session day. A booking moved to another day left
its old day counting it until a full rebuild. A trigger now notes where each moved
booking was (its practitioner and old start); the refresh recomputes those days and
empties the table in the same statement.

Revision ID: 20261209_moved_bookings
Revises: 20261208_cancelled_for
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261209_moved_bookings"
down_revision: str | Sequence[str] | None = "20261208_cancelled_for"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTE_MOVE = """
CREATE FUNCTION bookings_note_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO analytics_moved_bookings (practitioner_id, session_start)
    VALUES (OLD.practitioner_id, OLD.session_start);
    RETURN NULL;
END $$;

CREATE TRIGGER bookings_moved
AFTER UPDATE OF session_start, practitioner_id ON bookings
FOR EACH ROW
WHEN (OLD.session_start IS DISTINCT FROM NEW.session_start OR OLD.practitioner_id IS DISTINCT FROM NEW.practitioner_id)
EXECUTE FUNCTION bookings_note_move();
"""


def upgrade() -> None:
    op.create_table(
        "analytics_moved_bookings",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("session_start", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_moved_bookings")),
    )
    op.execute(NOTE_MOVE)


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_moved ON bookings")
    op.execute("DROP FUNCTION bookings_note_move()")
    op.drop_table("analytics_moved_bookings")
