"""Trust and safety: a practitioner's rating kept by the database from published reviews;
verification applications with their documents and messages.

Revision ID: 20261125_trust
Revises: 20261125_payments
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261125_trust"
down_revision: str | Sequence[str] | None = "20261125_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# rating and review_count are those of the practitioner's published reviews, whatever
# statement changes a review. Statement triggers over the changed rows, so a bulk load
# recomputes once; the practitioners are locked first, so two moderators publishing at
# once each count the other's review (the next statement sees what committed meanwhile).
RATING_RULE = """
CREATE FUNCTION reviews_refresh_rating() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    affected uuid[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT practitioner_id) INTO affected FROM new_reviews;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT practitioner_id) INTO affected FROM old_reviews;
    ELSE
        SELECT array_agg(DISTINCT practitioner_id) INTO affected
          FROM (SELECT practitioner_id FROM new_reviews UNION SELECT practitioner_id FROM old_reviews) changed;
    END IF;
    IF affected IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM practitioners WHERE id = ANY (affected) ORDER BY id FOR UPDATE;
    UPDATE practitioners p
       SET rating = s.rating, review_count = s.reviews
      FROM (SELECT a.id, round(avg(r.rating), 2) AS rating, count(r.id) AS reviews
              FROM unnest(affected) AS a(id)
              LEFT JOIN reviews r ON r.practitioner_id = a.id AND r.status = 'published'
             GROUP BY a.id) s
     WHERE p.id = s.id AND (p.rating, p.review_count) IS DISTINCT FROM (s.rating, s.reviews);
    RETURN NULL;
END $$;

CREATE TRIGGER reviews_refresh_rating_insert AFTER INSERT ON reviews
    REFERENCING NEW TABLE AS new_reviews FOR EACH STATEMENT EXECUTE FUNCTION reviews_refresh_rating();
CREATE TRIGGER reviews_refresh_rating_update AFTER UPDATE ON reviews
    REFERENCING NEW TABLE AS new_reviews OLD TABLE AS old_reviews
    FOR EACH STATEMENT EXECUTE FUNCTION reviews_refresh_rating();
CREATE TRIGGER reviews_refresh_rating_delete AFTER DELETE ON reviews
    REFERENCING OLD TABLE AS old_reviews FOR EACH STATEMENT EXECUTE FUNCTION reviews_refresh_rating();
"""


def upgrade() -> None:
    op.create_table(
        "verification_applications",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("practitioner_id", sa.Uuid(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("registration_body", sa.String(length=120), nullable=True),
        sa.Column("registration_number", sa.String(length=60), nullable=True),
        sa.Column("years_of_practice", sa.SmallInteger(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "needs_information", "approved", "rejected", name="application_status"),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "char_length(legal_name) BETWEEN 2 AND 200", name=op.f("ck_verification_applications_legal_name_length")
        ),
        sa.CheckConstraint(
            "char_length(statement) BETWEEN 1 AND 4000", name=op.f("ck_verification_applications_statement_length")
        ),
        sa.CheckConstraint("years_of_practice BETWEEN 0 AND 80", name=op.f("ck_verification_applications_years_range")),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_verification_applications_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["practitioner_id"],
            ["practitioners.id"],
            name=op.f("fk_verification_applications_practitioner_id_practitioners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_applications")),
    )
    op.create_index(
        "ix_verification_applications_status_created_at",
        "verification_applications",
        ["status", "created_at"],
        unique=False,
    )
    op.create_index(
        "uq_verification_applications_open",
        "verification_applications",
        ["practitioner_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'needs_information')"),
    )
    op.create_table(
        "verification_documents",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/jpeg', 'image/png')",
            name=op.f("ck_verification_documents_content_type_allowed"),
        ),
        sa.CheckConstraint(
            "octet_length(content) BETWEEN 1 AND 5242880", name=op.f("ck_verification_documents_size_limit")
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["verification_applications.id"],
            name=op.f("fk_verification_documents_application_id_verification_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_verification_documents_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_documents")),
    )
    op.create_index("ix_verification_documents_application", "verification_documents", ["application_id"], unique=False)
    op.create_table(
        "verification_messages",
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("message", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["verification_applications.id"],
            name=op.f("fk_verification_messages_application_id_verification_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_verification_messages_author_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_messages")),
    )
    op.create_index(
        "ix_verification_messages_application_created_at",
        "verification_messages",
        ["application_id", "created_at"],
        unique=False,
    )
    op.add_column("practitioners", sa.Column("health_registration", sa.String(length=200), nullable=True))
    op.create_check_constraint("reply_length", "reviews", "char_length(practitioner_reply) <= 2000")
    op.execute(RATING_RULE)
    # Bring ratings in line once, in case rows were written before the rule existed.
    op.execute("""
        UPDATE practitioners p SET rating = s.rating, review_count = s.reviews
          FROM (SELECT p2.id, round(avg(r.rating), 2) AS rating, count(r.id) AS reviews
                  FROM practitioners p2
                  LEFT JOIN reviews r ON r.practitioner_id = p2.id AND r.status = 'published'
                 GROUP BY p2.id) s
         WHERE p.id = s.id AND (p.rating, p.review_count) IS DISTINCT FROM (s.rating, s.reviews)
    """)


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER reviews_refresh_rating_{event} ON reviews")
    op.execute("DROP FUNCTION reviews_refresh_rating()")
    op.drop_constraint(op.f("ck_reviews_reply_length"), "reviews", type_="check")
    op.drop_column("practitioners", "health_registration")
    op.drop_index("ix_verification_messages_application_created_at", table_name="verification_messages")
    op.drop_table("verification_messages")
    op.drop_index("ix_verification_documents_application", table_name="verification_documents")
    op.drop_table("verification_documents")
    op.drop_index(
        "uq_verification_applications_open",
        table_name="verification_applications",
        postgresql_where=sa.text("status IN ('pending', 'needs_information')"),
    )
    op.drop_index("ix_verification_applications_status_created_at", table_name="verification_applications")
    op.drop_table("verification_applications")
    op.execute("DROP TYPE application_status")
