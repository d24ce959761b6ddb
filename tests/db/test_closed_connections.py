"""The app's pool hands out only connections the server has not closed, without a query
per checkout: after a restart (here, the server ending the connection) the next request
simply gets a new one."""

import time

from sqlalchemy import text

from avenrae import db

BACKEND = text("SELECT pg_backend_pid()")


def one_pooled_engine(url: str):
    engine = db.engine_for(url)
    engine.dispose()  # start from an empty pool: the engine is shared by the whole run
    return engine


def test_a_connection_the_server_closed_is_replaced_at_checkout(test_database_url, engine):
    app_engine = one_pooled_engine(test_database_url)
    with app_engine.connect() as connection:
        first = connection.execute(BACKEND).scalar_one()
        dbapi_connection = connection.connection.dbapi_connection
    with engine.connect() as admin:  # the test's own connection, as an administrator would
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    deadline = time.monotonic() + 5
    while not db.server_hung_up(dbapi_connection):
        assert time.monotonic() < deadline, "the closed connection never showed as closed"
        time.sleep(0.01)

    with app_engine.connect() as connection:  # no error reaches the caller
        assert connection.execute(BACKEND).scalar_one() != first


def test_an_open_connection_is_reused_as_it_is(test_database_url):
    app_engine = one_pooled_engine(test_database_url)
    with app_engine.connect() as connection:
        first = connection.execute(BACKEND).scalar_one()
        assert not db.server_hung_up(connection.connection.dbapi_connection)
    with app_engine.connect() as connection:
        assert connection.execute(BACKEND).scalar_one() == first
