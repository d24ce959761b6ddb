"""`/_avenrae/ready` (serve) and `/api/health` (the API alone) say whether the database
answers, quickly and without saying where it is: Streamlit's /_stcore/health said 200 with
the database down (found by an operator's trial)."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import create_engine
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from avenrae import db as app_db
from avenrae import readiness
from avenrae.api import standalone
from avenrae.ui.server import ready

SECRETS = ("secret_user", "hunter2", "127.0.0.1", "avenrae_gone", "psycopg", "OperationalError")


@pytest.fixture
def server(connection):
    with TestClient(Starlette(routes=[Route("/_avenrae/ready", ready, methods=["GET"])])) as client:
        yield client


@pytest.fixture
def api(connection):
    with TestClient(standalone()) as client:
        yield client


@pytest.fixture
def database_at(monkeypatch):
    def point_at(port: int, **query: str) -> None:
        options = "".join(f"&{name}={value}" for name, value in query.items())
        url = f"postgresql+psycopg://secret_user:hunter2@127.0.0.1:{port}/avenrae_gone?application_name=x{options}"
        monkeypatch.setitem(app_db.SessionLocal.kw, "bind", create_engine(url))

    return point_at


def test_ready_while_the_database_answers(server, api):
    answer = server.get("/_avenrae/ready")
    assert (answer.status_code, answer.text) == (200, "ok\n")
    assert server.head("/_avenrae/ready").status_code == 200
    health = api.get("/api/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})


def test_not_ready_without_the_database_says_nothing_of_where_it_is(server, api, database_at):
    database_at(1)  # nothing listens there
    answer = server.get("/_avenrae/ready")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(readiness.RETRY_AFTER_SECONDS)
    assert answer.text == "database unavailable\n"
    health = api.get("/api/health")
    assert health.status_code == 503 and health.headers["retry-after"]
    assert health.headers["content-type"] == "application/problem+json"
    for secret in SECRETS:
        assert secret not in answer.text and secret not in health.text


def test_a_database_that_never_answers_is_not_waited_for(server, database_at, monkeypatch):
    monkeypatch.setattr(readiness, "READY_TIMEOUT_SECONDS", 0.3)
    with socket.socket() as silent:  # takes the connection, then says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        database_at(silent.getsockname()[1], connect_timeout="2")
        started = time.monotonic()
        first, second = server.get("/_avenrae/ready"), server.get("/_avenrae/ready")
        took = time.monotonic() - started
    assert (first.status_code, second.status_code) == (503, 503)
    assert took < 1.5  # not the 2 s connect timeout, twice
    assert readiness._checking.acquire(timeout=5)  # the check left behind ends by itself
    readiness._checking.release()
