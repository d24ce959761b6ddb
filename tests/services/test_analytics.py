"""Analytics figures against an independent computation over the raw rows of a small,
varied set: odd rates (so fees round), partial and full refunds, failed and pending
charges, money moving in another month than the session, every status and meeting type."""

from __future__ import annotations

import random
import socket
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InternalError

from avenrae import db as app_db
from avenrae.config import get_settings
from avenrae.models import (
    Booking,
    BookingStatus,
    MeetingType,
    PaymentStatus,
    Practitioner,
    SearchLog,
    Specialization,
    TransactionKind,
)
from avenrae.services import analytics, ledger
from avenrae.services.errors import InvalidInput
from tests.factories import make_booking, make_client, make_practitioner, make_review, make_transaction

ZONE = ZoneInfo("Africa/Johannesburg")
CENT = Decimal("0.01")
FIRST, LAST = date(2031, 1, 1), date(2031, 3, 31)

PRACTITIONERS = [
    # specialization, city, province, location, rate
    (Specialization.HEALER, "Durban", "KwaZulu-Natal", (-29.8587, 31.0218), "333.33"),
    (Specialization.HEALER, "Pietermaritzburg", "KwaZulu-Natal", (-29.6006, 30.3794), "101.10"),
    (Specialization.PROPHET, "Soweto", "Gauteng", (-26.2485, 27.8540), "450.00"),
    (Specialization.MEDIUM, "Cape Town", "Western Cape", (-33.9249, 18.4241), "777.77"),
    (Specialization.COUNSELOR, "Cape Town", "Western Cape", (-33.9300, 18.4300), "99.99"),
    (Specialization.COUNSELOR, "Polokwane", "Limpopo", (-23.9045, 29.4689), "1250.05"),
]


@dataclass
class Row:
    """One raw fact as the test sees it: which practitioner, which local day, what."""

    practitioner: int
    day: date
    meeting_type: MeetingType
    values: dict[str, Decimal | int]


def _share(amount: Decimal, service: Decimal, total: Decimal) -> Decimal:
    return (amount * service / total).quantize(CENT, rounding=ROUND_HALF_UP)


@pytest.fixture
def dataset(db):
    """The raw rows written, and the facts an independent reading of them gives."""
    rng = random.Random(2031)
    practitioners = [
        make_practitioner(
            db, specialization=spec, city=city, province=province, location=location, rate=rate, first_name=f"P{n}"
        )
        for n, (spec, city, province, location, rate) in enumerate(PRACTITIONERS)
    ]
    clients = [make_client(db) for _ in range(4)]
    facts: list[Row] = []
    slot = datetime(2031, 1, 1, 7, 0, tzinfo=UTC)
    for n in range(140):
        index = rng.randrange(len(practitioners))
        practitioner = practitioners[index]
        slot += timedelta(hours=rng.choice([5, 11, 17, 23]))
        status = rng.choice(list(BookingStatus))
        meeting = rng.choice(list(MeetingType))
        booking = make_booking(
            db, practitioner=practitioner, client=clients[n % 4], start=slot, status=status, meeting_type=meeting
        )
        day = slot.astimezone(ZONE).date()
        facts.append(
            Row(
                index,
                day,
                meeting,
                {
                    "bookings": 1,
                    "completed": int(status == BookingStatus.COMPLETED),
                    "cancelled": int(status == BookingStatus.CANCELLED),
                    "no_shows": int(status == BookingStatus.NO_SHOW),
                },
            )
        )
        outcome = rng.random()
        paid_at = slot - timedelta(days=rng.choice([0, 3, 20]), hours=rng.randrange(24))
        if outcome < 0.15:
            make_transaction(db, booking, status=PaymentStatus.FAILED, created_at=paid_at)
            continue
        if outcome < 0.25:
            make_transaction(db, booking, status=PaymentStatus.PENDING, created_at=paid_at)
            continue
        make_transaction(db, booking, created_at=paid_at)
        total, service = booking.total_amount, booking.service_amount
        facts.append(
            Row(
                index,
                paid_at.astimezone(ZONE).date(),
                meeting,
                {
                    "charges": 1,
                    "gross": total,
                    "gross_fees": total - _share(total, service, total),
                    "service": service,
                    "fee": booking.platform_fee,
                },
            )
        )
        if status == BookingStatus.CANCELLED and rng.random() < 0.7:
            amount = total if rng.random() < 0.5 else (total * Decimal("0.37")).quantize(CENT)
            refunded_at = slot + timedelta(days=rng.choice([0, 1, 40]))
            make_transaction(db, booking, kind=TransactionKind.REFUND, amount=amount, created_at=refunded_at)
            facts.append(
                Row(
                    index,
                    refunded_at.astimezone(ZONE).date(),
                    meeting,
                    {
                        "refund_count": 1,
                        "refunds": amount,
                        "refunded_fees": amount - _share(amount, service, total),
                    },
                )
            )
        if status == BookingStatus.COMPLETED:
            rating = rng.randint(1, 5)
            published = rng.random() < 0.8
            make_review(db, booking, rating=rating, status="published" if published else "hidden")
            if published:
                facts.append(Row(index, day, meeting, {"rating_sum": rating, "rating_count": 1}))
    analytics.refresh(db.connection())
    return practitioners, facts


def expected(facts: list[Row], keep=lambda row: True, key=lambda row: None) -> dict:
    """Summed measures per key, then the figures the service reports, computed in Python."""
    sums: dict = defaultdict(lambda: defaultdict(Decimal))
    for row in facts:
        if keep(row):
            for name, value in row.values.items():
                sums[key(row)][name] += value
    figures = {}
    for group, s in sums.items():
        figures[group] = {
            "gross": s["gross"],
            "platform_fees": s["gross_fees"] - s["refunded_fees"],
            "refunds": s["refunds"],
            "earnings": (s["gross"] - s["gross_fees"]) - (s["refunds"] - s["refunded_fees"]),
            "net": s["gross"] - s["refunds"],
            "bookings": int(s["bookings"]),
            "completed": int(s["completed"]),
            "cancelled": int(s["cancelled"]),
            "no_shows": int(s["no_shows"]),
            "reviews": int(s["rating_count"]),
            "average_rating": (
                float((s["rating_sum"] / s["rating_count"]).quantize(CENT, rounding=ROUND_HALF_UP))
                if s["rating_count"]
                else None
            ),
        }
    return figures


def in_period(start: date, end: date):
    return lambda row: start <= row.day <= end


def assert_figures(actual: dict, wanted: dict) -> None:
    for name, value in wanted.items():
        got = actual[name]
        if value is None:
            assert got is None or got != got, name  # None or NaN
        elif isinstance(value, float):
            assert float(got) == pytest.approx(value), name
        else:
            assert got == value, name


def test_totals_match_the_raw_rows(db, dataset):
    _, facts = dataset
    found = analytics.summary(db.connection(), analytics.Filters(FIRST, LAST))
    wanted = expected(facts, in_period(FIRST, LAST))[None]
    assert_figures(vars(found), wanted)
    assert found.bookings > 50 and found.refunds > 0 and found.reviews > 0


def test_fees_are_fifteen_percent_of_service_and_refunds_come_off_once(db, dataset):
    _, facts = dataset
    charges = [row.values for row in facts if "charges" in row.values and FIRST <= row.day <= LAST]
    found = analytics.summary(db.connection(), analytics.Filters(FIRST, LAST))
    service = sum(c["service"] for c in charges)
    fees = sum(c["fee"] for c in charges)
    assert fees == sum((c["service"] * Decimal("0.15")).quantize(CENT, rounding=ROUND_HALF_UP) for c in charges)
    assert found.gross == service + fees
    refunded_fees = sum(r.values.get("refunded_fees", 0) for r in facts if FIRST <= r.day <= LAST)
    assert found.platform_fees == fees - refunded_fees
    # Clients paid gross, got refunds back; the rest is split between practitioners and the platform.
    assert found.earnings + found.platform_fees == found.gross - found.refunds == found.net


@pytest.mark.parametrize(
    "filters, keep",
    [
        (analytics.Filters(FIRST, LAST, specializations=(Specialization.HEALER,)), lambda r: r.practitioner in (0, 1)),
        (analytics.Filters(FIRST, LAST, provinces=("Western Cape",)), lambda r: r.practitioner in (3, 4)),
        (analytics.Filters(FIRST, LAST, meeting_types=(MeetingType.ONLINE,)), lambda r: r.meeting_type == "online"),
        (analytics.Filters(date(2031, 2, 3), date(2031, 2, 16)), lambda r: True),
    ],
)
def test_filters_narrow_every_figure(db, dataset, filters, keep):
    _, facts = dataset
    period = in_period(filters.start, filters.end)
    wanted = expected(facts, lambda r: keep(r) and period(r))[None]
    assert_figures(vars(analytics.summary(db.connection(), filters)), wanted)


# Whole months only; whole months with days at both ends; days inside one month.
PERIODS = [(FIRST, LAST), (date(2031, 1, 15), date(2031, 3, 10)), (date(2031, 2, 3), date(2031, 2, 16))]


@pytest.mark.parametrize("start, end", PERIODS)
@pytest.mark.parametrize("by", ["specialization", "province", "city", "meeting_type"])
def test_breakdowns_match_the_raw_rows(db, dataset, by, start, end):
    _, facts = dataset
    attribute = {
        "specialization": lambda r: PRACTITIONERS[r.practitioner][0].value,
        "province": lambda r: PRACTITIONERS[r.practitioner][2],
        "city": lambda r: PRACTITIONERS[r.practitioner][1],
        "meeting_type": lambda r: r.meeting_type.value,
    }[by]
    wanted = expected(facts, in_period(start, end), key=attribute)
    frame = analytics.breakdown(db.connection(), analytics.Filters(start, end), by)
    assert set(frame[by]) == set(wanted)
    for row in frame.to_dict("records"):
        assert_figures(row, wanted[row[by]])
    assert list(frame["gross"]) == sorted(frame["gross"], reverse=True)


@pytest.mark.parametrize("grain", ["day", "week", "month"])
def test_over_time_matches_the_raw_rows_and_keeps_empty_periods(db, dataset, grain):
    _, facts = dataset

    def period_of(row: Row) -> date:
        if grain == "day":
            return row.day
        if grain == "week":
            return row.day - timedelta(days=row.day.weekday())
        return row.day.replace(day=1)

    wanted = expected(facts, in_period(FIRST, LAST), key=period_of)
    frame = analytics.over_time(db.connection(), analytics.Filters(FIRST, LAST), grain)
    assert list(frame["period"]) == sorted(frame["period"])
    assert len(frame) == {"day": 90, "week": 14, "month": 3}[grain]
    for row in frame.to_dict("records"):
        if row["period"] in wanted:
            assert_figures(row, wanted[row["period"]])
        else:
            assert row["bookings"] == 0 and row["gross"] == 0


def test_stacked_series_add_up_to_the_totals(db, dataset):
    frame = analytics.by_specialization_over_time(db.connection(), analytics.Filters(FIRST, LAST), "week")
    totals = analytics.summary(db.connection(), analytics.Filters(FIRST, LAST))
    assert frame["gross"].sum() == totals.gross
    assert frame["platform_fees"].sum() == totals.platform_fees
    assert frame["bookings"].sum() == totals.bookings


def test_month_over_month_growth(db, dataset):
    _, facts = dataset
    months = analytics.month_over_month(db.connection(), analytics.Filters(date(2031, 1, 15), LAST))
    wanted = expected(facts, in_period(date(2031, 1, 15), LAST), key=lambda r: r.day.replace(day=1))
    assert list(months["partial"]) == [True, False, False]
    assert months["gross_growth"].isna().tolist()[:2] == [True, True]  # a partial month and the one after it
    february, march = wanted[date(2031, 2, 1)], wanted[date(2031, 3, 1)]
    growth = float((march["gross"] - february["gross"]) / february["gross"])
    assert months["gross_growth"].iloc[2] == pytest.approx(growth, abs=1e-4)


@pytest.mark.parametrize(
    "start, end, months, edges",
    [
        (FIRST, LAST, (date(2031, 1, 1), date(2031, 4, 1)), []),
        (
            date(2031, 1, 15),
            date(2031, 3, 10),
            (date(2031, 2, 1), date(2031, 3, 1)),
            [(date(2031, 1, 15), date(2031, 1, 31)), (date(2031, 3, 1), date(2031, 3, 10))],
        ),
        (date(2031, 2, 1), date(2031, 2, 27), None, [(date(2031, 2, 1), date(2031, 2, 27))]),
        (date(2031, 1, 31), date(2031, 2, 28), (date(2031, 2, 1), date(2031, 3, 1)), [(date(2031, 1, 31),) * 2]),
    ],
)
def test_a_period_reads_whole_months_from_month_rollups_and_only_its_ends_from_days(start, end, months, edges):
    parts = {grain: params for grain, _, params in analytics._period_parts(analytics.Filters(start, end))}
    if months is None:
        assert parts == {"days": {"start": start, "end": end}}
        return
    assert (parts["months"]["first_month"], parts["months"]["after_months"]) == months
    found = parts.get("days", {})
    assert [(found[f"edge{n}_start"], found[f"edge{n}_end"]) for n in range(len(found) // 2)] == edges


@pytest.mark.parametrize("start, end", PERIODS)
def test_top_and_bottom_practitioners(db, dataset, start, end):
    practitioners, facts = dataset
    wanted = expected(facts, in_period(start, end), key=lambda r: r.practitioner)
    by_gross = sorted(wanted, key=lambda p: (wanted[p]["gross"], wanted[p]["bookings"]), reverse=True)
    top = analytics.practitioners_ranked(db.connection(), analytics.Filters(start, end), limit=3)
    assert [str(i) for i in top["practitioner_id"]] == [str(practitioners[p].id) for p in by_gross[:3]]
    assert top.iloc[0]["practitioner"].startswith("P")
    assert_figures(top.iloc[0].to_dict(), wanted[by_gross[0]])
    bottom = analytics.practitioners_ranked(db.connection(), analytics.Filters(start, end), limit=2, best=False)
    assert [str(i) for i in bottom["practitioner_id"]] == [str(practitioners[p].id) for p in by_gross[::-1][:2]]


@pytest.mark.parametrize(
    "filters, keep",
    [
        (analytics.Filters(date(2031, 1, 20), date(2031, 3, 5)), lambda r: True),
        (analytics.Filters(FIRST, LAST, meeting_types=(MeetingType.ONLINE,)), lambda r: r.meeting_type == "online"),
        (analytics.Filters(FIRST, LAST, provinces=("Western Cape", "Gauteng")), lambda r: r.practitioner in (2, 3, 4)),
    ],
)
def test_the_leaders_are_found_exactly_without_adding_up_everyone(db, dataset, filters, keep):
    """Whatever the limit, the top practitioners (found from each month's leaders and a
    gross threshold) are exactly those a full ranking of everyone's figures gives."""
    practitioners, facts = dataset
    wanted = expected(facts, lambda r: keep(r) and filters.start <= r.day <= filters.end, key=lambda r: r.practitioner)
    ranking = sorted(wanted, key=lambda p: (-wanted[p]["gross"], -wanted[p]["bookings"], str(practitioners[p].id)))
    for limit in range(1, len(ranking) + 1):
        top = analytics.practitioners_ranked(db.connection(), filters, limit=limit)
        assert [str(i) for i in top["practitioner_id"]] == [str(practitioners[p].id) for p in ranking[:limit]]
        assert list(top["gross"]) == [wanted[p]["gross"] for p in ranking[:limit]]


def test_the_leaders_are_found_through_the_month_and_gross_index(db, dataset):
    connection = db.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    leaders, params = analytics._leading_candidates(connection, analytics.Filters(FIRST, LAST), 3)
    assert params["bound"] > 0
    plan = "\n".join(connection.execute(text(f"EXPLAIN {leaders} SELECT * FROM candidates"), params).scalars())
    assert "ix_analytics_practitioner_months_month_gross" in plan, plan


@pytest.mark.parametrize(
    "start, end, message",
    [
        (None, LAST, "Choose both"),
        (LAST, FIRST, "ends (01 Jan 2031) before it starts (31 Mar 2031)"),
        (date(2020, 1, 1), date(2031, 1, 1), "at most three years"),
    ],
)
def test_an_unusable_period_is_refused_in_plain_words(db, start, end, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        analytics.summary(db.connection(), analytics.Filters(start, end))


def test_a_period_without_data_is_empty_not_an_error(db, dataset):
    quiet = analytics.Filters(date(2035, 5, 1), date(2035, 5, 31))
    assert analytics.summary(db.connection(), quiet).empty
    series = analytics.over_time(db.connection(), quiet, "week")
    assert len(series) == 5 and series["gross"].sum() == 0
    assert analytics.breakdown(db.connection(), quiet, "city").empty
    assert analytics.practitioners_ranked(db.connection(), quiet).empty


def _snapshot(connection) -> dict[str, list]:
    tables = {
        "analytics_practitioner_days": "practitioner_id, day, meeting_type",
        "analytics_days": "day, specialization, province, meeting_type",
        "analytics_city_days": "day, specialization, province, city, meeting_type",
        "analytics_city_months": "month, specialization, province, city, meeting_type",
        "analytics_practitioner_months": "practitioner_id, month, meeting_type",
        "analytics_cell_months": "month, cell_i, cell_j, specialization, status",
        "analytics_cell_supply": "cell_i, cell_j, specialization, province, city",
        "analytics_cell_demand": "day, cell_i, cell_j",
        "analytics_practitioner_profiles": "practitioner_id",
    }
    return {
        table: connection.execute(text(f"SELECT * FROM {table} ORDER BY {order}")).all()
        for table, order in tables.items()
    }


def test_incremental_refresh_agrees_with_a_full_rebuild(db, dataset):
    """Changes after the last refresh, each found by its own path, recomputed alone and
    added to every rollup, give exactly what rebuilding everything gives."""
    practitioners, _ = dataset
    connection = db.connection()
    # A paid session, counted, that is moved below (paid on another day, which alone is recomputed for it).
    moved = make_booking(db, practitioner=practitioners[3], start=datetime(2031, 5, 15, 8, tzinfo=UTC))
    make_transaction(db, moved, created_at=datetime(2031, 5, 1, 8, tzinfo=UTC))
    moved = moved.id
    analytics.refresh(connection, full=True)
    # The dataset was refreshed long ago; what follows happens after that.
    later = datetime(2032, 1, 2, 10, tzinfo=UTC)
    connection.execute(text("UPDATE analytics_refresh SET watermark = :at"), {"at": later - timedelta(days=1)})
    # A new booking paid, then partly refunded.
    booking = make_booking(db, practitioner=practitioners[2], start=datetime(2031, 2, 20, 9, tzinfo=UTC))
    make_transaction(db, booking, created_at=datetime(2031, 2, 19, 9, tzinfo=UTC))
    make_transaction(db, booking, kind=TransactionKind.REFUND, amount=Decimal("10.00"), created_at=later)
    # An old session refunded without its booking row changing; another cancelled.
    old, other = db.execute(
        text(
            "SELECT b.id FROM bookings b WHERE b.status = 'confirmed' AND EXISTS (SELECT FROM payment_transactions t "
            "WHERE t.booking_id = b.id AND t.kind = 'charge' AND t.status = 'completed') ORDER BY b.id LIMIT 2"
        )
    ).scalars()
    # A paid session moved to another month: its old day loses it (found by a review: it counted on both).
    db.execute(
        text(
            "UPDATE bookings SET session_start = :at, session_end = :at + interval '1 hour',"
            " blocked_until = :at + interval '1 hour' WHERE id = :id"
        ),
        {"at": datetime(2031, 6, 30, 21, 30, tzinfo=UTC), "id": moved},
    )
    make_transaction(db, db.get(Booking, old), kind=TransactionKind.REFUND, amount=Decimal("5.55"), created_at=later)
    db.execute(text("UPDATE bookings SET status = 'cancelled' WHERE id = :id"), {"id": other})
    hidden = db.execute(
        text("UPDATE reviews SET status = 'hidden' WHERE id = (SELECT min(id::text)::uuid FROM reviews "
             "WHERE status = 'published') RETURNING id")
    ).scalar_one()  # fmt: skip
    # A practitioner moving province (and hexagon), and a search that found nobody.
    mover: Practitioner = practitioners[5]
    mover.city, mover.province = "Kimberley", "Northern Cape"
    mover.location = "SRID=4326;POINT(24.7499 -28.7282)"
    db.add(
        SearchLog(
            centre="SRID=4326;POINT(20.0 -30.0)", radius_km=10, results_found=0, more_results=False, searched_at=later
        )
    )
    db.flush()
    # A practitioner's account closed: their hexagon's supply drops.
    closed = practitioners[1].user_id
    connection.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": closed})
    for table, ids in (
        ("bookings", [booking.id, other, moved]),
        ("reviews", [hidden]),
        ("practitioners", [mover.id]),
        ("users", [closed]),
    ):
        connection.execute(text(f"UPDATE {table} SET updated_at = :at WHERE id = ANY(:ids)"), {"at": later, "ids": ids})
    everything = connection.execute(text("SELECT count(*) FROM analytics_practitioner_days")).scalar_one()

    report = analytics.refresh(connection)
    assert not report.full_rebuild and report.moved_practitioners == 1
    assert 0 < report.practitioner_days < everything / 2
    incremental = _snapshot(connection)
    analytics.refresh(connection, full=True)
    assert _snapshot(connection) == incremental
    provinces = analytics.breakdown(connection, analytics.Filters(FIRST, LAST), "province")
    assert "Northern Cape" in set(provinces["province"]) and "Limpopo" not in set(provinces["province"])


def test_a_refund_that_settles_after_a_refresh_counts_on_the_day_it_settled(db, dataset):
    """A refund queued before the last refresh and settled after it is found by the next
    one, and counts when the money went back (found by a review: it was never counted)."""
    connection = db.connection()
    paid = db.execute(
        text(
            "SELECT b.id FROM bookings b JOIN payment_transactions t ON t.booking_id = b.id"
            " WHERE t.kind = 'charge' AND t.status = 'completed' AND NOT EXISTS (SELECT FROM payment_transactions r"
            " WHERE r.booking_id = b.id AND r.kind = 'refund') ORDER BY b.id LIMIT 1"
        )
    ).scalar_one()
    booking = db.get(Booking, paid)
    queued = make_transaction(
        db,
        booking,
        kind=TransactionKind.REFUND,
        amount=Decimal("10.00"),
        status=PaymentStatus.PENDING,
        created_at=datetime.now(UTC) - timedelta(hours=2),
    )
    analytics.refresh(connection, full=True)
    ledger.settle_refund(db, queued, reference="re_later", status=PaymentStatus.COMPLETED)
    db.flush()
    assert queued.created_at > datetime.now(UTC) - timedelta(minutes=1)
    analytics.refresh(connection)
    incremental = _snapshot(connection)
    analytics.refresh(connection, full=True)
    assert _snapshot(connection) == incremental


@pytest.mark.parametrize(
    "table, column, index",
    [
        ("bookings", "updated_at", "ix_bookings_updated_at"),
        ("reviews", "updated_at", "ix_reviews_updated_at"),
        ("payment_transactions", "created_at", "ix_payment_transactions_created_at"),
    ],
)
def test_refresh_finds_changes_through_indexes(db, dataset, table, column, index):
    """Each way the refresh looks for changed rows starts from an index, not a scan of the table."""
    connection = db.connection()
    connection.execute(text("SET LOCAL enable_seqscan = off"))
    alias = {"bookings": "b", "reviews": "r", "payment_transactions": "t"}[table]
    assert f"WHERE {alias}.{column} >= :since" in analytics._FIND_DIRTY
    plan = "\n".join(
        connection.execute(
            text(f"EXPLAIN SELECT 1 FROM {table} WHERE {column} >= :since"), {"since": datetime.now(UTC)}
        ).scalars()
    )
    assert index in plan, plan


def test_freshness_says_when_and_how(db, dataset):
    fresh = analytics.freshness(db.connection())
    assert fresh is not None and fresh.full_rebuild and fresh.refreshed_at >= fresh.watermark
    assert fresh.replica_lag_seconds is None  # read on the primary
    assert not analytics.reading_replica(db.connection())


def test_the_replica_note_says_how_far_behind_the_figures_are():
    from avenrae.ui.analytics import replica_note

    now = datetime.now(UTC)

    def read(lag, unreachable=False):
        return replica_note(analytics.Freshness(now, now, 1.0, False, lag, unreachable))

    assert read(None) == ""
    assert read(0.2) == " Read from the replica, which is up to date."
    assert read(42.4) == " Read from the replica, 42 seconds behind the live data."
    assert read(None, True) == " Read from the main database while the analytics replica is not answering."


# --- the map


def test_cells_hold_their_practitioners_and_count_their_bookings(db, dataset):
    practitioners, _ = dataset
    connection = db.connection()
    filters = analytics.MapFilters(date(2031, 1, 1), date(2031, 3, 1))
    layer = analytics.booking_cells(connection, filters)
    booked = connection.execute(
        text(
            "SELECT count(*) FROM bookings WHERE session_start >= :a AND session_start < :b "
            "AND practitioner_id = ANY(:ids)"
        ),
        {
            "a": datetime(2031, 1, 1, tzinfo=ZONE),
            "b": datetime(2031, 4, 1, tzinfo=ZONE),
            "ids": [p.id for p in practitioners],
        },
    ).scalar()
    assert layer.total == booked > 0
    # Every practitioner stands inside the hexagon their bookings are counted in.
    for practitioner in practitioners:
        i, j = connection.execute(
            text("SELECT cell_i, cell_j FROM analytics_practitioner_profiles WHERE practitioner_id = :id"),
            {"id": practitioner.id},
        ).one()
        cell = next((c for c in layer.cells if (c.i, c.j) == (i, j)), None)
        if cell is None:
            continue
        inside = connection.execute(
            text(
                "SELECT ST_Contains(ST_GeomFromGeoJSON(:polygon), p.location::geometry) FROM practitioners p "
                "WHERE p.id = :id"
            ),
            {"polygon": __import__("json").dumps(cell.polygon), "id": practitioner.id},
        ).scalar()
        assert inside, practitioner.city


def test_paid_per_cell_is_the_ledger_net_of_the_sessions(db, dataset):
    connection = db.connection()
    filters = analytics.MapFilters(date(2031, 1, 1), date(2031, 3, 1), statuses=(BookingStatus.CANCELLED,))
    layer = analytics.booking_cells(connection, filters, "paid")
    net = connection.execute(
        text(
            """
            SELECT coalesce(sum(CASE WHEN t.kind = 'charge' THEN t.amount ELSE -t.amount END), 0)
            FROM bookings b JOIN payment_transactions t ON t.booking_id = b.id
            WHERE t.status = 'completed' AND b.status = 'cancelled'
              AND b.session_start >= :a AND b.session_start < :b
            """
        ),
        {"a": datetime(2031, 1, 1, tzinfo=ZONE), "b": datetime(2031, 4, 1, tzinfo=ZONE)},
    ).scalar()
    assert Decimal(str(layer.total)) == net
    assert all(c.value == float(c.paid) for c in layer.cells)


def test_cell_breakdown_and_layers_of_supply_and_unmet_demand(db, dataset):
    practitioners, _ = dataset
    connection = db.connection()
    filters = analytics.MapFilters(date(2031, 1, 1), date(2031, 3, 1))
    durban = analytics.cell_of(connection, -29.8587, 31.0218)
    table = analytics.cell_breakdown(connection, filters, *durban)
    healers = table.set_index("specialization").loc["healer"]
    booked = connection.execute(
        text("SELECT count(*) FROM bookings WHERE practitioner_id = :id"), {"id": practitioners[0].id}
    ).scalar()
    assert healers["bookings"] == booked and healers["practitioners"] == 1
    assert healers[[s.value for s in BookingStatus]].sum() == booked

    supply = analytics.supply_cells(connection, (Specialization.COUNSELOR,))
    assert supply.total == 2
    for when, found in ((datetime(2031, 2, 2, 10, tzinfo=UTC), 0), (datetime(2031, 2, 3, 10, tzinfo=UTC), 4)):
        db.add(
            SearchLog(
                searched_at=when,
                centre="SRID=4326;POINT(21.0 -31.0)",
                radius_km=5,
                results_found=found,
                more_results=False,
            )
        )
    db.flush()
    analytics.refresh(connection, full=True)
    unmet = analytics.unmet_demand_cells(connection, filters)
    assert unmet.total == 1
    cell = analytics.cell_of(connection, -31.0, 21.0)
    assert analytics.unmet_searches_in_cell(connection, filters, *cell) == 1
    assert unmet.feature_collection("Unmet searches")["features"][0]["id"] == f"{cell[0]}:{cell[1]}"


@pytest.mark.parametrize(
    "first, last, message",
    [
        (None, date(2031, 1, 1), "first and a last"),
        (date(2031, 3, 1), date(2031, 1, 1), "comes before"),
        (date(2028, 1, 1), date(2031, 1, 1), "at most 36"),
    ],
)
def test_an_unusable_map_period_is_refused(db, first, last, message):
    with pytest.raises(InvalidInput, match=message):
        analytics.booking_cells(db.connection(), analytics.MapFilters(first, last))


# --- where analytics reads


def test_analytics_reads_are_read_only(engine, monkeypatch):
    monkeypatch.setattr(app_db, "SessionLocal", app_db.sessionmaker(bind=engine))
    with app_db.analytics_scope() as connection, pytest.raises(InternalError, match="read-only"):
        connection.execute(text("INSERT INTO analytics_refresh VALUES (1, now(), now(), 0, true)"))


def test_analytics_read_the_main_database_while_the_replica_does_not_answer(engine, monkeypatch):
    monkeypatch.setattr(app_db, "_replica_down_until", 0.0)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(get_settings(), "analytics_database_url", f"postgresql+psycopg://nobody@127.0.0.1:{port}/gone")
    monkeypatch.setattr(app_db, "SessionLocal", app_db.sessionmaker(bind=engine))
    with app_db.analytics_scope() as connection:
        assert connection.engine.url.port != port
        assert connection.execute(text("SELECT count(*) FROM bookings")).scalar() is not None
        assert connection.info.get(app_db.REPLICA_UNREACHABLE)
    tried = []
    monkeypatch.setattr(app_db, "engine_for", lambda url: tried.append(url) or pytest.fail("asked again"))
    with app_db.analytics_scope() as connection:  # remembered: no second wait for the timeout
        assert connection.info.get(app_db.REPLICA_UNREACHABLE)
    assert tried == []
    monkeypatch.setattr(get_settings(), "analytics_database_url", None)
    with app_db.analytics_scope() as connection:  # the mark does not stay on the pooled connection
        assert not connection.info.get(app_db.REPLICA_UNREACHABLE)


def test_a_replica_url_takes_analytics_and_nothing_else(engine, test_database_url, monkeypatch):
    replica = test_database_url.replace("127.0.0.1", "localhost")
    monkeypatch.setattr(get_settings(), "analytics_database_url", replica)
    monkeypatch.setattr(app_db, "SessionLocal", app_db.sessionmaker(bind=engine))
    with app_db.analytics_scope() as connection:
        assert connection.engine.url.host == "localhost"
        assert connection.execute(text("SELECT current_setting('transaction_read_only')")).scalar() == "on"
    with app_db.session_scope() as session:
        assert session.get_bind().url.host == "127.0.0.1"
