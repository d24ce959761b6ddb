"""The long staff lists: keyset pages, estimated counts, ledger totals from the rollups, and
the indexes their pages and pickers read along (issue 20)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from avenrae.models import BookingStatus, Role, TransactionKind
from avenrae.services import analytics, bookings, counting, ledger, listings
from avenrae.services.errors import PermissionDenied
from tests.factories import make_booking, make_client, make_practitioner, make_transaction, make_user
from tests.plans import explain, indexes_used

ZONE = ZoneInfo("Africa/Johannesburg")


@pytest.fixture
def staff(db):
    return make_user(db, role=Role.STAFF)


@pytest.fixture
def booked(db):
    """Seven bookings of two practitioners and two clients, a day apart, some at the same time."""
    first, second = make_practitioner(db), make_practitioner(db)
    one, two = make_client(db), make_client(db)
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    made = []
    for n in range(7):
        practitioner = first if n % 2 else second
        made.append(
            make_booking(
                db,
                practitioner=practitioner,
                client=one if n < 4 else two,
                start=start + timedelta(days=n // 2),  # pairs share a start: the id breaks the tie
            )
        )
    return made, first, one


def walk(db, actor, filters, page_size=2):
    pages, after = [], None
    while True:
        found = listings.booking_list(session=db, actor=actor, filters=filters, after=after, page_size=page_size)
        pages.append([r.id for r in found.rows])
        if found.next is None:
            return pages, found.total
        after = found.next


@pytest.mark.parametrize("soonest_first", [True, False])
def test_keyset_pages_cover_every_booking_once_in_order(db, staff, booked, soonest_first):
    made, _, _ = booked
    actor = bookings.Actor(staff.id, Role.STAFF)
    pages, total = walk(db, actor, bookings.BookingFilter(soonest_first=soonest_first))
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    seen = [i for page in pages for i in page]
    expected = sorted(made, key=lambda b: (b.session_start, b.id), reverse=not soonest_first)
    assert seen == [b.id for b in expected]
    assert total == 7 and total.exact


def test_practitioners_and_clients_page_through_their_own(db, booked):
    made, practitioner, client = booked
    pages, total = walk(db, bookings.Actor(practitioner.user_id, Role.PRACTITIONER), bookings.BookingFilter())
    assert sorted(i for p in pages for i in p) == sorted(b.id for b in made if b.practitioner_id == practitioner.id)
    assert total.value == 3
    pages, total = walk(db, bookings.Actor(client.id, Role.CLIENT), bookings.BookingFilter())
    assert sorted(i for p in pages for i in p) == sorted(b.id for b in made if b.client_id == client.id)


def test_large_counts_are_estimates_and_say_so(db, staff, booked, monkeypatch):
    monkeypatch.setattr(counting, "EXACT_COUNT_BELOW", 0)
    found = listings.booking_list(
        session=db, actor=bookings.Actor(staff.id, Role.STAFF), filters=bookings.BookingFilter()
    )
    assert not found.total.exact
    assert found.total.value >= 1  # the planner's guess, from the table's statistics


def test_only_staff_read_the_ledger(db):
    with pytest.raises(PermissionDenied):
        ledger.staff_list(session=db, role=Role.CLIENT)


@pytest.fixture
def paid(db):
    """Charges and a refund over the last few days, in the platform's time zone."""
    practitioner = make_practitioner(db, rate="400.00")
    now = datetime.now(ZONE)
    rows = []
    for n in range(5):
        booking = make_booking(db, practitioner=practitioner, status=BookingStatus.COMPLETED)
        rows.append(make_transaction(db, booking, created_at=now - timedelta(days=n, minutes=5)))
        if n == 2:
            rows.append(make_transaction(db, booking, kind=TransactionKind.REFUND, created_at=now - timedelta(days=1)))
    return rows


def period(days: int = 30):
    today = datetime.now(ZONE).date()
    first = today - timedelta(days=days)
    start = datetime.combine(first, datetime.min.time(), ZONE)
    end = datetime.combine(today + timedelta(days=1), datetime.min.time(), ZONE)
    return ledger.LedgerFilter(start=start, end=end), (first, today)


def test_the_ledger_pages_newest_first_and_totals_live_when_small(db, paid):
    filters, days = period()
    seen, after = [], None
    while True:
        found = ledger.staff_list(session=db, role=Role.STAFF, filters=filters, after=after, page_size=4, days=days)
        seen += found.rows
        if found.next is None:
            break
        after = found.next
    assert [r.id for r in seen] == [t.id for t in sorted(paid, key=lambda t: (t.created_at, t.id), reverse=True)]
    assert found.total == 6 and found.total.exact
    assert found.totals.as_of is None  # added up live
    live = ledger.staff_list(session=db, role=Role.STAFF, filters=filters).totals  # no period: added up live
    assert live.as_of is None and found.totals.totals == live.totals


def test_on_a_large_ledger_the_totals_come_from_the_rollups_and_agree(db, paid, monkeypatch):
    analytics.refresh(db.connection())
    monkeypatch.setattr(counting, "EXACT_COUNT_BELOW", 0)
    monkeypatch.setattr(ledger, "LIVE_TOTALS_BELOW", 0)
    filters, days = period()
    found = ledger.staff_list(session=db, role=Role.STAFF, filters=filters, days=days)
    assert not found.total.exact
    assert found.totals.as_of is not None
    live = ledger.staff_list(session=db, role=Role.STAFF, filters=filters).totals.totals  # added up live
    assert found.totals.totals == live
    assert live.charged == Decimal("2300.00") and live.refunded == Decimal("460.00")
    charges_only = ledger.staff_list(
        session=db,
        role=Role.STAFF,
        filters=ledger.LedgerFilter(filters.start, filters.end, kinds=(TransactionKind.CHARGE,)),
        days=days,
    )
    assert charges_only.totals.totals.refunded == 0 and charges_only.totals.totals.charged == live.charged


def test_keyset_pages_of_everyone_s_bookings_read_the_session_start_index(db, staff, booked):
    db.execute(text("SET LOCAL enable_seqscan = off"))
    db.execute(text("SET LOCAL enable_sort = off"))
    plan = explain(
        db,
        "SELECT id FROM bookings WHERE session_start >= now() AND (session_start, id) > (now(), gen_random_uuid()) "
        "ORDER BY session_start, id LIMIT 26",
    )
    assert "ix_bookings_session_start_id" in indexes_used(plan)


def test_the_pickers_first_page_reads_people_in_name_order_from_the_index(db, booked):
    db.execute(text("SET LOCAL enable_seqscan = off"))
    db.execute(text("SET LOCAL enable_sort = off"))
    plan = explain(
        db,
        "SELECT id FROM users WHERE role = 'practitioner' AND is_active IS TRUE AND deleted_at IS NULL "
        "ORDER BY first_name, last_name, id LIMIT 20",
    )
    assert "ix_users_active_by_name" in indexes_used(plan)


def test_the_moderation_queue_reads_in_its_order_from_the_index(db):
    db.execute(text("SET LOCAL enable_seqscan = off"))
    db.execute(text("SET LOCAL enable_sort = off"))
    plan = explain(
        db,
        "SELECT id FROM reviews WHERE status = 'pending' "
        "ORDER BY cardinality(flags) > 0 DESC, created_at, id LIMIT 100",
    )
    assert "ix_reviews_queue" in indexes_used(plan)
