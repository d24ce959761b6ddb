"""Availability and bookings: scheduling settings, date overrides, holds that expire, refunds owed,
e-mail outbox on notifications.

Revision ID: 20261125_bookings
Revises: 20261125_unlisted_users
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_bookings"
down_revision: str | Sequence[str] | None = "20261125_unlisted_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("practitioners", sa.Column("buffer_minutes", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "practitioners", sa.Column("min_notice_minutes", sa.Integer(), server_default="120", nullable=False)
    )
    op.add_column(
        "practitioners", sa.Column("booking_horizon_days", sa.Integer(), server_default="60", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_practitioners_buffer_range"), "practitioners", "buffer_minutes BETWEEN 0 AND 240"
    )
    op.create_check_constraint(
        op.f("ck_practitioners_notice_range"), "practitioners", "min_notice_minutes BETWEEN 0 AND 20160"
    )
    op.create_check_constraint(
        op.f("ck_practitioners_horizon_range"), "practitioners", "booking_horizon_days BETWEEN 1 AND 365"
    )

    op.create_table(
        "availability_overrides",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("start_time < end_time", name=op.f("ck_availability_overrides_starts_before_end")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"],
            name=op.f("fk_availability_overrides_practitioner_id_practitioners"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_overrides")),
    )
    op.create_index(
        "ix_availability_overrides_practitioner_date", "availability_overrides", ["practitioner_id", "on_date"]
    )

    # The slot a booking holds includes the practitioner's buffer after it, so the
    # exclusion constraint keeps buffers free too, even between simultaneous bookings.
    op.add_column("bookings", sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE bookings SET blocked_until = session_end")
    op.alter_column("bookings", "blocked_until", nullable=False)
    op.create_check_constraint(
        op.f("ck_bookings_blocked_after_end"), "bookings", "blocked_until >= session_end"
    )
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        "(practitioner_id WITH =, tstzrange(session_start, blocked_until, '[)') WITH &&) "
        "WHERE (status IN ('pending', 'confirmed'))"
    )
    op.add_column("bookings", sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("refund_due", sa.Numeric(precision=12, scale=2), nullable=True))
    op.create_check_constraint(
        op.f("ck_bookings_refund_due_range"), "bookings", "refund_due >= 0 AND refund_due <= total_amount"
    )
    op.create_index(
        "ix_bookings_pending_hold", "bookings", ["hold_expires_at"], postgresql_where=sa.text("status = 'pending'")
    )

    op.add_column(
        "notifications",
        sa.Column("email_status", sa.String(length=10), server_default="none", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_notifications_email_status_known"), "notifications",
        "email_status IN ('none', 'pending', 'sent', 'failed')",
    )
    op.create_index(
        "ix_notifications_email_pending", "notifications", ["created_at"],
        postgresql_where=sa.text("email_status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_email_pending", table_name="notifications")
    op.drop_constraint(op.f("ck_notifications_email_status_known"), "notifications", type_="check")
    op.drop_column("notifications", "email_status")
    op.drop_index("ix_bookings_pending_hold", table_name="bookings")
    op.execute("ALTER TABLE bookings DROP CONSTRAINT ex_bookings_no_overlap")
    op.execute(
        "ALTER TABLE bookings ADD CONSTRAINT ex_bookings_no_overlap EXCLUDE USING gist "
        "(practitioner_id WITH =, tstzrange(session_start, session_end, '[)') WITH &&) "
        "WHERE (status IN ('pending', 'confirmed'))"
    )
    op.drop_constraint(op.f("ck_bookings_blocked_after_end"), "bookings", type_="check")
    op.drop_column("bookings", "blocked_until")
    op.drop_constraint(op.f("ck_bookings_refund_due_range"), "bookings", type_="check")
    op.drop_column("bookings", "refund_due")
    op.drop_column("bookings", "hold_expires_at")
    op.drop_index("ix_availability_overrides_practitioner_date", table_name="availability_overrides")
    op.drop_table("availability_overrides")
    for name in ("horizon_range", "notice_range", "buffer_range"):
        op.drop_constraint(op.f(f"ck_practitioners_{name}"), "practitioners", type_="check")
    op.drop_column("practitioners", "booking_horizon_days")
    op.drop_column("practitioners", "min_notice_minutes")
    op.drop_column("practitioners", "buffer_minutes")
