"""Payment pages of cancelled bookings are closed at the provider.

A Checkout page stays payable at Stripe until it expires (31 minutes), and a PaymentIntent
for a client app's card form until it is cancelled: money paid on either after the booking
was cancelled came in only to be refunded (Stripe keeps its fee). `closed_at` records when
a page or intent stopped taking money: closed by the `close-payment-pages` job, or found
finished. Pages of bookings already paid or past, and Checkout pages already run out, are
marked now; the job closes the rest. The partial index finds the few still open.

Revision ID: 20261213_closed_payment_pages
Revises: 20261212_password_resets
Create Date: 2026-12-13
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261213_closed_payment_pages"
down_revision: str | Sequence[str] | None = "20261212_password_resets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkout_pages", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("""
        UPDATE checkout_pages AS page SET closed_at = now()
        FROM bookings
        WHERE bookings.id = page.booking_id
          AND (bookings.status IN ('confirmed', 'completed', 'no_show')
               OR (bookings.status = 'cancelled' AND page.kind = 'checkout' AND page.expires_at <= now()))
    """)
    op.create_index(
        "ix_checkout_pages_open", "checkout_pages", ["booking_id"], postgresql_where=sa.text("closed_at IS NULL")
    )


def downgrade() -> None:
    op.drop_index("ix_checkout_pages_open", table_name="checkout_pages")
    op.drop_column("checkout_pages", "closed_at")
