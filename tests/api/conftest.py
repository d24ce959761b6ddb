"""The API under test: the real app (mounted at /api) on the test's database transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from avenrae.api import standalone
from avenrae.services import tokens
from tests.factories import make_client, make_practitioner, make_weekly_hours

SAST = ZoneInfo("Africa/Johannesburg")


def pytest_collection_modifyitems(config, items):
    """Run the API's tests last: they take minutes (a live server, every role), and some
    older tests hold a clock read when their module was imported."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/api/"))


@pytest.fixture
def api(connection) -> Iterator[TestClient]:
    """A client of the API whose every write lands in the test's transaction (rolled back)."""
    with TestClient(standalone(), base_url="http://testserver") as client:
        yield client


def bearer(user, db) -> dict[str, str]:
    pair = tokens.issue(session=db, user=user)
    return {"Authorization": f"Bearer {pair.access_token}"}


def booking_day(days_ahead: int = 3) -> date:
    return (datetime.now(SAST) + timedelta(days=days_ahead)).date()


@pytest.fixture
def practitioner(db):
    """A verified healer in Durban at R450 a session, working 08:00-17:00 every day."""
    found = make_practitioner(db, rate="450.00", first_name="Nomsa", last_name="Dlamini")
    make_weekly_hours(db, found, {day: [("08:00", "17:00")] for day in range(7)})
    return found


@pytest.fixture
def client_user(db):
    return make_client(db, first_name="Thabo", last_name="Nkosi")
