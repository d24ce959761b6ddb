"""Analytics by city and practitioner at scale: city rollups per day and per month, and
practitioner figures per month, so breakdowns by city and practitioner rankings read whole
months from small tables instead of every practitioner-day; practitioner-days also carry
sessions by status, so every rollup is kept by adding what changed.

Revision ID: 20261201_analytics_months
Revises: 20261125_analytics
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261201_analytics_months"
down_revision: str | Sequence[str] | None = "20261125_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MEASURES = (
    ("bookings", sa.Integer()),
    ("completed", sa.Integer()),
    ("cancelled", sa.Integer()),
    ("no_shows", sa.Integer()),
    ("charges", sa.Integer()),
    ("gross", sa.Numeric(precision=16, scale=2)),
    ("gross_fees", sa.Numeric(precision=16, scale=2)),
    ("refund_count", sa.Integer()),
    ("refunds", sa.Numeric(precision=16, scale=2)),
    ("refunded_fees", sa.Numeric(precision=16, scale=2)),
    ("rating_sum", sa.Integer()),
    ("rating_count", sa.Integer()),
)


STATUSES = ("pending", "confirmed", "completed", "cancelled", "no_show")


def _existing(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(name=name, create_type=False)


def _measures() -> list[sa.Column]:
    return [sa.Column(name, kind, server_default="0", nullable=False) for name, kind in MEASURES]


def _city_rollup(table: str, period: str) -> None:
    op.create_table(
        table,
        sa.Column(period, sa.Date(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("province", sa.String(length=40), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=False),
        sa.Column("meeting_type", _existing("meeting_type"), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint(period, "specialization", "province", "city", "meeting_type", name=op.f(f"pk_{table}")),
    )


SESSION_MEASURES = (
    ("pending", sa.Integer()),
    ("confirmed", sa.Integer()),
    *((f"paid_{status}", sa.Numeric(precision=16, scale=2)) for status in STATUSES),
)


def upgrade() -> None:
    # The map's hexagon months are summed from practitioner-days too, so they need the
    # sessions by status and what was paid for them.
    for name, kind in SESSION_MEASURES:
        op.add_column("analytics_practitioner_days", sa.Column(name, kind, server_default="0", nullable=False))
    _city_rollup("analytics_city_days", "day")
    _city_rollup("analytics_city_months", "month")
    op.create_table(
        "analytics_practitioner_months",
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("meeting_type", _existing("meeting_type"), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint(
            "practitioner_id", "month", "meeting_type", name=op.f("pk_analytics_practitioner_months")
        ),
    )
    op.create_index("ix_analytics_practitioner_months_month_gross", "analytics_practitioner_months", ["month", "gross"])
    # The new rollups start empty: the next refresh rebuilds everything once.
    op.execute("DELETE FROM analytics_refresh")


def downgrade() -> None:
    op.drop_index("ix_analytics_practitioner_months_month_gross", table_name="analytics_practitioner_months")
    op.drop_table("analytics_practitioner_months")
    op.drop_table("analytics_city_months")
    op.drop_table("analytics_city_days")
    for name, _ in SESSION_MEASURES:
        op.drop_column("analytics_practitioner_days", name)
