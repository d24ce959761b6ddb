"""Supply by city in the analytics rollups: Home's map of where practitioners are.

The supply layer (active practitioners per map hexagon and specialization) also keys its
rows by the province and city the practitioners count under, with the sums of their
latitudes and longitudes, so Home draws practitioners per city from the rollups (a few
thousand rows) instead of grouping a million practitioners live on its first visit.
A hexagon's supply is the sum of its city rows; the refresh recounts whole hexagons, so
keeping it incremental is unchanged.

Revision ID: 20261204_city_supply
Revises: 20261204_payment_intents
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261204_city_supply"
down_revision: str | Sequence[str] | None = "20261204_payment_intents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The supply layer as of this revision, recounted from the practitioners' profiles (as the
# refresh does) so the figures are whole the moment the migration ends.
_RECOUNT = """
    INSERT INTO analytics_cell_supply
        (cell_i, cell_j, specialization, province, city, practitioners, verified, latitude_sum, longitude_sum)
    SELECT a.cell_i, a.cell_j, a.specialization, a.province, a.city, count(*),
           count(*) FILTER (WHERE p.verification_status = 'verified'),
           sum(ST_Y(p.location::geometry)), sum(ST_X(p.location::geometry))
    FROM analytics_practitioner_profiles a
    JOIN practitioners p ON p.id = a.practitioner_id
    JOIN users u ON u.id = p.user_id
    WHERE u.is_active AND u.deleted_at IS NULL
    GROUP BY 1, 2, 3, 4, 5
"""


def upgrade() -> None:
    op.execute("DELETE FROM analytics_cell_supply")
    op.drop_constraint("pk_analytics_cell_supply", "analytics_cell_supply", type_="primary")
    op.add_column("analytics_cell_supply", sa.Column("province", sa.String(length=40), nullable=False))
    op.add_column("analytics_cell_supply", sa.Column("city", sa.String(length=120), nullable=False))
    for column in ("latitude_sum", "longitude_sum"):
        op.add_column("analytics_cell_supply", sa.Column(column, sa.Float(), nullable=False))
    op.create_primary_key(
        "pk_analytics_cell_supply", "analytics_cell_supply", ["cell_i", "cell_j", "specialization", "province", "city"]
    )
    op.execute(_RECOUNT)


def downgrade() -> None:
    op.execute("DELETE FROM analytics_cell_supply")
    op.drop_constraint("pk_analytics_cell_supply", "analytics_cell_supply", type_="primary")
    for column in ("longitude_sum", "latitude_sum", "city", "province"):
        op.drop_column("analytics_cell_supply", column)
    op.create_primary_key("pk_analytics_cell_supply", "analytics_cell_supply", ["cell_i", "cell_j", "specialization"])
    op.execute(
        "INSERT INTO analytics_cell_supply (cell_i, cell_j, specialization, practitioners, verified) "
        "SELECT a.cell_i, a.cell_j, a.specialization, count(*), "
        "count(*) FILTER (WHERE p.verification_status = 'verified') "
        "FROM analytics_practitioner_profiles a JOIN practitioners p ON p.id = a.practitioner_id "
        "JOIN users u ON u.id = p.user_id WHERE u.is_active AND u.deleted_at IS NULL GROUP BY 1, 2, 3"
    )
