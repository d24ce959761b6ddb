"""Analytics at scale: the page's queries on the rollups against the same answers computed
live from bookings and the ledger, in the same process, on the same data.

    .venv/bin/python bench/analytics.py                      # 10,000,000 bookings (seeds once, ~10 min)
    .venv/bin/python bench/analytics.py --bookings 1000000   # quicker
    .venv/bin/python bench/analytics.py --rebuild            # time a full rebuild of the rollups too

Runs in a scratch database `avenrae_bench_analytics` on the app's server (seeded on first
use with practitioners = bookings / 10, clients = bookings / 5), so the app's data is
never touched. Prints p50 times and the ratio to a baseline: the same answer grouped live
from bookings and the ledger for the two headline queries, and summed from every
practitioner-day for the city breakdown and the top practitioners; then the map's payload
size and what an incremental refresh costs after a thousand bookings change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avenrae import seed
from avenrae.config import get_settings, libpq_url
from avenrae.db import database_url, migrate, sibling_database
from avenrae.services import analytics
from bench.ledger_db import median_ms

NAME = "avenrae_bench_analytics"

# The live baseline for "monthly revenue and fees by specialization": the same figures,
# grouped straight from the ledger, bookings and practitioners.
LIVE_MONTHLY_BY_SPECIALIZATION = """
SELECT date_trunc('month', (t.created_at AT TIME ZONE :zone)::date)::date AS period, p.specialization::text,
       sum(t.amount) FILTER (WHERE t.kind = 'charge') AS gross,
       sum(t.amount - round(t.amount * b.service_amount / b.total_amount, 2)) FILTER (WHERE t.kind = 'charge')
     - coalesce(sum(t.amount - round(t.amount * b.service_amount / b.total_amount, 2))
                FILTER (WHERE t.kind = 'refund'), 0) AS platform_fees
FROM payment_transactions t
JOIN bookings b ON b.id = t.booking_id
JOIN practitioners p ON p.id = b.practitioner_id
WHERE t.status = 'completed' AND b.total_amount > 0
  AND t.created_at >= (CAST(:start AS date)::timestamp AT TIME ZONE :zone)
  AND t.created_at < ((CAST(:end AS date) + 1)::timestamp AT TIME ZONE :zone)
GROUP BY 1, 2
ORDER BY 1, 2
"""

# The live baseline for the country-wide hexagon map: bookings of the months grouped per
# practitioner, each practitioner placed in their hexagon, hexagons summed and drawn.
LIVE_HEX_MAP = f"""
SELECT cell.i, cell.j, sum(n) AS bookings,
       ST_AsGeoJSON(ST_Transform(ST_SetSRID(ST_Hexagon({analytics.HEX_EDGE_METRES}, cell.i, cell.j),
                                            {analytics.HEX_SRID}), 4326), 4)
FROM (SELECT practitioner_id, count(*) AS n FROM bookings
      WHERE session_start >= (CAST(:first AS date)::timestamp AT TIME ZONE :zone)
        AND session_start < ((CAST(:last AS date) + interval '1 month')::timestamp AT TIME ZONE :zone)
      GROUP BY practitioner_id) b
JOIN practitioners p ON p.id = b.practitioner_id
CROSS JOIN LATERAL ({analytics._cell_of("p.location")}) cell
GROUP BY cell.i, cell.j
"""


# Baselines for the city breakdown and the practitioner ranking: the same figures summed
# from every practitioner-day of the period (how both were read before the month rollups).
DAYS_BY_CITY = f"""
SELECT p.city, p.province, {", ".join(f"sum(a.{m}) AS {m}" for m in analytics.MEASURES)}
FROM analytics_practitioner_days a JOIN analytics_practitioner_profiles p USING (practitioner_id)
WHERE a.day BETWEEN :start AND :end
GROUP BY 1, 2
"""
DAYS_TOP_PRACTITIONERS = """
SELECT a.practitioner_id, sum(a.gross) AS gross, sum(a.bookings) AS bookings
FROM analytics_practitioner_days a
WHERE a.day BETWEEN :start AND :end
GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT 10
"""


def scratch(bookings: int, name: str) -> str:
    url = sibling_database(database_url(), name)
    migrate(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        empty = not connection.execute(text("SELECT EXISTS (SELECT FROM bookings)")).scalar()
    engine.dispose()
    if empty:
        print(f"Seeding {bookings:,} bookings into {name} (once) ...", flush=True)
        options = seed.SeedOptions(
            practitioners=max(1000, bookings // 10), clients=max(2000, bookings // 5), bookings=bookings, seed=8
        )
        report = seed.seed(libpq_url(url), options, show_progress=False)
        print(f"  seeded {report.total_rows:,} rows in {report.seconds:.0f} s", flush=True)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=10_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--baseline-rounds", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="time a full rebuild of the rollups")
    parser.add_argument("--database", default=NAME, help=f"scratch database name (default {NAME})")
    parser.add_argument("--only-refresh", action="store_true", help="time only the incremental refresh")
    parser.add_argument("--refresh-rounds", type=int, default=3, help="incremental refreshes timed (median shown)")
    args = parser.parse_args()

    engine = create_engine(scratch(args.bookings, args.database))
    zone = get_settings().default_time_zone
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT count(*) FROM bookings")).scalar_one()
        fresh = analytics.freshness(connection)
    print(f"{rows:,} bookings in {args.database}")
    if fresh is None or args.rebuild:
        started = time.perf_counter()
        with engine.begin() as connection:
            report = analytics.refresh(connection, full=True)
        print(f"full rebuild of the rollups: {time.perf_counter() - started:.1f} s ({report})")
        for step, seconds in sorted(report.steps, key=lambda s: -s[1])[:5]:
            print(f"    {step:<28} {seconds:7.1f} s")

    with engine.connect() as connection:
        sizes = connection.execute(
            text("SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname LIKE 'analytics_%' ORDER BY 1")
        ).all()
    print("rollup rows: " + ", ".join(f"{name} {count:,}" for name, count in sizes))

    if args.only_refresh:
        time_refresh(engine, args.refresh_rounds)
        return

    last_day = date.today()
    start = (last_day.replace(day=1) - timedelta(days=365)).replace(day=1)
    end = last_day.replace(day=1) - timedelta(days=1)  # twelve whole months
    filters = analytics.Filters(start, end)
    map_filters = analytics.MapFilters(start, end.replace(day=1))
    print(f"period: {start} to {end} (12 whole months)\n")

    results = []
    with engine.connect() as connection:
        params = {"start": start, "end": end, "zone": zone}
        fast = analytics.by_specialization_over_time(connection, filters, "month")
        live = connection.execute(text(LIVE_MONTHLY_BY_SPECIALIZATION), params).all()
        same = sorted((str(r[0]), r[1], r[2], r[3]) for r in live) == sorted(
            (str(r.period), r.specialization, r.gross, r.platform_fees) for r in fast.itertuples()
        )
        results.append(
            (
                "monthly revenue and fees by specialization, 12 months",
                median_ms(lambda: analytics.by_specialization_over_time(connection, filters, "month"), args.rounds),
                median_ms(
                    lambda: connection.execute(text(LIVE_MONTHLY_BY_SPECIALIZATION), params).all(),
                    args.baseline_rounds,
                ),
                f"same answer: {'yes' if same else 'NO'}",
            )
        )
        layer = analytics.booking_cells(connection, map_filters)
        payload = len(json.dumps(layer.feature_collection("Bookings")).encode())
        map_params = {"first": map_filters.first_month, "last": map_filters.last_month, "zone": zone}
        live_cells = connection.execute(text(LIVE_HEX_MAP), map_params).all()
        same_map = sorted((r[0], r[1], int(r[2])) for r in live_cells) == sorted(
            (c.i, c.j, c.bookings) for c in layer.cells
        )
        results.append(
            (
                "country-wide hexagon map, 12 months",
                median_ms(lambda: analytics.booking_cells(connection, map_filters), args.rounds),
                median_ms(lambda: connection.execute(text(LIVE_HEX_MAP), map_params).all(), args.baseline_rounds),
                f"{len(layer.cells):,} hexagons, payload {payload / 1024:.0f} KiB; "
                f"same answer: {'yes' if same_map else 'NO'}",
            )
        )
        # The page opens on the last 365 days: eleven whole months and a part-month at each end.
        rolling = analytics.Filters(last_day - timedelta(days=364), last_day)
        for name, period in (("12 months", filters), ("last 365 days", rolling)):
            days = {"start": period.start, "end": period.end}
            city = analytics.breakdown(connection, period, "city")
            city_live = connection.execute(text(DAYS_BY_CITY), days).all()
            same_city = {(r.city, r.province): (r.gross, r.bookings) for r in city.itertuples()} == {
                (r.city, r.province): (r.gross, r.bookings) for r in city_live
            }
            results.append(
                (
                    f"by city, {name}",
                    median_ms(lambda p=period: analytics.breakdown(connection, p, "city"), args.rounds),
                    median_ms(lambda d=days: connection.execute(text(DAYS_BY_CITY), d).all(), args.baseline_rounds),
                    f"{len(city):,} cities; same answer: {'yes' if same_city else 'NO'}",
                )
            )
            top = analytics.practitioners_ranked(connection, period)
            top_live = connection.execute(text(DAYS_TOP_PRACTITIONERS), days).all()
            same_top = [str(i) for i in top["practitioner_id"]] == [str(r.practitioner_id) for r in top_live]
            results.append(
                (
                    f"top 10 practitioners, {name}",
                    median_ms(lambda p=period: analytics.practitioners_ranked(connection, p), args.rounds),
                    median_ms(
                        lambda d=days: connection.execute(text(DAYS_TOP_PRACTITIONERS), d).all(), args.baseline_rounds
                    ),
                    f"same answer: {'yes' if same_top else 'NO'}",
                )
            )
            results.append(
                (
                    f"bottom 10 practitioners, {name}",
                    median_ms(lambda p=period: analytics.practitioners_ranked(connection, p, 10, False), args.rounds),
                    None,
                    "",
                )
            )
        for label, query in (
            ("period totals (headline figures)", lambda: analytics.summary(connection, filters)),
            ("over time by week", lambda: analytics.over_time(connection, filters, "week")),
            ("supply layer", lambda: analytics.supply_cells(connection)),
            ("unmet demand layer", lambda: analytics.unmet_demand_cells(connection, map_filters)),
        ):
            results.append((label, median_ms(query, args.rounds), None, ""))

    print(f"{'query':<56} {'p50 ms':>9} {'baseline ms':>12} {'ratio':>8}")
    for label, ms, baseline, note in results:
        ratio = f"{baseline / ms:7.0f}x" if baseline else ""
        baseline_ms = f"{baseline:12.0f}" if baseline else ""
        print(f"{label:<56} {ms:9.1f} {baseline_ms:>12} {ratio:>8}  {note}")

    time_refresh(engine, args.refresh_rounds)


def time_refresh(engine, rounds: int) -> None:
    """What the job costs after a thousand bookings change (rolled back afterwards), once a
    first run has caught up with everything changed before (the seed's own recent rows)."""
    with engine.begin() as connection:
        analytics.refresh(connection)
    runs = []
    for _ in range(rounds):
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(
                text(
                    "UPDATE bookings SET notes = notes WHERE id IN "
                    "(SELECT id FROM bookings TABLESAMPLE SYSTEM (1) LIMIT 1000)"
                )
            )
            started = time.perf_counter()
            report = analytics.refresh(connection)
            runs.append((time.perf_counter() - started, report))
            transaction.rollback()
    runs.sort(key=lambda run: run[0])
    seconds, report = runs[len(runs) // 2]
    print(
        f"\nincremental refresh after 1,000 changed bookings: median {seconds:.2f} s of {rounds} "
        f"({', '.join(f'{s:.2f}' for s, _ in runs)} s); {report}"
    )
    steps: dict[str, float] = {}
    for step, step_seconds in report.steps:
        steps[step] = steps.get(step, 0.0) + step_seconds
    for step, step_seconds in sorted(steps.items(), key=lambda s: -s[1])[:8]:
        print(f"    {step:<36} {step_seconds:7.2f} s")


if __name__ == "__main__":
    main()
