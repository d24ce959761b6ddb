"""What the Home page shows: is the database healthy, and how is the platform doing now."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from avenrae import months
from avenrae.models import Booking, BookingStatus, Practitioner, Specialization, User
from avenrae.services import analytics, counting, ledger


@dataclass(frozen=True)
class DatabaseHealth:
    server_version: str
    postgis_version: str
    schema_revision: str | None
    database_size: str
    round_trip_ms: float


@dataclass(frozen=True)
class MonthFigures:
    month_start: date
    charged: Decimal  # what clients paid this month (completed charges)
    refunded: Decimal
    platform_fees: Decimal  # the fee share of charges, less the fee share of refunds
    sessions_booked: int  # bookings whose session falls in this month, not cancelled


@dataclass(frozen=True)
class LiveFigures:
    practitioners_by_specialization: dict[Specialization, int]
    bookings_by_status: dict[BookingStatus, int]
    month: MonthFigures
    # None: counted live; else the counts are the analytics rollups' as of this refresh
    counted_at: datetime | None = None

    @property
    def practitioners(self) -> int:
        return sum(self.practitioners_by_specialization.values())

    @property
    def bookings(self) -> int:
        return sum(self.bookings_by_status.values())


@dataclass(frozen=True)
class CitySupply:
    city: str
    province: str
    latitude: float
    longitude: float
    practitioners: int
    verified: int


def database_health(session: Session) -> DatabaseHealth:
    """Server and PostGIS versions, the migration revision and one round trip's time."""
    started = time.perf_counter()
    session.execute(text("SELECT 1"))
    round_trip = (time.perf_counter() - started) * 1000
    row = session.execute(
        text(
            "SELECT current_setting('server_version'), postgis_lib_version(), "
            "pg_size_pretty(pg_database_size(current_database())), "
            "(SELECT version_num FROM alembic_version LIMIT 1)"
        )
    ).one()
    return DatabaseHealth(
        server_version=row[0],
        postgis_version=row[1],
        database_size=row[2],
        schema_revision=row[3],
        round_trip_ms=round_trip,
    )


def month_figures(session: Session, today: date, time_zone: str) -> MonthFigures:
    """Money moved and sessions booked in the calendar month holding `today`."""
    start, end = months.month_bounds(today, time_zone)
    money = ledger.totals_between(session, start, end)
    sessions = session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(
            Booking.session_start >= start,
            Booking.session_start < end,
            Booking.status != BookingStatus.CANCELLED,
        )
    )
    return MonthFigures(
        month_start=start.date(),
        charged=money.charged,
        refunded=money.refunded,
        platform_fees=money.platform_fees,
        sessions_booked=sessions or 0,
    )


# Above this many bookings (the planner's estimate) the counts come from the rollups:
# counting ten million bookings and a million practitioners live takes seconds.
LIVE_COUNTS_BELOW = 200_000


def rollups_as_of(session: Session) -> datetime | None:
    """When the analytics refresh that Home's counts come from ran, or None: count live
    (below LIVE_COUNTS_BELOW bookings, or before any refresh)."""
    if counting.count(session, select(Booking.id), exact_below=0) < LIVE_COUNTS_BELOW:
        return None
    refreshed: datetime | None = session.execute(
        text("SELECT refreshed_at FROM analytics_refresh WHERE id = 1")
    ).scalar()
    return refreshed


def live_figures(session: Session, today: date, time_zone: str) -> LiveFigures:
    """Practitioners by specialization, bookings by status and this month's money."""
    refreshed = rollups_as_of(session)
    if refreshed is not None:
        by_specialization = {
            Specialization(k): v
            for k, v in session.execute(
                text("SELECT specialization, sum(practitioners) FROM analytics_cell_supply GROUP BY 1")
            )
        }
        by_status = {
            BookingStatus(k): v
            for k, v in session.execute(text("SELECT status, sum(bookings) FROM analytics_cell_months GROUP BY 1"))
        }
    else:
        active = (User.is_active.is_(True)) & (User.deleted_at.is_(None))
        by_specialization = dict(
            session.execute(
                select(Practitioner.specialization, func.count())
                .join(User, User.id == Practitioner.user_id)
                .where(active)
                .group_by(Practitioner.specialization)
            ).all()
        )
        by_status = dict(session.execute(select(Booking.status, func.count()).group_by(Booking.status)).all())
    return LiveFigures(
        practitioners_by_specialization={s: int(by_specialization.get(s, 0)) for s in Specialization},
        bookings_by_status={s: int(by_status.get(s, 0)) for s in BookingStatus},
        month=month_figures(session, today, time_zone) if refreshed is None else _month_from_rollups(session, today),
        counted_at=refreshed,
    )


def _month_from_rollups(session: Session, today: date) -> MonthFigures:
    """month_figures as the analytics rollups have them (days in the platform's time zone)."""
    first = today.replace(day=1)
    row = session.execute(
        text(
            """
            SELECT coalesce(sum(gross), 0), coalesce(sum(refunds), 0),
                   coalesce(sum(gross_fees - refunded_fees), 0), coalesce(sum(bookings - cancelled), 0)
            FROM analytics_days WHERE day >= :first AND day < :after
            """
        ),
        {"first": first, "after": months.next_month(first)},
    ).one()
    cent = Decimal("0.01")
    return MonthFigures(
        month_start=first,
        charged=Decimal(row[0]).quantize(cent),
        refunded=Decimal(row[1]).quantize(cent),
        platform_fees=Decimal(row[2]).quantize(cent),
        sessions_booked=int(row[3]),
    )


def supply_by_city(session: Session, limit: int = 400) -> list[CitySupply]:
    """Active practitioners per city, the biggest cities first, for a map of supply: from
    the supply rollup when Home's counts come from the rollups (`rollups_as_of`), else live."""
    if rollups_as_of(session) is not None:
        query = """
            SELECT city, province, sum(latitude_sum) / sum(practitioners), sum(longitude_sum) / sum(practitioners),
                   sum(practitioners) AS practitioners, sum(verified)
            FROM analytics_cell_supply WHERE city <> :unknown
            GROUP BY city, province
            ORDER BY practitioners DESC, city
            LIMIT :limit
        """
    else:
        query = """
            SELECT p.city, p.province,
                   avg(ST_Y(p.location::geometry)) AS latitude,
                   avg(ST_X(p.location::geometry)) AS longitude,
                   count(*) AS practitioners,
                   count(*) FILTER (WHERE p.verification_status = 'verified') AS verified
            FROM practitioners p JOIN users u ON u.id = p.user_id
            WHERE u.is_active AND u.deleted_at IS NULL AND p.city IS NOT NULL
            GROUP BY p.city, p.province
            ORDER BY practitioners DESC, p.city
            LIMIT :limit
        """
    rows = session.execute(text(query), {"limit": limit, "unknown": analytics.UNKNOWN}).all()
    return [
        CitySupply(city, province, float(lat), float(lon), int(n), int(v)) for city, province, lat, lon, n, v in rows
    ]
