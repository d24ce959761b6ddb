"""Geocoding: how each practitioner's location was found (and what they were told), and a
cache of online geocoder answers so each query is asked once.

Revision ID: 20261202_geocoding
Revises: 20261202_eft_and_expiry
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_geocoding"
down_revision: str | Sequence[str] | None = "20261202_eft_and_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("practitioners", sa.Column("location_precision", sa.String(length=20), nullable=True))
    op.add_column("practitioners", sa.Column("location_note", sa.String(length=300), nullable=True))
    op.create_check_constraint(
        op.f("ck_practitioners_location_precision_known"),
        "practitioners",
        "location_precision IN ('place', 'postal area', 'city', 'map pin', 'online')",
    )
    op.create_table(
        "geocode_cache",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("query_key", sa.String(length=300), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("province", sa.String(length=40), nullable=True),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("looked_up_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "NOT found OR (latitude BETWEEN -90 AND 90 AND longitude BETWEEN -180 AND 180 AND province IS NOT NULL)",
            name=op.f("ck_geocode_cache_found_has_a_point"),
        ),
        sa.PrimaryKeyConstraint("provider", "query_key", name=op.f("pk_geocode_cache")),
    )


def downgrade() -> None:
    op.drop_table("geocode_cache")
    op.drop_constraint(op.f("ck_practitioners_location_precision_known"), "practitioners", type_="check")
    op.drop_column("practitioners", "location_note")
    op.drop_column("practitioners", "location_precision")
