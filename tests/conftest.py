"""Test infrastructure every capability reuses.

* `test_database_url`: a PostGIS database of its own (`avenrae_test` on the same server
  as the app's database, or TEST_DATABASE_URL), re-created and migrated once per run.
* `db`: a Session inside a transaction that is rolled back after the test. The app's
  own `avenrae.db.session_scope()` joins the same transaction through savepoints, so
  services and pages under test see the test's rows and leave nothing behind.
* `committed_db`: for tests that need several connections (races, subprocesses);
  everything it committed is truncated afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session

from avenrae import db as app_db
from avenrae import localdb
from avenrae.config import REPO_ROOT, get_settings, normalise_database_url
from avenrae.models import Base

os.environ.setdefault("AVENRAE_ENVIRONMENT", "test")


def _server_url() -> str:
    settings = get_settings()
    if not settings.database_url:
        localdb.up(REPO_ROOT, settings.state_dir, log=lambda _: None)
    return app_db.database_url()


@pytest.fixture(scope="session")
def server_url() -> str:
    """The app's database URL: its server hosts the test databases."""
    return _server_url()


@pytest.fixture(scope="session")
def test_database_url(server_url: str) -> str:
    explicit = os.environ.get("TEST_DATABASE_URL")
    url = (
        normalise_database_url(explicit)
        if explicit
        else app_db.sibling_database(server_url, "avenrae_test", recreate=True)
    )
    app_db.migrate(url)
    return url


@pytest.fixture(scope="session")
def engine(test_database_url: str) -> Iterator[Engine]:
    engine = app_db.keep_plans_on_rollback(create_engine(test_database_url, pool_size=5))
    yield engine
    engine.dispose()


# Written in transactions of their own (avenrae.db.independent_transaction), so a test's
# rollback does not remove them.
INDEPENDENT_RECORDS = ("login_attempts", "rate_limits", "job_runs")


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        saved = dict(app_db.SessionLocal.kw)
        app_db.SessionLocal.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield connection
        finally:
            app_db.SessionLocal.kw = saved
            transaction.rollback()
            with engine.begin() as cleanup:
                for table in INDEPENDENT_RECORDS:
                    cleanup.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
def db(connection: Connection) -> Iterator[Session]:
    """A session whose every change is rolled back after the test."""
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def committed_db(engine: Engine) -> Iterator[Engine]:
    """The test database for work that must really commit; emptied afterwards."""
    yield engine
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} CASCADE"))


# Debian's Chromium, never a downloaded browser; one per test session, shared by the
# browser journeys (tests/e2e) and the stack test (a second Playwright in the same
# thread would refuse to start).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/test does, as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


class Inbox:
    """What a real local SMTP server (aiosmtpd) was sent: its envelopes, in order."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server(monkeypatch) -> Iterator[Inbox]:
    """An SMTP server on this machine that the app's settings point at, for the test only."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings = get_settings()
    monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
    monkeypatch.setattr(settings, "smtp_port", port)
    monkeypatch.setattr(settings, "smtp_security", "none")
    yield inbox
    controller.stop()


class _AtOnce:
    """An executor that does the work when it is handed over, on the caller's thread."""

    def submit(self, work, *args):
        from concurrent.futures import Future

        future: Future = Future()
        try:
            future.set_result(work(*args))
        except Exception as error:  # kept on the future, as a thread pool would
            future.set_exception(error)
        return future


@pytest.fixture(autouse=True)
def _password_reset_links_made_at_once(monkeypatch) -> None:
    """A reset link is made and sent on a thread of its own after the answer; in tests every
    session shares one connection (rolled back afterwards), which two threads must not use at
    once, so the link is made as soon as it is handed over, on the asking thread."""
    from avenrae.services import password_resets

    monkeypatch.setattr(password_resets, "_SENDER", _AtOnce())
