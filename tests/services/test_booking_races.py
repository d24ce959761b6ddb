"""Concurrency on the real database: many clients after the same time, and many after many times."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from avenrae.config import get_settings
from avenrae.models import MeetingType, Role
from avenrae.services import bookings, flows
from tests.factories import make_client, make_practitioner, make_weekly_hours

pytestmark = pytest.mark.slow
SAST = ZoneInfo("Africa/Johannesburg")
NOW = datetime(2030, 1, 7, 7, 0, tzinfo=SAST)  # a Monday morning
ALL_DAY = {day: [("06:00", "22:00")] for day in range(7)}


@pytest.fixture(autouse=True)
def _holds_are_not_the_point(monkeypatch):
    # Here clients book many times each; the cap on unpaid holds has tests of its own.
    monkeypatch.setattr(get_settings(), "max_unpaid_holds", 1_000_000)


@pytest.fixture
def writers(test_database_url, committed_db):
    """An engine with a connection for each of 32 writers; committed_db empties the tables after."""
    engine = create_engine(test_database_url, pool_size=34, max_overflow=0)
    yield engine
    engine.dispose()


def setup(engine, practitioners: int, clients: int) -> tuple[list, list]:
    with Session(engine) as session:
        found = []
        for _ in range(practitioners):
            practitioner = make_practitioner(session, session_duration_minutes=60, buffer_minutes=0)
            make_weekly_hours(session, practitioner, ALL_DAY)
            found.append(practitioner.id)
        people = [make_client(session).id for _ in range(clients)]
        session.commit()
    return found, people


def attempt(engine, client_id, practitioner_id, start) -> str:
    with Session(engine) as session:
        try:
            flows.book(
                session=session,
                request=bookings.BookingRequest(client_id, practitioner_id, start, MeetingType.IN_PERSON),
                actor=bookings.Actor(client_id, Role.CLIENT),
                now=NOW,
            )
            session.commit()
            return "booked"
        except bookings.SlotTaken as taken:
            session.rollback()
            assert str(taken) == "That time was just taken — pick another."
            return "taken"


def overlaps(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("""
            SELECT count(*) FROM bookings a JOIN bookings b
              ON a.practitioner_id = b.practitioner_id AND a.id < b.id
             AND tstzrange(a.session_start, a.blocked_until) && tstzrange(b.session_start, b.blocked_until)
            WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')
        """)
        ).scalar()


def test_32_clients_after_one_slot_one_wins(writers):
    [practitioner], clients = setup(writers, practitioners=1, clients=32)
    start = NOW + timedelta(hours=3)
    barrier = threading.Barrier(32)

    def go(client_id):
        barrier.wait()
        return attempt(writers, client_id, practitioner, start)

    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(go, clients))
    assert results.count("booked") == 1
    assert results.count("taken") == 31
    assert overlaps(writers) == 0


def test_10000_attempts_from_16_writers_never_double_book(writers):
    practitioners, clients = setup(writers, practitioners=100, clients=200)
    # Each practitioner's next 20 open hours (Monday 10:00-21:00, Tuesday 06:00-13:00): 2,000 slots
    # for 10,000 attempts, so most collide.
    starts = [NOW + timedelta(hours=3 + h) for h in range(12)] + [NOW + timedelta(hours=23 + h) for h in range(8)]
    rng = random.Random(20301)
    plan = [(rng.choice(clients), rng.choice(practitioners), rng.choice(starts)) for _ in range(10_000)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda args: attempt(writers, *args), plan))
    booked = results.count("booked")
    assert booked + results.count("taken") == 10_000  # every failure was the clean "taken" error
    assert 0 < booked <= 2_000
    assert overlaps(writers) == 0
    with writers.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM bookings")).scalar() == booked
        assert connection.execute(text("SELECT count(*) FROM payment_transactions")).scalar() == booked
        assert connection.execute(text("SELECT count(*) FROM notifications")).scalar() == 2 * booked
