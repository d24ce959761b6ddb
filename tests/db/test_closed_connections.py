"""The app's pool hands out only connections the server has not closed, without a query
per checkout: after a restart (here, the server ending the connection) the next request
simply gets a new one."""

import select

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
    wait_until_readable(dbapi_connection.pgconn.socket)
    assert db.server_hung_up(dbapi_connection)  # at the first look: its goodbye is there to read

    with app_engine.connect() as connection:  # no error reaches the caller
        assert connection.execute(BACKEND).scalar_one() != first


def wait_until_readable(socket: int) -> None:
    """Until the server's goodbye has reached this side (pg_terminate_backend returns before)."""
    ready = select.poll()
    ready.register(socket, select.POLLIN)
    assert ready.poll(5000), "the server's goodbye never arrived"


def test_an_open_connection_is_reused_as_it_is(test_database_url):
    app_engine = one_pooled_engine(test_database_url)
    with app_engine.connect() as connection:
        first = connection.execute(BACKEND).scalar_one()
        assert not db.server_hung_up(connection.connection.dbapi_connection)
    with app_engine.connect() as connection:
        assert connection.execute(BACKEND).scalar_one() == first
