"""Analytics: rollups of bookings, the ledger, reviews and searches, kept fresh by the
refresh-analytics job; updated_at kept by the database so the job finds what changed.

Revision ID: 20261125_analytics
Revises: 20261125_trust
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261125_analytics"
down_revision: str | Sequence[str] | None = "20261125_trust"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOUCHED_TABLES = ("bookings", "reviews", "practitioners")

# Every change of these rows moves updated_at, whoever makes it (the ORM, a bulk UPDATE,
# psql), unless the statement sets updated_at itself.
TOUCH_UPDATED_AT = """
CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
"""


def _existing(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(name=name, create_type=False)


def upgrade() -> None:
    op.create_table(
        "analytics_cell_demand",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("cell_i", sa.Integer(), nullable=False),
        sa.Column("cell_j", sa.Integer(), nullable=False),
        sa.Column("searches", sa.Integer(), nullable=False),
        sa.Column("unmet", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "cell_i", "cell_j", name=op.f("pk_analytics_cell_demand")),
    )
    op.create_table(
        "analytics_cell_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cell_i", sa.Integer(), nullable=False),
        sa.Column("cell_j", sa.Integer(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("status", _existing("booking_status"), nullable=False),
        sa.Column("bookings", sa.Integer(), nullable=False),
        sa.Column("paid", sa.Numeric(precision=16, scale=2), nullable=False),
        sa.PrimaryKeyConstraint(
            "month", "cell_i", "cell_j", "specialization", "status", name=op.f("pk_analytics_cell_months")
        ),
    )
    op.create_table(
        "analytics_cell_supply",
        sa.Column("cell_i", sa.Integer(), nullable=False),
        sa.Column("cell_j", sa.Integer(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("practitioners", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("cell_i", "cell_j", "specialization", name=op.f("pk_analytics_cell_supply")),
    )
    op.create_table(
        "analytics_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("meeting_type", _existing("meeting_type"), nullable=False),
        sa.Column("bookings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancelled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("no_shows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("charges", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gross", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("gross_fees", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("refund_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refunds", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("refunded_fees", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("day", "specialization", "province", "meeting_type", name=op.f("pk_analytics_days")),
    )
    op.create_table(
        "analytics_practitioner_days",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("meeting_type", _existing("meeting_type"), nullable=False),
        sa.Column("bookings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("completed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cancelled", sa.Integer(), server_default="0", nullable=False),
        sa.Column("no_shows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("charges", sa.Integer(), server_default="0", nullable=False),
        sa.Column("gross", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("gross_fees", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("refund_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("refunds", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("refunded_fees", sa.Numeric(precision=16, scale=2), server_default="0", nullable=False),
        sa.Column("rating_sum", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("practitioner_id", "day", "meeting_type", name=op.f("pk_analytics_practitioner_days")),
    )
    op.create_index(
        "ix_analytics_practitioner_days_day",
        "analytics_practitioner_days",
        ["day"],
        unique=False,
        postgresql_using="brin",
    )
    op.create_table(
        "analytics_practitioner_profiles",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("cell_i", sa.Integer(), nullable=False),
        sa.Column("cell_j", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("practitioner_id", name=op.f("pk_analytics_practitioner_profiles")),
    )
    op.create_index(
        "ix_analytics_practitioner_profiles_cell", "analytics_practitioner_profiles", ["cell_i", "cell_j"], unique=False
    )
    op.create_table(
        "analytics_refresh",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Numeric(precision=10, scale=3), nullable=False),
        sa.Column("full_rebuild", sa.Boolean(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_analytics_refresh_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_refresh")),
    )
    op.create_index("ix_bookings_updated_at", "bookings", ["updated_at"], unique=False)
    op.create_index("ix_practitioners_updated_at", "practitioners", ["updated_at"], unique=False)
    op.create_index("ix_reviews_updated_at", "reviews", ["updated_at"], unique=False)
    op.execute(TOUCH_UPDATED_AT)
    for table in TOUCHED_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch_updated_at BEFORE UPDATE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION touch_updated_at()"
        )


def downgrade() -> None:
    for table in TOUCHED_TABLES:
        op.execute(f"DROP TRIGGER {table}_touch_updated_at ON {table}")
    op.execute("DROP FUNCTION touch_updated_at()")
    op.drop_index("ix_reviews_updated_at", table_name="reviews")
    op.drop_index("ix_practitioners_updated_at", table_name="practitioners")
    op.drop_index("ix_bookings_updated_at", table_name="bookings")
    op.drop_table("analytics_refresh")
    op.drop_index("ix_analytics_practitioner_profiles_cell", table_name="analytics_practitioner_profiles")
    op.drop_table("analytics_practitioner_profiles")
    op.drop_index(
        "ix_analytics_practitioner_days_day", table_name="analytics_practitioner_days", postgresql_using="brin"
    )
    op.drop_table("analytics_practitioner_days")
    op.drop_table("analytics_days")
    op.drop_table("analytics_cell_supply")
    op.drop_table("analytics_cell_months")
    op.drop_table("analytics_cell_demand")
