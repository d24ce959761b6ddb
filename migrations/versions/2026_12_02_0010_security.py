"""Safe to deploy: demo accounts marked; the payment pages made for each booking, and
payments that do not match them kept apart; refunds that name the charge they come out
of; remember-me codes and rate limits in the database (several app servers); indexes
for owed refunds and for the retention job.

Revision ID: 20261202_security
Revises: 20261201_analytics_months
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_security"
down_revision: str | Sequence[str] | None = "20261201_analytics_months"
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
       OR (NEW.booking_id, NEW.user_id, NEW.kind, NEW.amount, NEW.currency, NEW.idempotency_key, NEW.created_at
           {extra})
          IS DISTINCT FROM
          (OLD.booking_id, OLD.user_id, OLD.kind, OLD.amount, OLD.currency, OLD.idempotency_key, OLD.created_at
           {extra_old})
    THEN
        RAISE EXCEPTION 'a payment ledger row keeps its booking, kind and amount; it can only be settled'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""


def upgrade() -> None:
    op.add_column("users", sa.Column("is_demo", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "unmatched_payments",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("payment_reference", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("named_booking", sa.String(length=64), nullable=True),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refund_status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("refund_reference", sa.String(length=255), nullable=True),
        sa.Column("refund_failure", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("fk_unmatched_payments_booking_id_bookings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmatched_payments")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_unmatched_payments_payment_reference")),
    )
    op.add_column("payment_transactions", sa.Column("refund_of_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("fk_payment_transactions_refund_of_id_payment_transactions"),
        "payment_transactions",
        "payment_transactions",
        ["refund_of_id"],
        ["id"],
    )
    # A refund keeps the charge it comes out of, as it keeps its amount.
    op.execute(LEDGER_ROW_RULES.format(extra=", NEW.refund_of_id", extra_old=", OLD.refund_of_id"))
    op.create_table(
        "checkout_pages",
        sa.Column("reference", sa.String(length=255), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_checkout_pages_booking_id_bookings")),
        sa.PrimaryKeyConstraint("reference", name=op.f("pk_checkout_pages")),
    )
    op.create_index("ix_checkout_pages_booking", "checkout_pages", ["booking_id"])
    # Pages made before this migration: the booking's current one.
    op.execute(
        "INSERT INTO checkout_pages (reference, booking_id, provider, amount_cents, currency, expires_at) "
        "SELECT stripe_checkout_session_id, id, 'stripe', (total_amount * 100)::int, 'zar', "
        "coalesce(hold_expires_at, now()) FROM bookings WHERE stripe_checkout_session_id IS NOT NULL"
    )
    op.create_index(
        "ix_bookings_refund_owed",
        "bookings",
        ["cancelled_at"],
        postgresql_where=sa.text("status = 'cancelled' AND refund_due > 0"),
    )
    op.create_table(
        "session_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed_token", sa.LargeBinary(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_session_codes")),
    )
    op.create_index("ix_session_codes_expires_at", "session_codes", ["expires_at"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_limit_counters")),
    )
    op.create_index("ix_rate_limit_counters_window_start", "rate_limit_counters", ["window_start"])
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.create_index("ix_login_attempts_attempted_at", "login_attempts", ["attempted_at"])
    op.create_index("ix_stripe_events_received_at", "stripe_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_stripe_events_received_at", table_name="stripe_events")
    op.drop_index("ix_login_attempts_attempted_at", table_name="login_attempts")
    op.drop_index("ix_refresh_tokens_expires_at", table_name="refresh_tokens")
    op.drop_index("ix_rate_limit_counters_window_start", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    op.drop_index("ix_session_codes_expires_at", table_name="session_codes")
    op.drop_table("session_codes")
    op.drop_table("unmatched_payments")
    op.drop_index("ix_bookings_refund_owed", table_name="bookings")
    op.drop_index("ix_checkout_pages_booking", table_name="checkout_pages")
    op.drop_table("checkout_pages")
    op.execute(LEDGER_ROW_RULES.format(extra="", extra_old=""))
    op.drop_constraint(
        op.f("fk_payment_transactions_refund_of_id_payment_transactions"), "payment_transactions", type_="foreignkey"
    )
    op.drop_column("payment_transactions", "refund_of_id")
    op.drop_column("users", "is_demo")
