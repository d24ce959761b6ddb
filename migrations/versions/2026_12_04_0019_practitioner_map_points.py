"""Map points: the practitioner columns a search filters on, in a narrow table for the map.

Find practitioners counts every match beyond the nearest markers per grid cell. Around a
big city at a million practitioners that is 140,000 rows, and reading them from the wide
practitioners table (bio, address, search document: about 1.2 kB a row) means about
34,000 heap pages, over a second when they are not cached. The same count on this copy
(about 100 bytes a row) reads a tenth of that. Statement-level triggers with transition
tables keep it in step in the same transaction as every insert and update of
practitioners (a bulk insert is one INSERT ... SELECT); a deleted practitioner's point goes
with it (ON DELETE CASCADE).

Revision ID: 20261204_map_points
Revises: 20261204_city_supply
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "20261204_map_points"
down_revision: str | Sequence[str] | None = "20261204_city_supply"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    "id, user_id, location, service_radius_km, specialization, verification_status, rating, "
    "rate_per_session, offers_in_person, offers_online"
)
UPDATES = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS.split(", ")[1:])


def _existing(name: str) -> postgresql.ENUM:
    return postgresql.ENUM(name=name, create_type=False)


def upgrade() -> None:
    op.create_table(
        "practitioner_map_points",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column("service_radius_km", sa.Integer(), nullable=False),
        sa.Column("specialization", _existing("specialization_type"), nullable=False),
        sa.Column("verification_status", _existing("verification_status"), nullable=False),
        sa.Column("rating", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column("rate_per_session", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("offers_in_person", sa.Boolean(), nullable=False),
        sa.Column("offers_online", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["id"],
            ["practitioners.id"],
            name=op.f("fk_practitioner_map_points_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioner_map_points")),
    )
    op.execute(f"INSERT INTO practitioner_map_points ({COLUMNS}) SELECT {COLUMNS} FROM practitioners")
    op.create_index(
        "ix_practitioner_map_points_location", "practitioner_map_points", ["location"], postgresql_using="gist"
    )
    op.execute(
        f"""
        CREATE FUNCTION practitioner_map_points_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO practitioner_map_points ({COLUMNS})
            SELECT {COLUMNS} FROM changed_practitioners
            ON CONFLICT (id) DO UPDATE SET {UPDATES};
            RETURN NULL;
        END $$
        """
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER practitioner_map_points_on_{event.lower()} AFTER {event} ON practitioners "
            "REFERENCING NEW TABLE AS changed_practitioners "
            "FOR EACH STATEMENT EXECUTE FUNCTION practitioner_map_points_sync()"
        )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER practitioner_map_points_on_{event} ON practitioners")
    op.execute("DROP FUNCTION practitioner_map_points_sync()")
    op.drop_index("ix_practitioner_map_points_location", table_name="practitioner_map_points")
    op.drop_table("practitioner_map_points")
