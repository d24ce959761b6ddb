"""A charge settled later counts when the money arrived.

A booking's charge is written, pending, when the booking is made, and settled when the
money arrives: minutes later by card, up to a day later by EFT. The ledger counts money
on its row's time, so a settled charge now takes the time it was settled; before, an EFT
recorded the next day counted on the day of the booking. Only settling moves it, and only
forward; a settled row still never changes.

Revision ID: 20261207_settled_when_paid
Revises: 20261206_refund_beyond_price
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261207_settled_when_paid"
down_revision: str | Sequence[str] | None = "20261206_refund_beyond_price"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEDGER_ROW_RULES = """
CREATE OR REPLACE FUNCTION payment_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'payment ledger rows are never deleted' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.status <> 'pending' THEN
        RAISE EXCEPTION 'a settled payment ledger row cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.status = 'refunded'
       OR (NEW.booking_id, NEW.user_id, NEW.kind, NEW.amount, NEW.currency, NEW.idempotency_key, NEW.refund_of_id)
          IS DISTINCT FROM
          (OLD.booking_id, OLD.user_id, OLD.kind, OLD.amount, OLD.currency, OLD.idempotency_key, OLD.refund_of_id)
       OR (NEW.created_at IS DISTINCT FROM OLD.created_at {moved})
    THEN
        RAISE EXCEPTION 'a payment ledger row keeps its booking, kind and amount; it can only be settled'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""

# Its time may move forward, to when it was settled, as it is settled.
SETTLING = "AND NOT (NEW.status = 'completed' AND NEW.created_at > OLD.created_at)"


def upgrade() -> None:
    op.execute(LEDGER_ROW_RULES.format(moved=SETTLING))


def downgrade() -> None:
    op.execute(LEDGER_ROW_RULES.format(moved=""))
