"""Foundation: extensions, enums, every table, the search SQL functions.

Revision ID: 20261125_foundation
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geography
from sqlalchemy.dialects import postgresql

revision: str = "20261125_foundation"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _enum(name: str, *values: str) -> postgresql.ENUM:
    return postgresql.ENUM(*values, name=name, create_type=False)


USER_ROLE = _enum("user_role", "client", "practitioner", "staff", "analyst", "admin")
SPECIALIZATION_TYPE = _enum("specialization_type", "healer", "prophet", "medium", "counselor")
VERIFICATION_STATUS = _enum("verification_status", "unverified", "pending", "verified", "rejected")
BOOKING_STATUS = _enum("booking_status", "pending", "confirmed", "completed", "cancelled", "no_show")
MEETING_TYPE = _enum("meeting_type", "in_person", "online")
PAYMENT_STATUS = _enum("payment_status", "pending", "completed", "refunded", "failed")
TRANSACTION_KIND = _enum("transaction_kind", "charge", "refund")
REVIEW_STATUS = _enum("review_status", "pending", "published", "rejected", "hidden")
ENUMS = [
    USER_ROLE,
    SPECIALIZATION_TYPE,
    VERIFICATION_STATUS,
    BOOKING_STATUS,
    MEETING_TYPE,
    PAYMENT_STATUS,
    TRANSACTION_KIND,
    REVIEW_STATUS,
]

# Verified, active practitioners within radius_km of (lat, lon), nearest first.
# A single-SELECT SQL function that is STABLE and not STRICT, so the planner inlines it
# into the caller's query: ST_DWithin then sees constants and finds the candidates
# through the GiST index on practitioners.location instead of measuring every row.
# The order is by the reported (spheroid) distance: `<->` on geography measures on a
# sphere, which can swap two practitioners whose distances differ by under 0.5%.
FIND_PRACTITIONERS_NEAR = """
CREATE FUNCTION find_practitioners_near(
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
      AND p.verification_status = 'verified'
      AND u.is_active
      AND u.deleted_at IS NULL
      AND (spec IS NULL OR p.specialization = spec)
    ORDER BY 5, p.id
$fn$
"""

DISTANCE_KM = """
CREATE FUNCTION distance_km(
    lat1 double precision, lon1 double precision, lat2 double precision, lon2 double precision
)
RETURNS double precision
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $fn$
    SELECT ST_Distance(ST_SetSRID(ST_MakePoint(lon1, lat1), 4326)::geography,
                       ST_SetSRID(ST_MakePoint(lon2, lat2), 4326)::geography) / 1000.0
$fn$
"""

# Interactive queries never gain from JIT, and the KNN plan's large cost estimate makes
# PostgreSQL compile it first (~200 ms a call). Needs ownership of the database; a
# database we do not own keeps its setting and says so.
JIT_OFF = """
DO $do$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'not the owner of this database: leaving jit as it is';
END
$do$
"""
JIT_RESET = JIT_OFF.replace("SET jit = off", "RESET jit")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    bind = op.get_bind()
    for enum in ENUMS:
        enum.create(bind)
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=100), nullable=False),
        sa.Column("role", USER_ROLE, nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "must_change_password",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
        ),
        sa.Column("stripe_customer_id", sa.String(length=64), nullable=True),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "email = btrim(email) AND email LIKE '%%_@_%%'",
            name=op.f("ck_users_email_shape"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_users_stripe_customer_id")),
    )
    op.create_index(
        "uq_users_email_lower",
        "users",
        [sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(
        "ix_audit_log_actor_created_at",
        "audit_log",
        ["actor_id", "created_at"],
        unique=False,
    )
    op.create_index("ix_audit_log_created_at", "audit_log", ["created_at"], unique=False)
    op.create_index("ix_audit_log_target", "audit_log", ["target_type", "target_id"], unique=False)
    op.create_geospatial_table(
        "clients",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("preferred_place", sa.String(length=120), nullable=True),
        sa.Column(
            "preferred_location",
            Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
            ),
            nullable=True,
        ),
        sa.Column(
            "preferences",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_clients_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
        sa.UniqueConstraint("user_id", name=op.f("uq_clients_user_id")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("ip_address", sa.String(length=45), nullable=True),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_login_attempts_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(
        "ix_login_attempts_email_attempted_at",
        "login_attempts",
        ["email", "attempted_at"],
        unique=False,
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_user_created_at",
        "notifications",
        ["user_id", "created_at"],
        unique=False,
    )
    op.create_geospatial_table(
        "practitioners",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("specialization", SPECIALIZATION_TYPE, nullable=False),
        sa.Column("bio", sa.Text(), server_default="", nullable=False),
        sa.Column("rating", sa.Numeric(precision=3, scale=2), nullable=True),
        sa.Column("review_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "location",
            Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("service_address", sa.String(length=255), nullable=False),
        sa.Column("city", sa.String(length=120), nullable=True),
        sa.Column("province", sa.String(length=40), nullable=True),
        sa.Column("service_radius_km", sa.Integer(), server_default="50", nullable=False),
        sa.Column("rate_per_session", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column(
            "session_duration_minutes",
            sa.Integer(),
            server_default="60",
            nullable=False,
        ),
        sa.Column(
            "offers_in_person",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column(
            "offers_online",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
        ),
        sa.Column(
            "verification_status",
            VERIFICATION_STATUS,
            server_default="unverified",
            nullable=False,
        ),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "time_zone",
            sa.String(length=64),
            server_default="Africa/Johannesburg",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "offers_in_person OR offers_online",
            name=op.f("ck_practitioners_offers_a_meeting_type"),
        ),
        sa.CheckConstraint("rate_per_session >= 0", name=op.f("ck_practitioners_rate_non_negative")),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_practitioners_rating_range")),
        sa.CheckConstraint("review_count >= 0", name=op.f("ck_practitioners_review_count_non_negative")),
        sa.CheckConstraint(
            "service_radius_km BETWEEN 1 AND 500",
            name=op.f("ck_practitioners_service_radius_range"),
        ),
        sa.CheckConstraint(
            "session_duration_minutes BETWEEN 15 AND 480",
            name=op.f("ck_practitioners_duration_range"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_practitioners_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioners")),
        sa.UniqueConstraint("user_id", name=op.f("uq_practitioners_user_id")),
    )
    op.create_geospatial_index(
        "ix_practitioners_location",
        "practitioners",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_practitioners_rating", "practitioners", ["rating"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_refresh_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family_id"], unique=False)
    op.create_index("ix_refresh_tokens_user", "refresh_tokens", ["user_id"], unique=False)
    op.create_table(
        "availability_exceptions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "starts_at < ends_at",
            name=op.f("ck_availability_exceptions_starts_before_end"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_availability_exceptions_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_exceptions")),
    )
    op.create_index(
        "ix_availability_exceptions_practitioner_start",
        "availability_exceptions",
        ["practitioner_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "availability_slots",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("day_of_week", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "day_of_week BETWEEN 0 AND 6",
            name=op.f("ck_availability_slots_day_of_week_range"),
        ),
        sa.CheckConstraint(
            "start_time < end_time",
            name=op.f("ck_availability_slots_starts_before_end"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_availability_slots_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_slots")),
    )
    op.create_index(
        "ix_availability_slots_practitioner_day",
        "availability_slots",
        ["practitioner_id", "day_of_week"],
        unique=False,
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("session_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("session_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", BOOKING_STATUS, server_default="pending", nullable=False),
        sa.Column("meeting_type", MEETING_TYPE, nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="ZAR", nullable=False),
        sa.Column("service_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("platform_fee_rate", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("platform_fee", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("payment_status", PAYMENT_STATUS, server_default="pending", nullable=False),
        sa.Column("stripe_payment_intent_id", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancellation_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.text("practitioner_id"), "="),
            (sa.text("tstzrange(session_start, session_end, '[)')"), "&&"),
            where=sa.text("status IN ('pending', 'confirmed')"),
            using="gist",
            name="ex_bookings_no_overlap",
        ),
        sa.CheckConstraint("currency = 'ZAR'", name=op.f("ck_bookings_currency_zar")),
        sa.CheckConstraint(
            "platform_fee = round(service_amount * platform_fee_rate, 2)",
            name=op.f("ck_bookings_fee_matches_rate"),
        ),
        sa.CheckConstraint(
            "platform_fee_rate >= 0 AND platform_fee_rate < 1",
            name=op.f("ck_bookings_fee_rate_range"),
        ),
        sa.CheckConstraint(
            "service_amount >= 0 AND platform_fee >= 0 AND total_amount >= 0",
            name=op.f("ck_bookings_amounts_non_negative"),
        ),
        sa.CheckConstraint(
            "session_end > session_start",
            name=op.f("ck_bookings_session_ends_after_start"),
        ),
        sa.CheckConstraint(
            "total_amount = service_amount + platform_fee",
            name=op.f("ck_bookings_total_is_service_plus_fee"),
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"],
            ["users.id"],
            name=op.f("fk_bookings_cancelled_by_id_users"),
        ),
        sa.ForeignKeyConstraint(["client_id"], ["users.id"], name=op.f("fk_bookings_client_id_users")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_bookings_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_bookings_practitioner_id_practitioners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint(
            "stripe_payment_intent_id",
            name=op.f("uq_bookings_stripe_payment_intent_id"),
        ),
    )
    op.create_index(
        "ix_bookings_client_session_start",
        "bookings",
        ["client_id", "session_start"],
        unique=False,
    )
    op.create_index(
        "ix_bookings_practitioner_session_start",
        "bookings",
        ["practitioner_id", "session_start"],
        unique=False,
    )
    op.create_index(
        "ix_bookings_status_session_start",
        "bookings",
        ["status", "session_start"],
        unique=False,
    )
    op.create_table(
        "payment_transactions",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", TRANSACTION_KIND, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.Column("provider_reference", sa.String(length=255), nullable=True),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="ZAR", nullable=False),
        sa.Column("status", PAYMENT_STATUS, nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("currency = 'ZAR'", name=op.f("ck_payment_transactions_currency_zar")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_payment_transactions_amount_positive")),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_payment_transactions_booking_id_bookings"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_payment_transactions_created_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_payment_transactions_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_transactions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_payment_transactions_idempotency_key")),
    )
    op.create_index(
        "ix_payment_transactions_booking",
        "payment_transactions",
        ["booking_id"],
        unique=False,
    )
    op.create_index(
        "ix_payment_transactions_created_at",
        "payment_transactions",
        ["created_at"],
        unique=False,
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), server_default="", nullable=False),
        sa.Column("status", REVIEW_STATUS, server_default="pending", nullable=False),
        sa.Column(
            "flags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("moderation_reason", sa.Text(), nullable=True),
        sa.Column("moderated_by_id", sa.Uuid(), nullable=True),
        sa.Column("moderated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("practitioner_reply", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("char_length(comment) <= 2000", name=op.f("ck_reviews_comment_length")),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name=op.f("ck_reviews_rating_range")),
        sa.ForeignKeyConstraint(["booking_id"], ["bookings.id"], name=op.f("fk_reviews_booking_id_bookings")),
        sa.ForeignKeyConstraint(["client_id"], ["users.id"], name=op.f("fk_reviews_client_id_users")),
        sa.ForeignKeyConstraint(
            ["moderated_by_id"],
            ["users.id"],
            name=op.f("fk_reviews_moderated_by_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_reviews_practitioner_id_practitioners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("booking_id", name=op.f("uq_reviews_booking_id")),
    )
    op.create_index(
        "ix_reviews_practitioner_status",
        "reviews",
        ["practitioner_id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_reviews_status_created_at",
        "reviews",
        ["status", "created_at"],
        unique=False,
    )
    op.execute(FIND_PRACTITIONERS_NEAR)
    op.execute(DISTANCE_KM)
    op.execute(JIT_OFF)


def downgrade() -> None:
    op.execute(JIT_RESET)
    op.execute("DROP FUNCTION distance_km(double precision, double precision, double precision, double precision)")
    op.execute(
        "DROP FUNCTION find_practitioners_near(double precision, double precision, double precision, specialization_type)"
    )
    op.drop_index("ix_reviews_status_created_at", table_name="reviews")
    op.drop_index("ix_reviews_practitioner_status", table_name="reviews")
    op.drop_table("reviews")
    op.drop_index("ix_payment_transactions_created_at", table_name="payment_transactions")
    op.drop_index("ix_payment_transactions_booking", table_name="payment_transactions")
    op.drop_table("payment_transactions")
    op.drop_index("ix_bookings_status_session_start", table_name="bookings")
    op.drop_index("ix_bookings_practitioner_session_start", table_name="bookings")
    op.drop_index("ix_bookings_client_session_start", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_availability_slots_practitioner_day", table_name="availability_slots")
    op.drop_table("availability_slots")
    op.drop_index(
        "ix_availability_exceptions_practitioner_start",
        table_name="availability_exceptions",
    )
    op.drop_table("availability_exceptions")
    op.drop_index("ix_refresh_tokens_user", table_name="refresh_tokens")
    op.drop_index("ix_refresh_tokens_family", table_name="refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_practitioners_rating", table_name="practitioners")
    op.drop_geospatial_index(
        "ix_practitioners_location",
        table_name="practitioners",
        postgresql_using="gist",
        column_name="location",
    )
    op.drop_geospatial_table("practitioners")
    op.drop_index("ix_notifications_user_created_at", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_login_attempts_email_attempted_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_geospatial_table("clients")
    op.drop_index("ix_audit_log_target", table_name="audit_log")
    op.drop_index("ix_audit_log_created_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_created_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("uq_users_email_lower", table_name="users")
    op.drop_table("users")
    op.drop_table("stripe_events")
    bind = op.get_bind()
    for enum in reversed(ENUMS):
        enum.drop(bind)
    op.execute("DROP EXTENSION IF EXISTS btree_gist")
    op.execute("DROP EXTENSION IF EXISTS postgis")
