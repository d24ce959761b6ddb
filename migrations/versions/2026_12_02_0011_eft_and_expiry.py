"""Bookings say how they are being paid (card or EFT, which hold for different times), and
a payment nobody made before its hold ran out is 'expired', not 'failed'.

Revision ID: 20261202_eft_and_expiry
Revises: 20261202_security
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_eft_and_expiry"
down_revision: str | Sequence[str] | None = "20261202_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pending", "completed", "refunded", "failed")
USED_BY = (("bookings", "payment_status", "'pending'"), ("payment_transactions", "status", None))


def upgrade() -> None:
    # A new enum value cannot be used in the transaction that adds it, so rows written
    # before this keep 'failed'; everything after writes 'expired'.
    op.execute("ALTER TYPE payment_status ADD VALUE IF NOT EXISTS 'expired'")
    op.add_column("bookings", sa.Column("pays_by", sa.String(length=8), nullable=True))


def downgrade() -> None:
    op.drop_column("bookings", "pays_by")
    # PostgreSQL cannot drop an enum value: build the type again without it.
    op.execute("ALTER TABLE payment_transactions DISABLE TRIGGER payment_transactions_append_only")
    op.execute("UPDATE bookings SET payment_status = 'failed' WHERE payment_status = 'expired'")
    op.execute("UPDATE payment_transactions SET status = 'failed' WHERE status = 'expired'")
    op.execute("ALTER TYPE payment_status RENAME TO payment_status_with_expired")
    op.execute(f"CREATE TYPE payment_status AS ENUM ({', '.join(repr(s) for s in STATUSES)})")
    for table, column, default in USED_BY:
        if default:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
        op.execute(
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE payment_status USING {column}::text::payment_status"
        )
        if default:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {default}")
    op.execute("DROP TYPE payment_status_with_expired")
    op.execute("ALTER TABLE payment_transactions ENABLE TRIGGER payment_transactions_append_only")
