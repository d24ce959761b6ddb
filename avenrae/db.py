"""The engine, sessions and the one transaction scope every caller uses."""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, CursorResult, Engine, Result, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from avenrae import localdb
from avenrae.config import REPO_ROOT, get_settings, normalise_database_url

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_SECONDS = 5


class DatabaseNotConfigured(RuntimeError):
    """Neither DATABASE_URL nor a local cluster is available."""


def database_url() -> str:
    """The SQLAlchemy URL of the database in use: DATABASE_URL, else the local cluster."""
    settings = get_settings()
    if settings.database_url:
        return settings.database_url
    state = localdb.read_state(settings.state_dir)
    if state is None:
        raise DatabaseNotConfigured(
            "no DATABASE_URL is set and the local database was never started: run `python -m avenrae db up`"
        )
    return normalise_database_url(state.url)


def _connect_args(url: str) -> dict[str, Any]:
    """Behind PgBouncer in transaction mode (AVENRAE_DATABASE_POOLED), psycopg must not
    prepare statements: the next transaction may run on another server connection. Then
    no engine prepares (the analytics replica's included: it may sit behind a pooler too).
    A server that does not answer at all is given up on after CONNECT_TIMEOUT_SECONDS (the
    page then says the database is unreachable; analytics turn to the main database)."""
    pooled = {"prepare_threshold": None} if get_settings().database_pooled else {}
    timeout = {} if "connect_timeout=" in url else {"connect_timeout": CONNECT_TIMEOUT_SECONDS}  # the URL's wins
    return {**timeout, **pooled}


class PlansSurviveRollback(psycopg.Connection[Any]):
    """A psycopg connection that keeps its prepared statements when a healthy transaction
    is rolled back.

    psycopg forgets every prepared statement on ROLLBACK (and sends DEALLOCATE ALL), so the
    statements a page or a booking runs are planned afresh after every refusal: a taken
    time, a failed check, anything that raises inside a transaction scope. PostgreSQL
    keeps protocol-level prepared statements across a rollback, and when no statement of
    the transaction failed (status INTRANS, not INERROR) every statement psycopg prepared in
    it was prepared, so its cache still tells the truth. A failed transaction is rolled
    back by psycopg as before."""

    def rollback(self) -> None:
        if self.pgconn.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            self.execute("ROLLBACK", prepare=False)
        else:
            super().rollback()


def keep_plans_on_rollback(engine: Engine) -> Engine:
    """Make the engine's connections PlansSurviveRollback (the benches' engines too)."""

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> psycopg.Connection[Any]:
        return PlansSurviveRollback.connect(*cargs, **cparams)

    return engine


def server_hung_up(connection: psycopg.Connection[Any]) -> bool:
    """Whether the server may have closed this idle connection (a restart,
    pg_terminate_backend, PgBouncer going away), asked without a round trip. An idle
    connection has nothing to read unless the server spoke first, and what it says to an
    idle session is, in practice, goodbye (a FATAL message, then the close, which may not
    have arrived yet): so anything to read counts as closed. A rare notice costs a new
    connection, never a failed request."""
    pgconn = connection.pgconn
    if pgconn.status != psycopg.pq.ConnStatus.OK:
        return True
    ready = select.poll()
    ready.register(pgconn.socket, select.POLLIN)
    return bool(ready.poll(0))


def replace_closed_connections(engine: Engine) -> Engine:
    """Hand out only connections the server has not closed, so the app carries on by itself
    when the database comes back after a restart. SQLAlchemy's pool_pre_ping does the same
    with a query per checkout, a round trip that a request taking two connections (the API's
    admission, then its work) paid twice."""

    @event.listens_for(engine, "checkout")
    def still_open(dbapi_connection: psycopg.Connection[Any], record: Any, proxy: Any) -> None:
        if server_hung_up(dbapi_connection):
            raise DisconnectionError("the server closed this connection")

    return engine


@cache
def engine_for(url: str) -> Engine:
    settings = get_settings()
    return replace_closed_connections(
        keep_plans_on_rollback(
            create_engine(
                url,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_pool_overflow,
                connect_args=_connect_args(url),
            )
        )
    )


def rows_changed(result: Result[Any]) -> int:
    """How many rows an INSERT, UPDATE or DELETE touched (its cursor result's rowcount)."""
    return cast(CursorResult[Any], result).rowcount


def get_engine() -> Engine:
    return engine_for(database_url())


SessionLocal = sessionmaker(expire_on_commit=False)


def _main_bind() -> Engine | Connection:
    """What SessionLocal's sessions run on: the app's engine, bound at first use (the tests
    bind a connection of their own first)."""
    if SessionLocal.kw.get("bind") is None:
        SessionLocal.configure(bind=get_engine())
    return SessionLocal.kw["bind"]


@contextmanager
def _committed_at_end(session: Session) -> Iterator[Session]:
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session whose work commits together at the end, or not at all on error."""
    _main_bind()
    with _committed_at_end(SessionLocal()) as session:
        yield session


@contextmanager
def statement_scope() -> Iterator[Session]:
    """A session in which each statement commits on its own (autocommit), for a request's
    admission: a read and one statement counting its rate limits. A transaction would add a
    BEGIN and a COMMIT round trip, and hold the counters' rows (one per client address,
    updated by every request from it) until that COMMIT is sent, which, on a busy server,
    waits its turn for the interpreter. Under the tests' single connection it is a
    transaction like any other."""
    bind = _main_bind()
    with _committed_at_end(SessionLocal(bind=_autocommitting(bind) if isinstance(bind, Engine) else bind)) as session:
        yield session


@cache
def _autocommitting(engine: Engine) -> Engine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


_TRANSACTION_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))")


def lock_until_commit(session: Session | Connection, name: str) -> None:
    """Wait for, then hold until this transaction ends, the lock called `name`: work
    under the same name (one client's bookings, one email's logins, requests to Nominatim)
    runs one at a time, across every server process."""
    session.execute(_TRANSACTION_LOCK, {"name": name})


@contextmanager
def independent_transaction(session: Session) -> Iterator[Connection]:
    """A transaction beside the caller's, on the same database, committed on its own: for
    records that must be kept whatever the caller's transaction then does (a failed login,
    a revoked session). It sees only committed rows, and must not wait for rows the caller's
    transaction has locked."""
    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    with _independent_engine(url).begin() as connection:
        yield connection


@cache
def _independent_engine(url: str) -> Engine:
    # Connections of their own: the caller holds one of the main pool's while it waits for
    # this, so borrowing from that pool could starve under load.
    return create_engine(url, poolclass=NullPool, connect_args=_connect_args(url))


# Set in a connection's info when analytics read the main database because the replica
# did not answer (the pages say so).
REPLICA_UNREACHABLE = "avenrae_replica_unreachable"
# After the replica failed to answer, analytics go straight to the main database for this
# long (rather than wait for the connect timeout on every chart), then try it again.
REPLICA_RETRY_SECONDS = 30
_replica_down_until = 0.0


@contextmanager
def analytics_scope() -> Iterator[Connection]:
    """A read-only connection for analytics: on AVENRAE_ANALYTICS_DATABASE_URL (a replica)
    when set, else on the main database; on the main database too while the replica does
    not answer (marked REPLICA_UNREACHABLE in the connection's info), as the figures are
    read from rollups a primary can afford. Whatever happens, nothing is committed."""
    global _replica_down_until
    replica = get_settings().analytics_database_url
    unreachable = bool(replica) and time.monotonic() < _replica_down_until
    session: Session | None = None
    if replica and not unreachable:
        session = Session(bind=engine_for(replica))
        try:
            session.connection()
        except (OperationalError, psycopg.OperationalError) as error:
            log.warning("analytics replica unreachable, reading the main database: %s", error)
            session.close()
            session, unreachable = None, True
            _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
    if session is None:
        _main_bind()
        session = SessionLocal()
    connection: Connection | None = None
    try:
        connection = session.connection()
        if unreachable:
            connection.info[REPLICA_UNREACHABLE] = True
        if not connection.in_nested_transaction():  # a test's savepoint inherits its transaction
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        yield connection
    finally:
        if connection is not None:
            connection.info.pop(REPLICA_UNREACHABLE, None)  # the connection goes back to a pool
        session.rollback()
        session.close()


def migrations_config() -> Config:
    return Config(str(REPO_ROOT / "alembic.ini"))


def _alembic(url: str, action: str, revision: str) -> None:
    config = migrations_config()
    url = normalise_database_url(url)
    engine = create_engine(url, connect_args=_connect_args(url))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
    finally:
        engine.dispose()


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the schema at `url` to `revision` with Alembic."""
    _alembic(url, "upgrade", revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Downgrade the schema at `url`; 'base' removes everything the migrations made."""
    _alembic(url, "downgrade", revision)


def sibling_database(url: str, name: str, *, recreate: bool = False) -> str:
    """The URL of database `name` on the same server as `url`, created when missing.

    Used for the test and benchmark databases, so they never touch the app's data.
    """
    base = make_url(normalise_database_url(url))
    target = base.set(database=name)
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar()
            if exists and recreate:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = False
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return target.render_as_string(hide_password=False)
