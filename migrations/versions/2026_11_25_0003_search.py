"""Search: a full-text document per practitioner, kept current by triggers, and the search log.

Revision ID: 20261125_search
Revises: 20261125_accounts
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision: str = "20261125_search"
down_revision: str | Sequence[str] | None = "20261125_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One definition of what text search looks at: the name and specialization weigh
# most (A), the bio next (B). The seeder calls the same function.
DOCUMENT_FUNCTION = """
CREATE FUNCTION practitioner_search_document(
    first_name text, last_name text, specialization specialization_type, bio text
) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $fn$
    SELECT setweight(to_tsvector('english', coalesce(first_name, '') || ' ' || coalesce(last_name, '')), 'A')
        || setweight(to_tsvector('english', specialization::text), 'A')
        || setweight(to_tsvector('english', coalesce(bio, '')), 'B')
$fn$
"""

PRACTITIONER_TRIGGER = """
CREATE FUNCTION practitioners_set_search_document() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    SELECT practitioner_search_document(u.first_name, u.last_name, NEW.specialization, NEW.bio)
    INTO NEW.search_document
    FROM users u WHERE u.id = NEW.user_id;
    RETURN NEW;
END
$fn$;
CREATE TRIGGER practitioners_search_document
BEFORE INSERT OR UPDATE OF bio, specialization, user_id ON practitioners
FOR EACH ROW EXECUTE FUNCTION practitioners_set_search_document();
"""

USER_TRIGGER = """
CREATE FUNCTION users_refresh_practitioner_document() RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    UPDATE practitioners p
    SET search_document = practitioner_search_document(NEW.first_name, NEW.last_name, p.specialization, p.bio)
    WHERE p.user_id = NEW.id;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER users_practitioner_search_document
AFTER UPDATE OF first_name, last_name ON users
FOR EACH ROW WHEN (OLD.first_name IS DISTINCT FROM NEW.first_name OR OLD.last_name IS DISTINCT FROM NEW.last_name)
EXECUTE FUNCTION users_refresh_practitioner_document();
"""


# find_practitioners_near as in the foundation, now also honouring each practitioner's
# service radius, so it agrees with the search service on the same inputs.
FIND_NEAR_TEMPLATE = """
CREATE OR REPLACE FUNCTION find_practitioners_near(
    lat double precision,
    lon double precision,
    radius_km double precision DEFAULT 50,
    spec specialization_type DEFAULT NULL
)
RETURNS TABLE (
    id uuid,
    name text,
    specialization specialization_type,
    rating numeric,
    distance double precision,
    rate numeric
)
LANGUAGE sql STABLE PARALLEL SAFE
AS $fn$
    SELECT p.id,
           u.first_name || ' ' || u.last_name,
           p.specialization,
           p.rating,
           ST_Distance(p.location, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) / 1000.0,
           p.rate_per_session
    FROM practitioners p
    JOIN users u ON u.id = p.user_id
    WHERE ST_DWithin(p.location, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography,
                     radius_km * 1000.0)
      {service_radius}
      AND p.verification_status = 'verified'
      AND u.is_active
      AND u.deleted_at IS NULL
      AND (spec IS NULL OR p.specialization = spec)
    ORDER BY 5, p.id
$fn$
"""
SERVICE_RADIUS = """AND ST_DWithin(p.location, ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography,
                     p.service_radius_km * 1000.0)"""


def upgrade() -> None:
    op.execute(FIND_NEAR_TEMPLATE.format(service_radius=SERVICE_RADIUS))
    op.execute(DOCUMENT_FUNCTION)
    op.add_column(
        "practitioners",
        sa.Column("search_document", postgresql.TSVECTOR(), server_default=sa.text("''::tsvector"), nullable=False),
    )
    op.execute(PRACTITIONER_TRIGGER)
    op.execute(USER_TRIGGER)
    op.execute(
        "UPDATE practitioners p SET search_document = "
        "practitioner_search_document(u.first_name, u.last_name, p.specialization, p.bio) "
        "FROM users u WHERE u.id = p.user_id"
    )
    op.create_index(
        "ix_practitioners_search_document", "practitioners", ["search_document"], postgresql_using="gin"
    )
    op.create_geospatial_table(
        "search_log",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("searched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "centre",
            Geography(geometry_type="POINT", srid=4326, dimension=2, spatial_index=False, from_text="ST_GeogFromText",
                      name="geography", nullable=False),
            nullable=False,
        ),
        sa.Column("place", sa.String(length=160), nullable=True),
        sa.Column("radius_km", sa.Numeric(precision=6, scale=2), nullable=False),
        sa.Column("filters", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        sa.Column("results_found", sa.Integer(), nullable=False),
        sa.Column("more_results", sa.Boolean(), nullable=False),
        sa.CheckConstraint("radius_km > 0 AND radius_km <= 500", name=op.f("ck_search_log_radius_range")),
        sa.CheckConstraint("results_found >= 0", name=op.f("ck_search_log_results_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_log")),
    )
    op.create_geospatial_index(
        "ix_search_log_centre", "search_log", ["centre"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index("ix_search_log_searched_at", "search_log", ["searched_at"], unique=False)


def downgrade() -> None:
    op.execute(FIND_NEAR_TEMPLATE.format(service_radius=""))
    op.drop_index("ix_search_log_searched_at", table_name="search_log")
    op.drop_geospatial_index(
        "ix_search_log_centre", table_name="search_log", postgresql_using="gist", column_name="centre"
    )
    op.drop_geospatial_table("search_log")
    op.drop_index("ix_practitioners_search_document", table_name="practitioners")
    op.execute("DROP TRIGGER users_practitioner_search_document ON users")
    op.execute("DROP FUNCTION users_refresh_practitioner_document()")
    op.execute("DROP TRIGGER practitioners_search_document ON practitioners")
    op.execute("DROP FUNCTION practitioners_set_search_document()")
    op.drop_column("practitioners", "search_document")
    op.execute("DROP FUNCTION practitioner_search_document(text, text, specialization_type, text)")
