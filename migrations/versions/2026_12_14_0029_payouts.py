"""Practitioners are paid out what they earned, into a bank account they give.

`payout_accounts` holds each practitioner's account (bank, holder, a 6-16 digit account
number, a 6-digit branch code); `payouts` what staff pay out: prepared first (the money set
aside, one at a time per practitioner, so two staff never pay it twice), then paid with the
bank's reference (one payout per reference) or cancelled; to which account (bank and last
four digits, as they were) and for sessions ended before when.

Revision ID: 20261214_payouts
Revises: 20261213_closed_payment_pages
Create Date: 2026-12-14
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261214_payouts"
down_revision: str | Sequence[str] | None = "20261213_closed_payment_pages"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payout_accounts",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("bank_name", sa.String(length=60), nullable=False),
        sa.Column("account_holder", sa.String(length=100), nullable=False),
        sa.Column("account_number", sa.String(length=16), nullable=False),
        sa.Column("branch_code", sa.String(length=6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("branch_code ~ '^[0-9]{6}$'", name=op.f("ck_payout_accounts_branch_code_six_digits")),
        sa.CheckConstraint(
            "account_number ~ '^[0-9]{6,16}$'", name=op.f("ck_payout_accounts_account_number_digits")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_payout_accounts_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_payout_accounts")),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(12, 2), nullable=False),
        sa.Column("status", sa.String(length=12), server_default=sa.text("'prepared'"), nullable=False),
        sa.Column("bank_name", sa.String(length=60), nullable=False),
        sa.Column("account_number_end", sa.String(length=4), nullable=False),
        sa.Column("earned_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prepared_by_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payouts_amount_positive")),
        sa.CheckConstraint("status IN ('prepared', 'paid', 'cancelled')", name=op.f("ck_payouts_status_known")),
        sa.CheckConstraint(
            "status <> 'paid' OR (reference IS NOT NULL AND paid_at IS NOT NULL AND paid_by_id IS NOT NULL)",
            name=op.f("ck_payouts_paid_with_reference"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_payouts_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(["prepared_by_id"], ["users.id"], name=op.f("fk_payouts_prepared_by_id_users")),
        sa.ForeignKeyConstraint(["paid_by_id"], ["users.id"], name=op.f("fk_payouts_paid_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payouts")),
    )
    op.create_index("ix_payouts_practitioner_created_at", "payouts", ["practitioner_id", "created_at"])
    op.create_index(
        "uq_payouts_one_prepared",
        "payouts",
        ["practitioner_id"],
        unique=True,
        postgresql_where=sa.text("status = 'prepared'"),
    )
    op.create_index(
        "uq_payouts_reference",
        "payouts",
        ["practitioner_id", sa.text("lower(reference)")],
        unique=True,
        postgresql_where=sa.text("status = 'paid'"),
    )


def downgrade() -> None:
    op.drop_index("uq_payouts_reference", table_name="payouts")
    op.drop_index("uq_payouts_one_prepared", table_name="payouts")
    op.drop_index("ix_payouts_practitioner_created_at", table_name="payouts")
    op.drop_table("payouts")
    op.drop_table("payout_accounts")
