"""Payments: the ledger is append-only and never refunds more than was charged; Stripe
Checkout per booking.

Revision ID: 20261125_payments
Revises: 20261125_bookings
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_payments"
down_revision: str | Sequence[str] | None = "20261125_bookings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A ledger row is written once. While pending it may be settled (completed or failed)
# and learn its provider, reference and method; after that nothing about it changes,
# and no row is ever deleted.
LEDGER_ROW_RULES = """
CREATE FUNCTION payment_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment ledger rows are never deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'a settled payment ledger row cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'refunded'
       OR (NEW.booking_id, NEW.user_id, NEW.kind, NEW.amount, NEW.currency, NEW.idempotency_key, NEW.created_at)
          IS DISTINCT FROM
          (OLD.booking_id, OLD.user_id, OLD.kind, OLD.amount, OLD.currency, OLD.idempotency_key, OLD.created_at)
    THEN
        RAISE EXCEPTION 'a payment ledger row keeps its booking, kind and amount; it can only be settled'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER payment_transactions_append_only
    BEFORE UPDATE OR DELETE ON payment_transactions
    FOR EACH ROW EXECUTE FUNCTION payment_transactions_append_only();
"""

# Refunds (pending or done) never exceed completed charges, per booking. A statement
# trigger over the inserted rows, so a bulk load checks once; it locks the bookings
# first so two refunds for one booking are checked one after the other.
REFUND_BOUND = """
CREATE FUNCTION payment_transactions_refund_bound() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    over uuid;
BEGIN
    PERFORM 1 FROM bookings
     WHERE id IN (SELECT booking_id FROM inserted WHERE kind = 'refund')
     ORDER BY id FOR UPDATE;
    SELECT t.booking_id INTO over
      FROM payment_transactions t
     WHERE t.booking_id IN (SELECT booking_id FROM inserted WHERE kind = 'refund')
     GROUP BY t.booking_id
    HAVING coalesce(sum(t.amount) FILTER (WHERE t.kind = 'refund' AND t.status IN ('pending', 'completed')), 0)
         > coalesce(sum(t.amount) FILTER (WHERE t.kind = 'charge' AND t.status = 'completed'), 0)
     LIMIT 1;
    IF over IS NOT NULL THEN
        RAISE EXCEPTION 'refunds for booking % would exceed what was paid', over
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER payment_transactions_refund_bound
    AFTER INSERT ON payment_transactions
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION payment_transactions_refund_bound();
"""


def upgrade() -> None:
    op.execute(LEDGER_ROW_RULES)
    op.execute(REFUND_BOUND)
    op.add_column("bookings", sa.Column("stripe_checkout_session_id", sa.String(length=255), nullable=True))
    op.add_column("bookings", sa.Column("stripe_checkout_url", sa.Text(), nullable=True))
    op.add_column(
        "bookings",
        sa.Column("refunded_before_cancel", sa.Numeric(precision=12, scale=2), server_default="0", nullable=False),
    )
    op.create_unique_constraint(
        op.f("uq_bookings_stripe_checkout_session_id"), "bookings", ["stripe_checkout_session_id"]
    )
    op.create_index(
        "ix_payment_transactions_provider_reference",
        "payment_transactions",
        ["provider_reference"],
        postgresql_where=sa.text("provider_reference IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_payment_transactions_provider_reference", table_name="payment_transactions")
    op.drop_constraint(op.f("uq_bookings_stripe_checkout_session_id"), "bookings", type_="unique")
    op.drop_column("bookings", "refunded_before_cancel")
    op.drop_column("bookings", "stripe_checkout_url")
    op.drop_column("bookings", "stripe_checkout_session_id")
    op.execute("DROP TRIGGER payment_transactions_refund_bound ON payment_transactions")
    op.execute("DROP FUNCTION payment_transactions_refund_bound()")
    op.execute("DROP TRIGGER payment_transactions_append_only ON payment_transactions")
    op.execute("DROP FUNCTION payment_transactions_append_only()")
