"""Analytics: revenue, platform fees, refunds and bookings over time, by place and on a map.

Every figure is computed in PostgreSQL and read from rollup tables (the `Analytics*`
models) that `refresh()` keeps up to date, so the answers stay quick at ten million
bookings. Two sources, never mixed up:

- money comes from the payments ledger: completed charges and refunds, on the day
  (in the platform's time zone) they were made. A ledger row splits into the
  practitioner's share and the platform's fee share by the ledger's one rule
  (ledger.fee_split and its SQL twin); for a charge these are exactly the booking's
  service amount and platform fee.
- booking counts come from bookings, on the day of the session; ratings from the
  published reviews of those sessions.

Practitioners count under their specialization, province, city and map hexagon as
they were at the last refresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Connection, text

from avenrae.config import get_settings
from avenrae.db import REPLICA_UNREACHABLE
from avenrae.models import BookingStatus, MeetingType, Specialization
from avenrae.months import months_spanned, next_month
from avenrae.services import ledger
from avenrae.services.errors import InvalidInput

# Map hexagons: 25 km edges (about 1,624 km² each, readable country-wide) on the Africa
# Albers equal-area projection, so every cell covers the same ground from Musina to
# Cape Agulhas. Changing the size needs `jobs refresh-analytics --full`.
HEX_SRID = 102022
HEX_EDGE_METRES = 25_000
HEX_AREA_KM2 = round(3 * 3**0.5 / 2 * (HEX_EDGE_METRES / 1000) ** 2)
# Rows changed this long before the last refresh began are looked at again, so a
# transaction that started before the refresh and committed after it is not missed.
SAFETY_MARGIN = timedelta(minutes=10)
MAX_PERIOD_DAYS = 3 * 366 + 1
UNKNOWN = "Unknown"

Grain = Literal["day", "week", "month"]
Dimension = Literal["specialization", "province", "city", "meeting_type"]
FIGURE_DIMENSIONS: tuple[Dimension, ...] = ("specialization", "province", "city", "meeting_type")
MapMeasure = Literal["bookings", "paid"]

MEASURES = (
    "bookings",
    "completed",
    "cancelled",
    "no_shows",
    "charges",
    "gross",
    "gross_fees",
    "refund_count",
    "refunds",
    "refunded_fees",
    "rating_sum",
    "rating_count",
)
_MONEY = ("gross", "gross_fees", "refunds", "refunded_fees")
_SUMS = ", ".join(f"coalesce(sum({m}), 0) AS {m}" for m in MEASURES)
_MEASURED = ", ".join(f"a.{m}" for m in MEASURES)

# The figures shown, from summed measures (aliases a.*): name -> SQL.
FIGURES = {
    "gross": "gross",
    "platform_fees": "gross_fees - refunded_fees",
    "refunds": "refunds",
    "earnings": "(gross - gross_fees) - (refunds - refunded_fees)",
    "net": "gross - refunds",
    "bookings": "bookings",
    "completed": "completed",
    "cancelled": "cancelled",
    "no_shows": "no_shows",
    "cancellation_rate": "round(cancelled::numeric / nullif(bookings, 0), 4)",
    "no_show_rate": "round(no_shows::numeric / nullif(completed + no_shows, 0), 4)",
    "average_rating": "round(rating_sum::numeric / nullif(rating_count, 0), 2)",
    "reviews": "rating_count",
}
FIGURE_LABELS = {
    "gross": "Gross bookings value (R)",
    "platform_fees": "Platform fees (R)",
    "refunds": "Refunds (R)",
    "earnings": "Practitioner earnings (R)",
    "net": "Net paid (R)",
    "bookings": "Bookings",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_shows": "No-shows",
    "cancellation_rate": "Cancellation rate",
    "no_show_rate": "No-show rate",
    "average_rating": "Average rating",
    "reviews": "Published reviews",
}
MONEY_FIGURES = ("gross", "platform_fees", "refunds", "earnings", "net")
_FIGURES_SQL = ", ".join(f"{sql} AS {name}" for name, sql in FIGURES.items())


# --- what the pages ask for ------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """A period (both days included, in the platform's time zone) and optional filters;
    an empty tuple means everything."""

    start: date | None
    end: date | None
    specializations: tuple[Specialization, ...] = ()
    provinces: tuple[str, ...] = ()
    meeting_types: tuple[MeetingType, ...] = ()

    @property
    def days(self) -> int:
        assert self.start and self.end
        return (self.end - self.start).days + 1


def check(filters: Filters) -> Filters:
    """The filters, or InvalidInput in plain words when the period cannot be used."""
    if filters.start is None or filters.end is None:
        raise InvalidInput({"period": "Choose both a first and a last day for the period."})
    if filters.end < filters.start:
        raise InvalidInput(
            {"period": f"The period ends ({filters.end:%d %b %Y}) before it starts ({filters.start:%d %b %Y})."}
        )
    if filters.days > MAX_PERIOD_DAYS:
        raise InvalidInput({"period": "Choose a period of at most three years."})
    return filters


def _where(filters: Filters, *, profile: str | None = None, period: str | None = None) -> tuple[str, dict[str, Any]]:
    """The WHERE clause for a rollup aliased `a`; dimensions from `profile` when given;
    the period's days unless another `period` clause (with its own parameters) is given."""
    dims = profile or "a"
    clauses = [period or "a.day BETWEEN :start AND :end"]
    params: dict[str, Any] = {} if period else {"start": filters.start, "end": filters.end}
    if filters.specializations:
        clauses.append(f"{dims}.specialization = ANY(CAST(:specializations AS specialization_type[]))")
        params["specializations"] = [s.value for s in filters.specializations]
    if filters.provinces:
        clauses.append(f"{dims}.province = ANY(:provinces)")
        params["provinces"] = list(filters.provinces)
    if filters.meeting_types:
        clauses.append("a.meeting_type = ANY(CAST(:meeting_types AS meeting_type[]))")
        params["meeting_types"] = [m.value for m in filters.meeting_types]
    return " AND ".join(clauses), params


def _period_parts(filters: Filters) -> list[tuple[Literal["months", "days"], str, dict[str, Any]]]:
    """The period as its whole calendar months and the days left over at either end, each
    with the WHERE clause that picks them from a month rollup or a day rollup aliased `a`."""
    start, end = filters.start, filters.end
    assert start and end
    first = start if start.day == 1 else next_month(start)
    after = next_month(end) if next_month(end) - timedelta(days=1) == end else end.replace(day=1)
    if first >= after:
        return [("days", "a.day BETWEEN :start AND :end", {"start": start, "end": end})]
    parts: list[tuple[Literal["months", "days"], str, dict[str, Any]]] = [
        ("months", "a.month >= :first_month AND a.month < :after_months", {"first_month": first, "after_months": after})
    ]
    edges = [(start, first - timedelta(days=1)), (after, end)]
    edges = [(low, high) for low, high in edges if low <= high]
    if edges:
        clause = " OR ".join(f"a.day BETWEEN :edge{n}_start AND :edge{n}_end" for n in range(len(edges)))
        params: dict[str, Any] = {}
        for n, (low, high) in enumerate(edges):
            params |= {f"edge{n}_start": low, f"edge{n}_end": high}
        parts.append(("days", f"({clause})", params))
    return parts


def _whole_months_and_edges(
    filters: Filters, select: str, sources: dict[str, str], *, profile: str | None = None, extra: str | None = None
) -> tuple[str, dict[str, Any]]:
    """A UNION ALL of `select` over the month rollup for the period's whole months and the
    day rollup for the days at its ends (sources: "months" and "days" -> FROM clause),
    narrowed by an `extra` condition when given."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    for grain, period, period_params in _period_parts(filters):
        where, where_params = _where(filters, profile=profile, period=period)
        parts.append(f"SELECT {select} FROM {sources[grain]} WHERE {where}{f' AND {extra}' if extra else ''}")
        params |= where_params | period_params
    return " UNION ALL ".join(parts), params


def _frame(connection: Connection, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    result = connection.execute(text(sql), params)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    for column in frame.columns:
        if column in MONEY_FIGURES or column in _MONEY or column == "paid":
            frame[column] = frame[column].map(Decimal)
        elif column.endswith("_rate") or column == "average_rating":
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame


@dataclass(frozen=True)
class Summary:
    gross: Decimal
    platform_fees: Decimal
    refunds: Decimal
    earnings: Decimal
    net: Decimal
    bookings: int
    completed: int
    cancelled: int
    no_shows: int
    cancellation_rate: float | None
    no_show_rate: float | None
    average_rating: float | None
    reviews: int

    @property
    def empty(self) -> bool:
        return self.bookings == 0 and self.gross == 0 and self.refunds == 0


def summary(connection: Connection, filters: Filters) -> Summary:
    """The period's totals under the filters."""
    where, params = _where(check(filters))
    frame = _frame(
        connection,
        f"SELECT {_FIGURES_SQL} FROM (SELECT {_SUMS} FROM analytics_days a WHERE {where}) a",
        params,
    )
    # Only the rates and the rating can be missing (nothing to divide by).
    values: dict[str, Any] = {str(key): None if pd.isna(value) else value for key, value in frame.iloc[0].items()}
    return Summary(**values)


def _periods(grain: Grain) -> str:
    if grain not in ("day", "week", "month"):
        raise InvalidInput({"grain": "Group by day, week or month."})
    return f"date_trunc('{grain}', a.day)::date"


def over_time(connection: Connection, filters: Filters, grain: Grain = "month") -> pd.DataFrame:
    """One row per day, week (from Monday) or month of the period, empty ones included;
    `partial` marks a week or month the period covers only in part."""
    where, params = _where(check(filters))
    period = _periods(grain)
    series = _frame(
        connection,
        f"""
        WITH periods AS (
            SELECT generate_series(date_trunc('{grain}', CAST(:start AS date)),
                                   CAST(:end AS date), interval '1 {grain}')::date AS period
        ), figures AS (
            SELECT {period} AS period, {_SUMS} FROM analytics_days a WHERE {where} GROUP BY 1
        )
        SELECT period, {_FIGURES_SQL}
        FROM (SELECT p.period, {", ".join(f"coalesce(f.{m}, 0) AS {m}" for m in MEASURES)}
              FROM periods p LEFT JOIN figures f USING (period)) a
        ORDER BY period
        """,
        params,
    )
    assert filters.start and filters.end
    series.insert(1, "partial", partly_covered(list(series["period"]), grain, filters.start, filters.end))
    return series


def by_specialization_over_time(connection: Connection, filters: Filters, grain: Grain = "month") -> pd.DataFrame:
    """Gross, platform fees and bookings per period and specialization (for a stacked chart)."""
    where, params = _where(check(filters))
    return _frame(
        connection,
        f"""
        SELECT period, specialization::text AS specialization, {_FIGURES_SQL}
        FROM (SELECT {_periods(grain)} AS period, a.specialization, {_SUMS}
              FROM analytics_days a WHERE {where} GROUP BY 1, 2) a
        ORDER BY period, specialization
        """,
        params,
    )


def breakdown(connection: Connection, filters: Filters, by: Dimension) -> pd.DataFrame:
    """The period's figures per specialization, province, city or meeting type, biggest first."""
    if by not in FIGURE_DIMENSIONS:
        raise InvalidInput({"by": "Break down by specialization, province, city or meeting type."})
    if by == "city":
        rows, params = _whole_months_and_edges(
            check(filters),
            f"a.city, a.province, {_MEASURED}",
            {"months": "analytics_city_months a", "days": "analytics_city_days a"},
        )
        source = f"({rows}) a GROUP BY a.city, a.province"
        keys = "a.city, a.province"
        names = "city, province"
    else:
        where, params = _where(check(filters))
        source = f"analytics_days a WHERE {where} GROUP BY a.{by}"
        keys = f"a.{by}::text AS {by}"
        names = by
    return _frame(
        connection,
        f"SELECT {names}, {_FIGURES_SQL} FROM (SELECT {keys}, {_SUMS} FROM {source}) a "
        f"ORDER BY gross DESC, bookings DESC, {names}",
        params,
    )


def partly_covered(periods: list[date], grain: str, start: date, end: date) -> list[bool]:
    """Which of these weeks or months (by their first day) the period from `start` to `end`
    covers only in part; days are always whole."""
    if grain == "day":
        return [False] * len(periods)
    following = [next_month(p) if grain == "month" else p + timedelta(days=7) for p in periods]
    return [bool(p < start or after - timedelta(days=1) > end) for p, after in zip(periods, following, strict=True)]


def month_over_month(connection: Connection, filters: Filters) -> pd.DataFrame:
    """Calendar months of the period with growth against the month before, as a fraction.
    A month the period only partly covers is marked and gets no growth figure, nor does
    the month after it: comparing part of a month with a whole one would mislead."""
    months = over_time(connection, filters, "month")
    for figure in ("gross", "platform_fees", "bookings"):
        values = months[figure].map(float)
        previous = values.shift(1)
        growth = (values - previous) / previous.where(previous != 0)
        comparable = ~months["partial"] & ~months["partial"].shift(1, fill_value=True)
        months[f"{figure}_growth"] = growth.where(comparable).round(4)
    return months[
        [
            "period",
            "partial",
            "gross",
            "gross_growth",
            "platform_fees",
            "platform_fees_growth",
            "bookings",
            "bookings_growth",
        ]
    ]


_PRACTITIONER_SOURCES = {
    grain: f"analytics_practitioner_{grain} a JOIN analytics_practitioner_profiles p USING (practitioner_id)"
    for grain in ("months", "days")
}


def practitioners_ranked(connection: Connection, filters: Filters, limit: int = 10, best: bool = True) -> pd.DataFrame:
    """The practitioners who brought in the most (or, best=False, the least) gross
    bookings value in the period, among those with a booking or a payment in it."""
    if not 1 <= limit <= 100:
        raise InvalidInput({"limit": "Show between 1 and 100 practitioners."})
    checked = check(filters)
    order = "DESC" if best else "ASC"
    if best:
        leaders, params = _leading_candidates(connection, checked, limit)
        rows, row_params = _among(checked, f"a.practitioner_id, {_MEASURED}", "candidates")
        params |= row_params
    else:
        leaders = ""
        rows, params = _whole_months_and_edges(
            checked, f"a.practitioner_id, {_MEASURED}", _PRACTITIONER_SOURCES, profile="p"
        )
    return _frame(
        connection,
        f"""
        {leaders}
        SELECT u.first_name || ' ' || u.last_name AS practitioner, r.specialization::text AS specialization,
               r.city, r.province, {", ".join(f"r.{name}" for name in FIGURES)}, r.practitioner_id
        FROM (
            SELECT a.practitioner_id, p.specialization, p.city, p.province, {_FIGURES_SQL}
            FROM (SELECT a.practitioner_id, {_SUMS} FROM ({rows}) a GROUP BY a.practitioner_id) a
            JOIN analytics_practitioner_profiles p USING (practitioner_id)
            ORDER BY gross {order}, bookings {order}, a.practitioner_id
            LIMIT :limit
        ) r
        JOIN practitioners pr ON pr.id = r.practitioner_id
        JOIN users u ON u.id = pr.user_id
        ORDER BY r.gross {order}, r.bookings {order}, r.practitioner_id
        """,
        {**params, "limit": limit},
    )


def _among(filters: Filters, select: str, among: str) -> tuple[str, dict[str, Any]]:
    """Like _whole_months_and_edges over the practitioner rollups, for the few practitioners
    named in the CTE `among` only: each one's month rows and end days are looked up by their
    key (practitioner, then month or day), so a part-month at either end of the period reads
    those practitioners' days, not every practitioner's."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    tables = {"months": "analytics_practitioner_months", "days": "analytics_practitioner_days"}
    for grain, period, period_params in _period_parts(filters):
        where, where_params = _where(filters, profile="p", period="true")
        parts.append(
            # Profiles joined to the few practitioners first (not hashed whole), then OFFSET 0
            # keeps one index lookup per practitioner, never a scan of the period's rows.
            f"SELECT {select} FROM {among} c "
            "JOIN analytics_practitioner_profiles p ON p.practitioner_id = c.practitioner_id CROSS JOIN LATERAL "
            f"(SELECT * FROM {tables[grain]} a WHERE a.practitioner_id = c.practitioner_id AND {period} OFFSET 0) a "
            f"WHERE {where}"
        )
        params |= where_params | period_params
    return " UNION ALL ".join(parts), params


def _leading_candidates(connection: Connection, filters: Filters, limit: int) -> tuple[str, dict[str, Any]]:
    """A WITH clause naming `candidates`: a few practitioners among whom the period's top
    `limit` by gross surely are, found without adding up every practitioner's figures.

    Gross is never negative, so a practitioner's gross in the period is at most the sum of
    their month rows over the months the period touches. Whoever reaches the gross T of the
    limit-th best of a first guess (each month's leaders) therefore has a month row of at
    least T / (rows a practitioner can have there): one index range scan per month finds
    all of them, and only they are added up exactly. The bound is worked out first, so
    the planner sees how few rows reach it.
    """
    assert filters.start and filters.end
    dims, params = _where(filters, profile="p", period="true")
    first, last = filters.start.replace(day=1), filters.end.replace(day=1)
    rows_per_month = len(filters.meeting_types or tuple(MeetingType))
    months = months_spanned(first, last)
    params |= {"touched_first": first, "touched_last": last, "limit": limit}
    seeds, seed_params = _among(filters, "a.practitioner_id, a.gross", "seeds")
    touched = """
        WITH touched AS (
            SELECT generate_series(CAST(:touched_first AS date), CAST(:touched_last AS date),
                                   interval '1 month')::date AS month
        )"""
    by_month = f"""
        SELECT a.practitioner_id FROM analytics_practitioner_months a
        JOIN analytics_practitioner_profiles p USING (practitioner_id)
        WHERE a.month = m.month AND {dims}"""
    threshold = connection.execute(
        text(
            f"""
            {touched}, seeds AS (
                SELECT DISTINCT s.practitioner_id
                FROM touched m CROSS JOIN LATERAL ({by_month} ORDER BY a.gross DESC LIMIT :seed_rows) s
            )
            SELECT CASE WHEN count(*) < :limit THEN 0 ELSE min(gross) END
            FROM (SELECT sum(gross) AS gross FROM ({seeds}) a GROUP BY practitioner_id
                  ORDER BY 1 DESC LIMIT :limit) t
            """
        ),
        # A practitioner has a row per meeting type: enough rows for `limit` of them each month.
        params | seed_params | {"seed_rows": limit * rows_per_month},
    ).scalar_one()
    bound = (Decimal(threshold) * 100 / (months * rows_per_month)).to_integral_value(rounding="ROUND_FLOOR") / 100
    return (
        f"""
        {touched}, candidates AS (
            SELECT DISTINCT c.practitioner_id
            -- OFFSET 0 keeps this a range scan of the (month, gross) index per month; pulled
            -- up into a join, the planner would read every month row of the period instead.
            FROM touched m CROSS JOIN LATERAL ({by_month} AND a.gross >= :bound OFFSET 0) c
        )
        """,
        params | {"bound": bound},
    )


def provinces(connection: Connection) -> list[str]:
    """Provinces that appear in the figures, for a filter."""
    return list(connection.execute(text("SELECT DISTINCT province FROM analytics_days ORDER BY 1")).scalars())


# --- freshness ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Freshness:
    refreshed_at: datetime
    watermark: datetime
    seconds: float
    full_rebuild: bool
    # Read on a streaming replica: how many seconds its replay is behind the primary
    # (0 when it has replayed everything it received); None on the primary itself.
    replica_lag_seconds: float | None = None
    # Read on the main database because the replica configured did not answer.
    replica_unreachable: bool = False


_REPLICA_LAG = text("""
    SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
                WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END
""")


def freshness(connection: Connection) -> Freshness | None:
    """When the figures were last refreshed, or None if never; on a replica, its lag."""
    row = connection.execute(
        text("SELECT refreshed_at, watermark, seconds, full_rebuild FROM analytics_refresh WHERE id = 1")
    ).one_or_none()
    if row is None:
        return None
    lag = connection.execute(_REPLICA_LAG).scalar()
    unreachable = bool(connection.info.get(REPLICA_UNREACHABLE))
    return Freshness(row[0], row[1], float(row[2]), row[3], None if lag is None else float(lag), unreachable)


def reading_replica(connection: Connection) -> bool:
    """Whether this connection reads a standby (pg_is_in_recovery())."""
    return bool(connection.execute(text("SELECT pg_is_in_recovery()")).scalar())


# --- the map -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MapFilters:
    """Whole calendar months, first to last included; statuses and specializations (empty = all)."""

    first_month: date | None
    last_month: date | None
    statuses: tuple[BookingStatus, ...] = ()
    specializations: tuple[Specialization, ...] = ()

    @property
    def last_day(self) -> date:
        assert self.last_month
        return next_month(self.last_month) - timedelta(days=1)


def check_map(filters: MapFilters) -> MapFilters:
    if filters.first_month is None or filters.last_month is None:
        raise InvalidInput({"period": "Choose a first and a last month."})
    first, last = filters.first_month.replace(day=1), filters.last_month.replace(day=1)
    if last < first:
        raise InvalidInput({"period": f"The last month ({last:%b %Y}) comes before the first ({first:%b %Y})."})
    if months_spanned(first, last) > 36:
        raise InvalidInput({"period": "Choose at most 36 months."})
    return MapFilters(first, last, filters.statuses, filters.specializations)


def _cell_polygon(i: str, j: str) -> str:
    return f"ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Hexagon({HEX_EDGE_METRES}, {i}, {j}), {HEX_SRID}), 4326), 4)::json"


def _map_where(filters: MapFilters) -> tuple[str, dict[str, Any]]:
    checked = check_map(filters)
    clauses = ["c.month BETWEEN :first AND :last"]
    params: dict[str, Any] = {"first": checked.first_month, "last": checked.last_month}
    if checked.statuses:
        clauses.append("c.status = ANY(CAST(:statuses AS booking_status[]))")
        params["statuses"] = [s.value for s in checked.statuses]
    if checked.specializations:
        clauses.append("c.specialization = ANY(CAST(:specializations AS specialization_type[]))")
        params["specializations"] = [s.value for s in checked.specializations]
    return " AND ".join(clauses), params


def cell_key(i: int, j: int) -> str:
    """A hexagon's name in the grid, as the map's features and the page's picker carry it: "16:-79"."""
    return f"{i}:{j}"


def cell_of_key(key: str) -> tuple[int, int]:
    """The grid position `cell_key` wrote."""
    i, j = key.split(":")
    return int(i), int(j)


@dataclass(frozen=True)
class Cell:
    i: int
    j: int
    value: float
    bookings: int
    paid: Decimal
    polygon: dict[str, Any]

    @property
    def key(self) -> str:
        return cell_key(self.i, self.j)

    @property
    def centre(self) -> tuple[float, float]:
        """(latitude, longitude) of the hexagon's middle: the mean of its six corners."""
        ring = self.polygon["coordinates"][0][:-1]
        return (sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring))


@dataclass(frozen=True)
class CellLayer:
    """Hexagons with a value each, ready to draw; `total` sums the value over all of them."""

    cells: list[Cell]
    total: float

    def feature_collection(self, value_label: str) -> dict[str, Any]:
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": c.key,
                    "geometry": c.polygon,
                    "properties": {"cell": c.key, "value": c.value, value_label: c.value},
                }
                for c in self.cells
            ],
        }


def booking_cells(connection: Connection, filters: MapFilters, measure: MapMeasure = "bookings") -> CellLayer:
    """Bookings per hexagon over the months, valued by count or by what clients paid."""
    if measure not in ("bookings", "paid"):
        raise InvalidInput({"measure": "Colour by bookings or by amount paid."})
    where, params = _map_where(filters)
    rows = connection.execute(
        text(
            f"""
            SELECT cell_i, cell_j, bookings, paid, {_cell_polygon("cell_i", "cell_j")}
            FROM (SELECT c.cell_i, c.cell_j, sum(c.bookings) AS bookings, sum(c.paid) AS paid
                  FROM analytics_cell_months c WHERE {where} GROUP BY 1, 2) c
            WHERE bookings > 0
            ORDER BY cell_i, cell_j
            """
        ),
        params,
    ).all()
    cells = [
        Cell(i, j, float(paid if measure == "paid" else bookings), int(bookings), Decimal(paid), polygon)
        for i, j, bookings, paid, polygon in rows
    ]
    return CellLayer(cells, sum(c.value for c in cells))


def supply_cells(connection: Connection, specializations: tuple[Specialization, ...] = ()) -> CellLayer:
    """Active practitioners per hexagon (as of the last refresh)."""
    where = "true"
    params: dict[str, Any] = {}
    if specializations:
        where = "s.specialization = ANY(CAST(:specializations AS specialization_type[]))"
        params["specializations"] = [s.value for s in specializations]
    rows = connection.execute(
        text(
            f"""
            SELECT cell_i, cell_j, practitioners, {_cell_polygon("cell_i", "cell_j")}
            FROM (SELECT s.cell_i, s.cell_j, sum(s.practitioners) AS practitioners
                  FROM analytics_cell_supply s WHERE {where} GROUP BY 1, 2) s
            ORDER BY cell_i, cell_j
            """
        ),
        params,
    ).all()
    cells = [Cell(i, j, float(n), 0, Decimal(0), polygon) for i, j, n, polygon in rows]
    return CellLayer(cells, sum(c.value for c in cells))


def unmet_demand_cells(connection: Connection, filters: MapFilters) -> CellLayer:
    """Searches that found nobody, per hexagon of the search's centre, over the months."""
    checked = check_map(filters)
    rows = connection.execute(
        text(
            f"""
            SELECT cell_i, cell_j, unmet, {_cell_polygon("cell_i", "cell_j")}
            FROM (SELECT d.cell_i, d.cell_j, sum(d.unmet) AS unmet
                  FROM analytics_cell_demand d WHERE d.day BETWEEN :first AND :last GROUP BY 1, 2) d
            WHERE unmet > 0
            ORDER BY cell_i, cell_j
            """
        ),
        {"first": checked.first_month, "last": checked.last_day},
    ).all()
    cells = [Cell(i, j, float(n), 0, Decimal(0), polygon) for i, j, n, polygon in rows]
    return CellLayer(cells, sum(c.value for c in cells))


def cell_of(connection: Connection, latitude: float, longitude: float) -> tuple[int, int]:
    """The hexagon holding a point (for a click on the map)."""
    row = connection.execute(
        text(f"SELECT i, j FROM ({_cell_of('ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)')}) cell"),
        {"lat": latitude, "lon": longitude},
    ).one()
    return int(row[0]), int(row[1])


def cell_centre(connection: Connection, i: int, j: int) -> tuple[float, float]:
    """(latitude, longitude) of a hexagon's middle."""
    row = connection.execute(
        text(
            "SELECT ST_Y(c), ST_X(c) FROM (SELECT ST_Transform(ST_Centroid(ST_SetSRID("
            f"ST_Hexagon({HEX_EDGE_METRES}, :i, :j), {HEX_SRID})), 4326) AS c) centre"
        ),
        {"i": i, "j": j},
    ).one()
    return float(row[0]), float(row[1])


_BY_STATUS = ", ".join(f"sum(c.bookings) FILTER (WHERE c.status = '{s.value}') AS {s.value}" for s in BookingStatus)


def cell_breakdown(connection: Connection, filters: MapFilters, i: int, j: int) -> pd.DataFrame:
    """One hexagon's bookings and amount paid by specialization and status, with its
    practitioners (supply) and the searches from it that found nobody."""
    where, params = _map_where(filters)
    return _frame(
        connection,
        f"""
        SELECT s.spec::text AS specialization,
               {", ".join(f"coalesce(b.{st.value}, 0) AS {st.value}" for st in BookingStatus)},
               coalesce(b.bookings, 0) AS bookings, coalesce(b.paid, 0) AS paid,
               coalesce(sup.practitioners, 0) AS practitioners
        FROM unnest(enum_range(NULL::specialization_type)) AS s(spec)
        LEFT JOIN (
            SELECT c.specialization,
                   {_BY_STATUS},
                   sum(c.bookings) AS bookings, sum(c.paid) AS paid
            FROM analytics_cell_months c
            WHERE {where} AND c.cell_i = :i AND c.cell_j = :j
            GROUP BY c.specialization
        ) b ON b.specialization = s.spec
        LEFT JOIN (
            SELECT specialization, sum(practitioners) AS practitioners FROM analytics_cell_supply
            WHERE cell_i = :i AND cell_j = :j GROUP BY 1
        ) sup ON sup.specialization = s.spec
        ORDER BY s.spec
        """,
        {**params, "i": i, "j": j},
    )


def unmet_searches_in_cell(connection: Connection, filters: MapFilters, i: int, j: int) -> int:
    checked = check_map(filters)
    return int(
        connection.execute(
            text(
                "SELECT coalesce(sum(unmet), 0) FROM analytics_cell_demand "
                "WHERE cell_i = :i AND cell_j = :j AND day BETWEEN :first AND :last"
            ),
            {"i": i, "j": j, "first": checked.first_month, "last": checked.last_day},
        ).scalar_one()
    )


# --- keeping the rollups fresh -----------------------------------------------------------


def _cell_of(geography: str) -> str:
    """A subquery giving the (i, j) of the map hexagon holding a point (geography or geometry 4326)."""
    point = f"ST_Transform(({geography})::geometry, {HEX_SRID})"
    return (
        f"SELECT h.i, h.j FROM ST_HexagonGrid({HEX_EDGE_METRES}, {point}) h "
        f"WHERE ST_Intersects(h.geom, {point}) ORDER BY h.i, h.j LIMIT 1"
    )


def _local_day(column: str) -> str:
    return f"({column} AT TIME ZONE :zone)::date"


def _day_start(day: str) -> str:
    return f"(({day})::timestamp AT TIME ZONE :zone)"


# Beyond MEASURES, a practitioner-day holds the day's sessions by status and what clients
# paid for them (the ledger net of refunds, whenever paid), for the map's hexagon months.
STATUS_MEASURES = {
    BookingStatus.PENDING: ("pending", "paid_pending"),
    BookingStatus.CONFIRMED: ("confirmed", "paid_confirmed"),
    BookingStatus.COMPLETED: ("completed", "paid_completed"),
    BookingStatus.CANCELLED: ("cancelled", "paid_cancelled"),
    BookingStatus.NO_SHOW: ("no_shows", "paid_no_show"),
}
FACT_COLUMNS = (*MEASURES, "pending", "confirmed", *(paid for _, paid in STATUS_MEASURES.values()))
_BOOKED = {
    "bookings": "count(*)",
    **{count: f"count(*) FILTER (WHERE b.status = '{status.value}')" for status, (count, _) in STATUS_MEASURES.items()},
    **{
        paid: f"coalesce(sum(pay.paid) FILTER (WHERE b.status = '{status.value}'), 0)"
        for status, (_, paid) in STATUS_MEASURES.items()
    },
    "rating_sum": "coalesce(sum(r.rating) FILTER (WHERE r.status = 'published'), 0)",
    "rating_count": "count(r.rating) FILTER (WHERE r.status = 'published')",
}
_PAID = ("charges", "gross", "gross_fees", "refund_count", "refunds", "refunded_fees")

# Practitioner-day facts, straight from the raw tables. {booked_scope} narrows the
# bookings side (a JOIN) and {session_paid} joins what each of its bookings was paid;
# {paid_source} and {paid_scope} narrow the ledger side.
_FACTS = f"""
WITH booked AS (
    SELECT b.practitioner_id, {_local_day("b.session_start")} AS day, b.meeting_type,
           {", ".join(f"{sql} AS {name}" for name, sql in _BOOKED.items())}
    FROM bookings b
    {{booked_scope}}
    LEFT JOIN reviews r ON r.booking_id = b.id
    {{session_paid}}
    GROUP BY 1, 2, 3
), split AS (
    SELECT b.practitioner_id, {_local_day("t.created_at")} AS day, b.meeting_type, t.kind, t.amount,
           {ledger.FEE_SHARE_SQL} AS fee_share
    FROM {{paid_source}}
    JOIN payment_transactions t ON t.booking_id = b.id
    WHERE t.status = 'completed' AND b.total_amount > 0
), paid AS (
    SELECT s.practitioner_id, s.day, s.meeting_type,
           count(*) FILTER (WHERE s.kind = 'charge') AS charges,
           coalesce(sum(s.amount) FILTER (WHERE s.kind = 'charge'), 0) AS gross,
           coalesce(sum(s.fee_share) FILTER (WHERE s.kind = 'charge'), 0) AS gross_fees,
           count(*) FILTER (WHERE s.kind = 'refund') AS refund_count,
           coalesce(sum(s.amount) FILTER (WHERE s.kind = 'refund'), 0) AS refunds,
           coalesce(sum(s.fee_share) FILTER (WHERE s.kind = 'refund'), 0) AS refunded_fees
    FROM split s
    {{paid_scope}}
    GROUP BY 1, 2, 3
)
INSERT INTO analytics_practitioner_days (practitioner_id, day, meeting_type, {", ".join(FACT_COLUMNS)})
SELECT practitioner_id, day, meeting_type, {", ".join(f"sum({c})" for c in FACT_COLUMNS)}
FROM (
    SELECT practitioner_id, day, meeting_type, {", ".join(c if c in _BOOKED else "0" for c in FACT_COLUMNS)}
    FROM booked
    UNION ALL
    SELECT practitioner_id, day, meeting_type, {", ".join(c if c in _PAID else "0" for c in FACT_COLUMNS)}
    FROM paid
) facts (practitioner_id, day, meeting_type, {", ".join(FACT_COLUMNS)})
GROUP BY 1, 2, 3
ORDER BY 2, 1, 3
"""
_FACTS_ALL = _FACTS.format(
    booked_scope="",
    session_paid=(
        f"LEFT JOIN (SELECT t.booking_id, {ledger.NET_PAID_SQL} AS paid FROM payment_transactions t "
        "WHERE t.status = 'completed' GROUP BY 1) pay ON pay.booking_id = b.id"
    ),
    paid_source="bookings b",
    paid_scope="",
)
_FACTS_DIRTY = _FACTS.format(
    booked_scope=(
        "JOIN analytics_dirty d ON d.practitioner_id = b.practitioner_id "
        f"AND b.session_start >= {_day_start('d.day')} AND b.session_start < {_day_start('d.day + 1')}"
    ),
    session_paid=(
        f"LEFT JOIN LATERAL (SELECT {ledger.NET_PAID_SQL} AS paid FROM payment_transactions t "
        "WHERE t.booking_id = b.id AND t.status = 'completed') pay ON true"
    ),
    paid_source=(
        "(SELECT DISTINCT practitioner_id FROM analytics_dirty) dp "
        "JOIN bookings b ON b.practitioner_id = dp.practitioner_id"
    ),
    paid_scope="JOIN analytics_dirty d ON d.practitioner_id = s.practitioner_id AND d.day = s.day",
)

# Rows whose change may move figures: (practitioner, day) pairs to recompute. A ledger
# row moves the figures of the day it was made and of its session's day; a moved booking
# those of the day it left (noted by a trigger, taken in the same statement).
_FIND_DIRTY = f"""
WITH moved AS (DELETE FROM analytics_moved_bookings RETURNING practitioner_id, session_start)
INSERT INTO analytics_dirty (practitioner_id, day)
SELECT practitioner_id, {_local_day("session_start")} FROM moved
UNION
SELECT practitioner_id, day FROM bookings b
CROSS JOIN LATERAL (VALUES ({_local_day("b.session_start")})) AS v(day)
WHERE b.updated_at >= :since
UNION
SELECT b.practitioner_id, {_local_day("t.created_at")}
FROM bookings b JOIN payment_transactions t ON t.booking_id = b.id
WHERE b.updated_at >= :since
UNION
SELECT b.practitioner_id, v.day
FROM payment_transactions t JOIN bookings b ON b.id = t.booking_id
CROSS JOIN LATERAL (VALUES ({_local_day("t.created_at")}), ({_local_day("b.session_start")})) AS v(day)
WHERE t.created_at >= :since
UNION
SELECT b.practitioner_id, {_local_day("b.session_start")}
FROM reviews r JOIN bookings b ON b.id = r.booking_id
WHERE r.updated_at >= :since
ON CONFLICT DO NOTHING
"""

_PROFILES_NOW = f"""
INSERT INTO analytics_profiles_now
SELECT p.id, p.specialization, coalesce(p.province, '{UNKNOWN}'), coalesce(p.city, '{UNKNOWN}'), cell.i, cell.j
FROM practitioners p
CROSS JOIN LATERAL ({_cell_of("p.location")}) cell
WHERE {{scope}}
"""

# Practitioner-days with where each practitioner counts: what every coarser rollup sums.
_FACTS_WITH_PROFILES = (
    "(SELECT * FROM analytics_practitioner_days JOIN analytics_practitioner_profiles USING (practitioner_id))"
)
_PROFILE_COLUMNS = ("specialization", "province", "city", "cell_i", "cell_j")
_MONTH = "date_trunc('month', a.day)::date"


@dataclass(frozen=True)
class _Rollup:
    """A rollup table summed from practitioner-days (with their profiles): rebuilt from
    `full_source`, or kept by adding the signed change of the rows that changed."""

    table: str
    keys: dict[str, str]  # column -> expression over the source, aliased a
    full_source: str
    measures: dict[str, str] = field(default_factory=lambda: {m: f"a.{m}" for m in MEASURES})
    # Joined after the source (for example to turn status columns into rows).
    unpivot: str = ""
    # A row whose counts all reach zero holds nothing any more and goes.
    counts: tuple[str, ...] = ("bookings", "charges", "refund_count", "rating_count")

    def _insert(self, source: str) -> str:
        columns = ", ".join((*self.keys, *self.measures))
        keys = ", ".join(self.keys.values())
        sums = ", ".join(f"sum({sql})" for sql in self.measures.values())
        return (
            f"INSERT INTO {self.table} ({columns}) SELECT {keys}, {sums} FROM {source} a {self.unpivot} "
            f"GROUP BY {', '.join(str(n + 1) for n in range(len(self.keys)))}"
        )

    def rebuild(self, step: _Steps) -> None:
        step.run(f"clear {self.table}", f"DELETE FROM {self.table}")
        step.run(self.table, self._insert(self.full_source))

    def add(self, step: _Steps, changes: str) -> None:
        additions = ", ".join(f"{m} = {self.table}.{m} + excluded.{m}" for m in self.measures)
        step.run(self.table, f"{self._insert(changes)} ON CONFLICT ({', '.join(self.keys)}) DO UPDATE SET {additions}")
        step.run(
            f"empty {self.table}",
            f"""
            DELETE FROM {self.table} t
            WHERE ({", ".join(f"t.{k}" for k in self.keys)})
                  IN (SELECT {", ".join(self.keys.values())} FROM {changes} a {self.unpivot})
              AND {" AND ".join(f"t.{c} = 0" for c in self.counts)}
            """,
        )


_CITY = {"specialization": "a.specialization", "province": "a.province", "city": "a.city"}
_ROLLUPS = (
    _Rollup(
        "analytics_city_days",
        {"day": "a.day", **_CITY, "meeting_type": "a.meeting_type"},
        full_source=_FACTS_WITH_PROFILES,
    ),
    _Rollup(
        "analytics_days",
        {
            "day": "a.day",
            "specialization": "a.specialization",
            "province": "a.province",
            "meeting_type": "a.meeting_type",
        },
        full_source="analytics_city_days",
    ),
    _Rollup(
        "analytics_city_months",
        {"month": _MONTH, **_CITY, "meeting_type": "a.meeting_type"},
        full_source="analytics_city_days",
    ),
    _Rollup(
        "analytics_practitioner_months",
        {"practitioner_id": "a.practitioner_id", "month": _MONTH, "meeting_type": "a.meeting_type"},
        full_source="analytics_practitioner_days",
    ),
    _Rollup(
        "analytics_cell_months",
        {
            "month": _MONTH,
            "cell_i": "a.cell_i",
            "cell_j": "a.cell_j",
            "specialization": "a.specialization",
            "status": "s.status",
        },
        full_source=_FACTS_WITH_PROFILES,
        measures={"bookings": "s.bookings", "paid": "s.paid"},
        unpivot=(
            "CROSS JOIN LATERAL (VALUES "
            + ", ".join(
                f"('{status.value}'::booking_status, a.{count}, a.{paid})"
                for status, (count, paid) in STATUS_MEASURES.items()
            )
            + ") s(status, bookings, paid) WHERE s.bookings <> 0 OR s.paid <> 0"
        ),
        counts=("bookings",),
    ),
)


@dataclass
class RefreshReport:
    full_rebuild: bool
    seconds: float = 0.0
    practitioner_days: int = 0
    days: int = 0
    months: int = 0
    moved_practitioners: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)

    def __str__(self) -> str:
        kind = "Rebuilt" if self.full_rebuild else "Refreshed"
        return (
            f"{kind} analytics in {self.seconds:.1f} s: {self.practitioner_days} practitioner-days over "
            f"{self.days} days and {self.months} months; {self.moved_practitioners} practitioners moved."
        )


class _Steps:
    def __init__(self, connection: Connection, report: RefreshReport, zone: str):
        self.connection, self.report, self.zone = connection, report, zone

    def run(self, label: str, sql: str, params: dict[str, Any] | None = None) -> int:
        started = time.perf_counter()
        result = self.connection.execute(text(sql), {"zone": self.zone, **(params or {})})
        self.report.steps.append((label, time.perf_counter() - started))
        return max(result.rowcount, 0)


def refresh(connection: Connection, *, full: bool = False) -> RefreshReport:
    """Bring the rollups up to date in the caller's transaction.

    Incremental: only the practitioner-days whose bookings, ledger rows or reviews
    changed since the last refresh (less SAFETY_MARGIN) are recomputed, and every other
    rollup is kept by adding the difference: those rows' new figures less their old
    ones, so the work follows what changed, not how much history there is. The first
    refresh, or full=True, rebuilds everything. Rows are replaced and updated in place,
    never TRUNCATEd, so readers keep seeing the previous figures until this transaction
    commits and are never blocked.
    """
    started = time.perf_counter()
    zone = get_settings().default_time_zone
    connection.execute(text("SET LOCAL work_mem = '256MB'"))
    previous = connection.execute(text("SELECT watermark FROM analytics_refresh WHERE id = 1")).scalar()
    full = full or previous is None
    report = RefreshReport(full_rebuild=full)
    step = _Steps(connection, report, zone)
    watermark = connection.execute(text("SELECT now()")).scalar_one()
    since: datetime | None = None if full or previous is None else previous - SAFETY_MARGIN

    # Dropped first: a caller may refresh twice in one transaction (tests, a rebuild after a refresh).
    step.run(
        "temporary tables",
        "DROP TABLE IF EXISTS pg_temp.analytics_dirty, pg_temp.analytics_profiles_now, pg_temp.analytics_changes, "
        "pg_temp.analytics_supply_cells",
    )
    for table in (
        "analytics_dirty (practitioner_id uuid, day date, PRIMARY KEY (practitioner_id, day))",
        "analytics_profiles_now (LIKE analytics_practitioner_profiles)",
        "analytics_supply_cells (cell_i int, cell_j int, specialization specialization_type, "
        "PRIMARY KEY (cell_i, cell_j, specialization))",
    ):
        step.run("temporary tables", f"CREATE TEMP TABLE {table} ON COMMIT DROP")

    # Where practitioners count: changed profiles are taken up, and every day a moved
    # practitioner has figures on moves with them to their new specialization, province and hexagon.
    if full:
        step.run("changed rows", "DELETE FROM analytics_moved_bookings")  # before the rebuild reads the bookings
        step.run("current profiles", _PROFILES_NOW.format(scope="true"))
    else:
        step.run("changed rows", _FIND_DIRTY, {"since": since})
        # Temporary tables have no statistics until analyzed: without them the planner
        # expects many rows and joins by scanning whole rollups instead of looking rows up.
        step.run("changed rows", "ANALYZE analytics_dirty")
        step.run(
            "current profiles",
            _PROFILES_NOW.format(
                scope="p.id IN (SELECT id FROM practitioners WHERE updated_at >= :since "
                "UNION SELECT d.practitioner_id FROM analytics_dirty d WHERE NOT EXISTS "
                "(SELECT FROM analytics_practitioner_profiles o WHERE o.practitioner_id = d.practitioner_id))"
            ),
            {"since": since},
        )
    step.run(
        "unmoved practitioners",
        """
        DELETE FROM analytics_profiles_now n USING analytics_practitioner_profiles o
        WHERE o.practitioner_id = n.practitioner_id
          AND (o.specialization, o.province, o.city, o.cell_i, o.cell_j)
              = (n.specialization, n.province, n.city, n.cell_i, n.cell_j)
        """,
    )
    report.moved_practitioners = connection.execute(text("SELECT count(*) FROM analytics_profiles_now")).scalar_one()
    if not full:
        # The hexagons a moved (or new) practitioner leaves and joins: their supply changes.
        step.run(
            "supply cells",
            """
            INSERT INTO analytics_supply_cells
            SELECT cell_i, cell_j, specialization FROM analytics_profiles_now
            UNION
            SELECT o.cell_i, o.cell_j, o.specialization FROM analytics_practitioner_profiles o
            WHERE o.practitioner_id IN (SELECT practitioner_id FROM analytics_profiles_now)
            ON CONFLICT DO NOTHING
            """,
        )
    if not full:
        step.run(
            "moved practitioners' days",
            "INSERT INTO analytics_dirty SELECT a.practitioner_id, a.day FROM analytics_practitioner_days a "
            "WHERE a.practitioner_id IN (SELECT practitioner_id FROM analytics_profiles_now) ON CONFLICT DO NOTHING",
        )
        # The old figures of what is about to change, under the old profiles, taken away ...
        step.run("moved practitioners' days", "ANALYZE analytics_dirty")
        step.run("old figures", f"CREATE TEMP TABLE analytics_changes ON COMMIT DROP AS {_changed_facts('-')}")
    step.run(
        "profiles",
        """
        INSERT INTO analytics_practitioner_profiles SELECT * FROM analytics_profiles_now
        ON CONFLICT (practitioner_id) DO UPDATE SET
            specialization = excluded.specialization, province = excluded.province, city = excluded.city,
            cell_i = excluded.cell_i, cell_j = excluded.cell_j
        """,
    )

    if full:
        step.run("clear practitioner days", "DELETE FROM analytics_practitioner_days")
        report.practitioner_days = step.run("practitioner days", _FACTS_ALL)
        for rollup in _ROLLUPS:
            rollup.rebuild(step)
    else:
        step.run(
            "clear practitioner days",
            "DELETE FROM analytics_practitioner_days a USING analytics_dirty d "
            "WHERE a.practitioner_id = d.practitioner_id AND a.day = d.day",
        )
        report.practitioner_days = step.run("practitioner days", _FACTS_DIRTY)
        # ... and the new ones, under the new profiles, added.
        step.run("new figures", f"INSERT INTO analytics_changes {_changed_facts('')}")
        step.run("new figures", "ANALYZE analytics_changes")
        for rollup in _ROLLUPS:
            rollup.add(step, "analytics_changes")
    # Days with figures: after a rebuild the platform's day rollup holds exactly those.
    touched_days = "analytics_days" if full else "analytics_dirty"
    report.days, report.months = connection.execute(
        text(f"SELECT count(DISTINCT day), count(DISTINCT date_trunc('month', day)) FROM {touched_days}")
    ).one()

    # Supply (active practitioners per hexagon): rebuilt after a full rebuild; otherwise only
    # the hexagons where a practitioner moved, joined, or changed (verification, active).
    supply = """
        INSERT INTO analytics_cell_supply
            (cell_i, cell_j, specialization, province, city, practitioners, verified, latitude_sum, longitude_sum)
        SELECT a.cell_i, a.cell_j, a.specialization, a.province, a.city, count(*),
               count(*) FILTER (WHERE p.verification_status = 'verified'),
               sum(ST_Y(p.location::geometry)), sum(ST_X(p.location::geometry))
        FROM analytics_practitioner_profiles a
        JOIN practitioners p ON p.id = a.practitioner_id
        JOIN users u ON u.id = p.user_id
        WHERE u.is_active AND u.deleted_at IS NULL {scope}
        GROUP BY 1, 2, 3, 4, 5
    """
    if full:
        step.run("clear supply", "DELETE FROM analytics_cell_supply")
        step.run("supply", supply.format(scope=""))
    else:
        step.run(
            "supply cells",
            """
            INSERT INTO analytics_supply_cells
            SELECT a.cell_i, a.cell_j, a.specialization FROM analytics_practitioner_profiles a
            WHERE a.practitioner_id IN (
                -- two index range scans (an OR of the two would read every practitioner)
                SELECT id FROM practitioners WHERE updated_at >= :since
                UNION
                SELECT p.id FROM users u JOIN practitioners p ON p.user_id = u.id
                WHERE u.updated_at >= :since AND u.role = 'practitioner'
            )
            ON CONFLICT DO NOTHING
            """,
            {"since": since},
        )
        step.run(
            "clear supply",
            "DELETE FROM analytics_cell_supply s USING analytics_supply_cells c "
            "WHERE (s.cell_i, s.cell_j, s.specialization) = (c.cell_i, c.cell_j, c.specialization)",
        )
        step.run(
            "supply",
            supply.format(
                scope="AND (a.cell_i, a.cell_j, a.specialization) IN "
                "(SELECT cell_i, cell_j, specialization FROM analytics_supply_cells)"
            ),
        )
    demand_from = None if since is None else since.astimezone(ZoneInfo(zone)).date()
    step.run(
        "clear demand",
        "DELETE FROM analytics_cell_demand WHERE CAST(:first AS date) IS NULL OR day >= :first",
        {"first": demand_from},
    )
    step.run(
        "demand",
        f"""
        INSERT INTO analytics_cell_demand (day, cell_i, cell_j, searches, unmet)
        SELECT {_local_day("s.searched_at")}, cell.i, cell.j, count(*), count(*) FILTER (WHERE s.results_found = 0)
        FROM search_log s
        CROSS JOIN LATERAL ({_cell_of("s.centre")}) cell
        WHERE CAST(:first AS date) IS NULL OR s.searched_at >= {_day_start("CAST(:first AS date)")}
        GROUP BY 1, 2, 3
        """,
        {"first": demand_from},
    )
    report.seconds = time.perf_counter() - started
    connection.execute(
        text(
            """
            INSERT INTO analytics_refresh (id, watermark, refreshed_at, seconds, full_rebuild)
            VALUES (1, :watermark, clock_timestamp(), :seconds, :full)
            ON CONFLICT (id) DO UPDATE SET watermark = excluded.watermark, refreshed_at = excluded.refreshed_at,
                seconds = excluded.seconds, full_rebuild = excluded.full_rebuild
            """
        ),
        {"watermark": watermark, "seconds": round(report.seconds, 3), "full": full},
    )
    return report


def _changed_facts(sign: str) -> str:
    """The dirty practitioner-days with their practitioners' profiles, measures signed."""
    columns = ", ".join(f"{sign}a.{c} AS {c}" for c in FACT_COLUMNS)
    profile = ", ".join(f"p.{c}" for c in _PROFILE_COLUMNS)
    return (
        f"SELECT a.practitioner_id, a.day, a.meeting_type, {profile}, {columns} "
        "FROM analytics_dirty d "
        "JOIN analytics_practitioner_days a ON a.practitioner_id = d.practitioner_id AND a.day = d.day "
        "JOIN analytics_practitioner_profiles p ON p.practitioner_id = a.practitioner_id"
    )
