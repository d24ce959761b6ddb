"""Who a cancellation was for: the client or the practitioner.

The refund policy depends on who asked to cancel (the client gets the policy's share, the
practitioner's cancellation refunds in full), and staff cancel on behalf of either. Until
now only the audit log kept who staff acted for, so the booking itself could say only
"Cancelled by our staff". Filled in for existing cancellations: from the audit record of a
staff cancellation, or from who cancelled (the client or the practitioner themselves).

Revision ID: 20261208_cancelled_for
Revises: 20261207_settled_when_paid
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261208_cancelled_for"
down_revision: str | Sequence[str] | None = "20261207_settled_when_paid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("cancelled_for", sa.String(length=12), nullable=True))
    op.execute(
        """
        UPDATE bookings b SET cancelled_for = coalesce(
            (SELECT a.after ->> 'on_behalf_of' FROM audit_log a
              WHERE a.action = 'booking.cancel' AND a.target_type = 'booking' AND a.target_id = b.id::text
                AND a.after ->> 'on_behalf_of' IN ('client', 'practitioner')
              ORDER BY a.created_at DESC LIMIT 1),
            CASE WHEN b.cancelled_by_id = b.client_id THEN 'client'
                 WHEN b.cancelled_by_id = (SELECT p.user_id FROM practitioners p WHERE p.id = b.practitioner_id)
                 THEN 'practitioner' END)
        WHERE b.cancelled_by_id IS NOT NULL
        """
    )
    op.create_check_constraint("cancelled_for_party", "bookings", "cancelled_for IN ('client', 'practitioner')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_bookings_cancelled_for_party"), "bookings", type_="check")
    op.drop_column("bookings", "cancelled_for")
