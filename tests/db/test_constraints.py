"""Rules the database itself enforces, whatever code writes the rows."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from avenrae.models import BookingStatus, ReviewStatus
from tests.factories import make_booking, make_client, make_practitioner, make_review, make_user

START = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


def sqlstate(db, action) -> str:
    """Run `action` inside a savepoint and return the SQLSTATE it failed with."""
    with pytest.raises(DBAPIError) as failure, db.begin_nested():
        action()
        db.flush()
    return failure.value.orig.sqlstate


@pytest.mark.parametrize("first", [BookingStatus.PENDING, BookingStatus.CONFIRMED])
@pytest.mark.parametrize("second", [BookingStatus.PENDING, BookingStatus.CONFIRMED])
def test_overlapping_slot_holding_bookings_are_refused(db, first, second):
    practitioner = make_practitioner(db)
    make_booking(db, practitioner=practitioner, start=START, minutes=60, status=first)
    state = sqlstate(
        db,
        lambda: make_booking(
            db, practitioner=practitioner, start=START + timedelta(minutes=30), minutes=60, status=second
        ),
    )
    assert state == "23P01"


def test_back_to_back_bookings_fit(db):
    practitioner = make_practitioner(db)
    make_booking(db, practitioner=practitioner, start=START, minutes=60)
    make_booking(db, practitioner=practitioner, start=START + timedelta(minutes=60), minutes=60)
    assert (
        db.execute(text("SELECT count(*) FROM bookings WHERE practitioner_id = :p"), {"p": practitioner.id}).scalar()
        == 2
    )


@pytest.mark.parametrize("held", [BookingStatus.CANCELLED, BookingStatus.COMPLETED, BookingStatus.NO_SHOW])
def test_bookings_that_do_not_hold_time_free_the_slot(db, held):
    practitioner = make_practitioner(db)
    make_booking(db, practitioner=practitioner, start=START, minutes=60, status=held)
    make_booking(db, practitioner=practitioner, start=START, minutes=60, status=BookingStatus.CONFIRMED)


def test_two_practitioners_may_share_a_time(db):
    make_booking(db, start=START, minutes=60)
    make_booking(db, start=START, minutes=60)


def _raw_booking(db, **override):
    practitioner = make_practitioner(db)
    client = make_client(db)
    values = {
        "client_id": client.id,
        "practitioner_id": practitioner.id,
        "session_start": START,
        "session_end": START + timedelta(hours=1),
        "status": "confirmed",
        "meeting_type": "online",
        "service_amount": Decimal("400.00"),
        "platform_fee_rate": Decimal("0.15"),
        "platform_fee": Decimal("60.00"),
        "total_amount": Decimal("460.00"),
    }
    values.update(override)
    db.execute(
        text(
            "INSERT INTO bookings (client_id, practitioner_id, session_start, session_end, blocked_until, status, "
            "meeting_type, service_amount, platform_fee_rate, platform_fee, total_amount) VALUES (:client_id, "
            ":practitioner_id, :session_start, :session_end, :session_end, :status, :meeting_type, :service_amount, "
            ":platform_fee_rate, "
            ":platform_fee, :total_amount)"
        ),
        values,
    )


def test_a_correct_raw_booking_is_accepted(db):
    _raw_booking(db)


@pytest.mark.parametrize(
    "override",
    [
        {"service_amount": Decimal("-400.00"), "platform_fee": Decimal("-60.00"), "total_amount": Decimal("-460.00")},
        {"total_amount": Decimal("470.00")},
        {"platform_fee": Decimal("61.00"), "total_amount": Decimal("461.00")},
        {"platform_fee_rate": Decimal("1.5")},
        {"session_end": START},
    ],
    ids=["negative amounts", "total is not service plus fee", "fee is not 15 percent", "fee rate", "empty session"],
)
def test_bad_money_and_times_are_refused(db, override):
    assert sqlstate(db, lambda: _raw_booking(db, **override)) == "23514"


def test_fee_rounds_half_up_to_the_cent(db):
    # 15% of 333.30 is 49.995: half-up gives 50.00, banker's rounding would give 49.99 or 50.00.
    _raw_booking(db, service_amount=Decimal("333.30"), platform_fee=Decimal("50.00"), total_amount=Decimal("383.30"))
    assert (
        sqlstate(
            db,
            lambda: _raw_booking(
                db, service_amount=Decimal("333.30"), platform_fee=Decimal("49.99"), total_amount=Decimal("383.29")
            ),
        )
        == "23514"
    )


@pytest.mark.parametrize("rating", [0, 6])
def test_review_rating_must_be_one_to_five(db, rating):
    booking = make_booking(db, status=BookingStatus.COMPLETED)
    assert sqlstate(db, lambda: make_review(db, booking, rating=rating)) == "23514"


@pytest.mark.parametrize("rating", [1, 5])
def test_review_rating_edges_are_fine(db, rating):
    booking = make_booking(db, status=BookingStatus.COMPLETED)
    assert make_review(db, booking, rating=rating, status=ReviewStatus.PENDING).rating == rating


@pytest.mark.parametrize("rating", [Decimal("0.50"), Decimal("5.01")])
def test_practitioner_rating_stays_within_one_to_five(db, rating):
    assert sqlstate(db, lambda: make_practitioner(db, rating=rating)) == "23514"


def test_email_differing_only_in_case_is_refused(db):
    make_user(db, email="Thandi.Nkosi@Example.co.za")
    assert sqlstate(db, lambda: make_user(db, email="thandi.nkosi@example.CO.ZA")) == "23505"


def test_negative_practitioner_rate_is_refused(db):
    assert sqlstate(db, lambda: make_practitioner(db, rate="-1.00")) == "23514"


def test_practitioner_must_offer_a_meeting_type(db):
    assert sqlstate(db, lambda: make_practitioner(db, offers_in_person=False, offers_online=False)) == "23514"
