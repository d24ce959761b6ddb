"""A booking's refund due may exceed its price, and a booking that goes ahead may owe one.

Money paid twice for a booking goes back to the client whoever cancels and whenever, so a
cancellation's refund due is the policy's share of the price plus everything paid beyond
it; the old check (refund_due <= total_amount) turned such a cancellation into an error.
A booking that goes ahead but was paid twice by hand owes the second payment back: its
refund due is now listed with the cancellations' (the partial index covers both).

Revision ID: 20261206_refund_beyond_price
Revises: 20261205_rate_limits
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261206_refund_beyond_price"
down_revision: str | Sequence[str] | None = "20261205_rate_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_bookings_refund_due_range"), "bookings", type_="check")
    op.create_check_constraint("refund_due_non_negative", "bookings", "refund_due >= 0")
    op.drop_index("ix_bookings_refund_owed", table_name="bookings")
    op.create_index("ix_bookings_refund_owed", "bookings", ["cancelled_at"], postgresql_where="refund_due > 0")


def downgrade() -> None:
    # Fails while a booking owes more than its price: pay those out first.
    op.drop_index("ix_bookings_refund_owed", table_name="bookings")
    op.create_index(
        "ix_bookings_refund_owed",
        "bookings",
        ["cancelled_at"],
        postgresql_where="status = 'cancelled' AND refund_due > 0",
    )
    op.drop_constraint(op.f("ck_bookings_refund_due_non_negative"), "bookings", type_="check")
    op.create_check_constraint("refund_due_range", "bookings", "refund_due >= 0 AND refund_due <= total_amount")
