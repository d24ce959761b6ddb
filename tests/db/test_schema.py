"""The migrations build exactly the models, and tear everything down again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, text

from avenrae import db as app_db
from avenrae.models import Base


def test_models_and_migrated_schema_agree(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_object": alembic_helpers.include_object},
        )
        assert compare_metadata(context, Base.metadata) == []


def test_every_table_of_the_design_exists(db):
    tables = set(db.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    assert {
        "users",
        "practitioners",
        "clients",
        "availability_slots",
        "availability_exceptions",
        "bookings",
        "reviews",
        "payment_transactions",
        "refresh_tokens",
        "notifications",
        "audit_log",
        "stripe_events",
        "login_attempts",
    } <= tables


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds_it(server_url):
    url = app_db.sibling_database(server_url, "avenrae_migration_test", recreate=True)
    app_db.migrate(url)
    app_db.downgrade(url, "base")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            leftovers = (
                connection.execute(
                    text("""
                SELECT 'table ' || tablename FROM pg_tables
                WHERE schemaname = 'public' AND tablename <> 'alembic_version'
                UNION ALL SELECT 'type ' || typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                          WHERE n.nspname = 'public' AND t.typtype = 'e'
                UNION ALL SELECT 'function ' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                          WHERE n.nspname = 'public'
                UNION ALL SELECT 'extension ' || extname FROM pg_extension WHERE extname IN ('postgis', 'btree_gist')
            """)
                )
                .scalars()
                .all()
            )
            assert leftovers == []
            jit = connection.execute(
                text(
                    "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                    "WHERE d.datname = current_database()"
                )
            ).scalar()
            assert jit == 0
        app_db.migrate(url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM practitioners")).scalar() == 0
    finally:
        engine.dispose()


def test_migration_turns_jit_off_for_the_database(engine):
    # A new connection reads the per-database setting the migration made.
    with engine.connect() as connection:
        assert connection.execute(text("SHOW jit")).scalar() == "off"
