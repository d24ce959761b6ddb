"""Prepared statements outlive a refusal: a rolled-back transaction whose statements all
succeeded keeps them, so the next request is not planned afresh."""

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DataError

from avenrae import db

REPEATED = text("SELECT count(*) FROM users WHERE role = :role")


def prepared_statements(connection: Connection) -> set[str]:
    return set(connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements").scalars())


def run_until_prepared(connection: Connection) -> set[str]:
    for _ in range(6):  # psycopg prepares a statement on its fifth run
        connection.execute(REPEATED, {"role": "client"})
    prepared = prepared_statements(connection)
    assert any("FROM users WHERE role" in statement for statement in prepared)
    return prepared


def test_the_apps_engine_keeps_prepared_statements_across_a_healthy_rollback(test_database_url):
    engine = db.engine_for(test_database_url)
    with engine.connect() as connection:
        assert isinstance(connection.connection.dbapi_connection, db.PlansSurviveRollback)
        prepared = run_until_prepared(connection)
        connection.rollback()
        assert prepared_statements(connection) == prepared
        # and psycopg still knows it prepared them: the next run uses the statement as is
        connection.execute(REPEATED, {"role": "practitioner"})
        assert prepared_statements(connection) == prepared


def test_a_failed_transaction_still_forgets_them_as_psycopg_does(test_database_url):
    engine = db.engine_for(test_database_url)
    with engine.connect() as connection:
        run_until_prepared(connection)
        with pytest.raises(DataError, match="division by zero"):
            connection.execute(text("SELECT 1 / 0"))
        connection.rollback()
        assert not any("FROM users WHERE role" in statement for statement in prepared_statements(connection))
        connection.execute(REPEATED, {"role": "client"})  # and works again, unprepared
