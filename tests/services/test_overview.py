"""Home figures, checked against sums computed independently in Python."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text

from avenrae import months
from avenrae.models import BookingStatus, PaymentStatus, Specialization, TransactionKind
from avenrae.services import overview
from tests.factories import make_booking, make_practitioner, make_transaction

TODAY = date(2026, 11, 25)
ZONE = "Africa/Johannesburg"


def test_month_bounds_follow_south_african_time():
    start, end = months.month_bounds(TODAY, ZONE)
    assert start == datetime(2026, 10, 31, 22, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    december_start, december_end = months.month_bounds(date(2026, 12, 31), ZONE)
    assert december_end.astimezone(UTC) == datetime(2026, 12, 31, 22, 0, tzinfo=UTC)
    assert december_start.month == 12


def test_month_figures_count_ledger_money_of_this_month_only(db):
    in_month = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    late_october_local = datetime(2026, 10, 31, 21, 30, tzinfo=UTC)  # 23:30 in Johannesburg: still October
    practitioner = make_practitioner(db, rate="333.30")  # fee 50.00 (half-up), total 383.30
    other = make_practitioner(db, rate="500.00")  # fee 75.00, total 575.00

    paid = make_booking(db, practitioner=practitioner, start=datetime(2026, 11, 12, 8, tzinfo=UTC))
    make_transaction(db, paid, created_at=in_month)
    refunded = make_booking(
        db,
        practitioner=other,
        start=datetime(2026, 11, 20, 8, tzinfo=UTC),
        status=BookingStatus.CANCELLED,
        payment_status=PaymentStatus.REFUNDED,
    )
    make_transaction(db, refunded, created_at=in_month)
    make_transaction(db, refunded, kind=TransactionKind.REFUND, created_at=in_month)
    partly = make_booking(db, practitioner=other, start=datetime(2026, 11, 21, 8, tzinfo=UTC))
    make_transaction(db, partly, created_at=in_month)
    make_transaction(db, partly, kind=TransactionKind.REFUND, amount=Decimal("115.00"), created_at=in_month)
    october = make_booking(db, practitioner=other, start=datetime(2026, 10, 30, 8, tzinfo=UTC))
    make_transaction(db, october, created_at=late_october_local)
    failed = make_booking(
        db,
        practitioner=other,
        start=datetime(2026, 11, 22, 8, tzinfo=UTC),
        status=BookingStatus.CANCELLED,
        payment_status=PaymentStatus.FAILED,
    )
    make_transaction(db, failed, status=PaymentStatus.FAILED, created_at=in_month)

    figures = overview.month_figures(db, TODAY, ZONE)

    charged = Decimal("383.30") + Decimal("575.00") + Decimal("575.00")
    refunded_total = Decimal("575.00") + Decimal("115.00")
    fees = Decimal("50.00") + Decimal("75.00") + Decimal("75.00") - Decimal("75.00") - Decimal("115.00") * 75 / 575
    assert figures.charged == charged
    assert figures.refunded == refunded_total
    assert figures.platform_fees == fees.quantize(Decimal("0.01"))
    assert figures.sessions_booked == 2  # paid and partly; the cancelled ones do not count


def test_empty_month_is_zero_not_an_error(db):
    figures = overview.month_figures(db, TODAY, ZONE)
    assert (figures.charged, figures.refunded, figures.platform_fees, figures.sessions_booked) == (0, 0, 0, 0)


def test_live_figures_count_active_practitioners_and_every_status(db):
    make_practitioner(db, specialization=Specialization.HEALER)
    make_practitioner(db, specialization=Specialization.HEALER)
    make_practitioner(db, specialization=Specialization.MEDIUM)
    make_practitioner(db, specialization=Specialization.MEDIUM, is_active=False)
    make_booking(db, status=BookingStatus.COMPLETED)
    make_booking(db, status=BookingStatus.NO_SHOW)

    figures = overview.live_figures(db, TODAY, ZONE)

    assert figures.practitioners_by_specialization == {
        Specialization.HEALER: 2 + 2,  # the two bookings made a healer each
        Specialization.PROPHET: 0,
        Specialization.MEDIUM: 1,
        Specialization.COUNSELOR: 0,
    }
    assert figures.bookings_by_status[BookingStatus.COMPLETED] == 1
    assert figures.bookings_by_status[BookingStatus.NO_SHOW] == 1
    assert figures.bookings_by_status[BookingStatus.PENDING] == 0
    assert figures.bookings == 2


def test_supply_by_city_groups_active_practitioners(db):
    make_practitioner(db, city="Durban", province="KwaZulu-Natal")
    make_practitioner(db, city="Durban", province="KwaZulu-Natal", verification_status="pending")
    make_practitioner(db, city="Kimberley", province="Northern Cape", location=(-28.73, 24.76))
    rows = overview.supply_by_city(db)
    assert [(r.city, r.practitioners, r.verified) for r in rows] == [("Durban", 2, 1), ("Kimberley", 1, 1)]
    assert rows[1].latitude == pytest.approx(-28.73, abs=1e-6)


def test_on_a_large_platform_supply_by_city_comes_from_the_rollups_and_agrees(db, monkeypatch):
    from avenrae.services import analytics

    make_practitioner(db, city="Durban", province="KwaZulu-Natal", location=(-29.80, 30.90))
    make_practitioner(
        db, city="Durban", province="KwaZulu-Natal", location=(-29.90, 31.00), verification_status="pending"
    )
    make_practitioner(db, city="Kimberley", province="Northern Cape", location=(-28.73, 24.76))
    closed = make_practitioner(db, city="Kimberley", province="Northern Cape", location=(-28.70, 24.70))
    db.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": closed.user_id})
    analytics.refresh(db.connection())
    live = overview.supply_by_city(db)
    monkeypatch.setattr(overview, "LIVE_COUNTS_BELOW", 0)
    assert overview.rollups_as_of(db) is not None
    from_rollups = overview.supply_by_city(db)
    assert [(r.city, r.province, r.practitioners, r.verified) for r in from_rollups] == [
        ("Durban", "KwaZulu-Natal", 2, 1),
        ("Kimberley", "Northern Cape", 1, 1),
    ]
    assert all(
        (a.city, a.practitioners, a.verified) == (b.city, b.practitioners, b.verified)
        and a.latitude == pytest.approx(b.latitude)
        and a.longitude == pytest.approx(b.longitude)
        for a, b in zip(from_rollups, live, strict=True)
    )
    assert from_rollups[0].latitude == pytest.approx(-29.85)


def test_database_health_reports_versions_and_revision(db):
    health = overview.database_health(db)
    assert health.server_version.startswith(("15", "16", "17"))
    assert health.postgis_version.startswith("3")
    assert health.schema_revision is not None
    assert health.round_trip_ms >= 0
