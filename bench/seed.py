"""Seeding speed: rows per second of `db seed`, against row-by-row INSERTs as a baseline.

    .venv/bin/python bench/seed.py                      # 100,000 practitioners, 1,000,000 bookings
    .venv/bin/python bench/seed.py --practitioners 1000000 --clients 2000000 --bookings 10000000

Runs in a scratch database `avenrae_bench` on the same server as the app's database
(re-created each run), so the app's data is never touched. The baseline inserts a
small sample of bookings one statement per row, as naive application code would, in
the same process; the ratio compares the two rates.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from avenrae import seed
from avenrae.config import libpq_url
from avenrae.db import database_url, migrate, sibling_database


def baseline_rows_per_second(url: str, rows: int) -> float:
    """Insert `rows` bookings one INSERT at a time, as naive code would."""
    with psycopg.connect(url) as conn:
        practitioners = conn.execute(
            "SELECT p.id, p.rate_per_session, p.session_duration_minutes FROM practitioners p LIMIT 200"
        ).fetchall()
        client = conn.execute("SELECT id FROM users WHERE role = 'client' LIMIT 1").fetchone()[0]
        started = time.perf_counter()
        with conn.transaction(force_rollback=True):
            for i in range(rows):
                practitioner, rate, minutes = practitioners[i % len(practitioners)]
                fee = (rate * Decimal("0.15")).quantize(Decimal("0.01"))
                conn.execute(
                    """
                    INSERT INTO bookings (client_id, practitioner_id, session_start, session_end, blocked_until,
                        status, meeting_type, service_amount, platform_fee_rate, platform_fee, total_amount)
                    VALUES (%s, %s, '2031-01-01'::timestamptz + %s * interval '1 day',
                            '2031-01-01'::timestamptz + %s * interval '1 day' + %s * interval '1 minute',
                            '2031-01-01'::timestamptz + %s * interval '1 day' + %s * interval '1 minute',
                            'completed', 'online', %s, 0.15, %s, %s)
                    """,
                    (client, practitioner, i, i, minutes, i, minutes, rate, fee, rate + fee),
                )
        return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--practitioners", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=None, help="default: twice the practitioners")
    parser.add_argument("--bookings", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=5_000)
    parser.add_argument("--details", action="store_true", help="print every step, index and key")
    args = parser.parse_args()
    clients = args.clients or 2 * args.practitioners

    url = sibling_database(database_url(), "avenrae_bench", recreate=True)
    migrate(url)
    options = seed.SeedOptions(practitioners=args.practitioners, clients=clients, bookings=args.bookings)
    print(f"Seeding {args.practitioners:,} practitioners, {clients:,} clients, {args.bookings:,} bookings ...")
    report = seed.seed(libpq_url(url), options, show_progress=False)

    print(f"\n{'table':<24}{'rows':>14}")
    for table, rows in report.rows.items():
        print(f"{table:<24}{rows:>14,}")
    load = sum(s for name, _, s in report.steps if not name.startswith("key ") and name != "analyze")
    keys = sum(s for name, _, s in report.steps if name.startswith("key "))
    analyze = sum(s for name, _, s in report.steps if name == "analyze")
    print(f"\nplan + load {load:8.1f} s | indexes and keys {keys:8.1f} s | analyze {analyze:6.1f} s")
    if args.details:
        for name, rows, seconds in report.steps:
            print(f"  {name:<58}{rows:>12,}{seconds:9.2f} s")
    print(f"total       {report.seconds:8.1f} s for {report.total_rows:,} rows")
    print(f"seed        {report.rows_per_second:12,.0f} rows/s")
    baseline = baseline_rows_per_second(libpq_url(url), args.baseline_rows)
    print(f"baseline    {baseline:12,.0f} rows/s  (one INSERT per booking, {args.baseline_rows:,} rows)")
    print(f"ratio       {report.rows_per_second / baseline:12.1f} x")


if __name__ == "__main__":
    main()
