"""PaymentIntents a client app confirms with its own card form, kept beside Checkout pages.

- checkout_pages.kind: "checkout" (a hosted Stripe Checkout page, as before) or "intent"
  (a PaymentIntent made for the booking, whose client_secret an app confirms itself).
  Either is what we asked for: only money taken through one of them, in rand, for the
  booking's full total, counts for the booking.

Revision ID: 20261204_payment_intents
Revises: 20261203_page_speed
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_payment_intents"
down_revision: str | Sequence[str] | None = "20261203_page_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "checkout_pages",
        sa.Column("kind", sa.String(length=16), server_default=sa.text("'checkout'"), nullable=False),
    )
    op.create_check_constraint("kind_known", "checkout_pages", "kind IN ('checkout', 'intent')")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_checkout_pages_kind_known"), "checkout_pages", type_="check")
    op.drop_column("checkout_pages", "kind")
