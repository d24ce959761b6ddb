"""Booking throughput under contention, and the cost of open times for a full diary.

    .venv/bin/python bench/bookings.py [--writers 16] [--attempts 6400] [--practitioners 100]

Writers are separate processes (as several app servers would be), each with its own
connection (opened before the clock starts) and a Session per attempt, all calling
`flows.book` (what the pages and the API call) — one transaction writing the booking, its
open charge and two notices, releasing a lapsed hold in the way — for random open times
of the practitioners over one week, so many attempts collide and the exclusion
constraint decides. The baseline is the same work done by one writer in the same run.
Afterwards an SQL self-join counts overlapping pending/confirmed bookings (must be 0).
Each run also prints the CPU time per attempt spent in the writers and in their
PostgreSQL backends (read from /proc when the server runs on this machine): with two
cores, 1,000 bookings/s needs their sum under about 1.4 ms (about 29% of the attempts
are refused).

Then the same two statements are sent again, for the same attempts, by 16 processes with
nothing but psycopg in between (the statements and parameters `flows.book` sent for one
booking, with each attempt's client, practitioner, time and ids put in; no rules checked in
Python, no SQLAlchemy): what PostgreSQL and the round trips alone allow on this machine,
the ceiling for any service that writes what a booking writes (`--no-floor` skips it).

Then `availability.bookable_slots` is timed for one practitioner with a year of
bookings behind and ahead of them, against the same practitioner with no bookings.
It runs on a scratch database `avenrae_bench_bookings` on the app's server.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session

from avenrae.config import libpq_url
from avenrae.db import PlansSurviveRollback, database_url, keep_plans_on_rollback, migrate, sibling_database
from avenrae.models import MeetingType, Role
from avenrae.services import availability, bookings, flows
from avenrae.services.errors import Conflict
from tests.factories import make_client, make_practitioner, make_weekly_hours

SAST = ZoneInfo("Africa/Johannesburg")
NOW = datetime(2030, 1, 7, 6, 0, tzinfo=SAST)  # a Monday morning, so the clock never moves the slots
ALL_DAY = {day: [("06:00", "22:00")] for day in range(7)}
OFFICE_HOURS = {day: [("08:00", "18:00")] for day in range(5)}
OVERLAPS = """
    SELECT count(*) FROM bookings a JOIN bookings b
      ON a.practitioner_id = b.practitioner_id AND a.id < b.id
     AND tstzrange(a.session_start, a.blocked_until) && tstzrange(b.session_start, b.blocked_until)
    WHERE a.status IN ('pending', 'confirmed') AND b.status IN ('pending', 'confirmed')
"""


def prepare(url: str, practitioners: int, clients: int) -> tuple[list, list, list[datetime]]:
    engine = create_engine(url)
    with Session(engine) as session:
        found = []
        for _ in range(practitioners):
            practitioner = make_practitioner(session, session_duration_minutes=60, buffer_minutes=0)
            make_weekly_hours(session, practitioner, ALL_DAY)
            found.append(practitioner.id)
        people = [make_client(session).id for _ in range(clients)]
        session.commit()
    engine.dispose()
    slots = [NOW + timedelta(days=day, hours=hour) for day in range(7) for hour in range(3, 16)]
    return found, people, slots


_ENGINES: dict[str, tuple[Engine, int]] = {}


def writer_engine(url: str) -> tuple[Engine, int]:
    """The writer process's engine, connected once (as an app server's pool stays open),
    and the process id of its PostgreSQL backend."""
    if url not in _ENGINES:
        engine = keep_plans_on_rollback(create_engine(url, pool_size=1, max_overflow=0))
        with engine.connect() as connection:
            _ENGINES[url] = engine, connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return _ENGINES[url]


def backend_cpu(pid: int) -> float:
    """CPU seconds a PostgreSQL backend has used, when the server runs on this machine (else 0)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


Tally = tuple[int, int, int, int, float, float]  # booked, taken, capped, other, writer CPU s, backend CPU s


def write(job: tuple[str, list[tuple]]) -> Tally:
    """One writer: book each (client, practitioner, start) in its own transaction (a
    Session each, as each page or API request has)."""
    url, attempts = job
    engine, backend = writer_engine(url)
    booked = taken = capped = other = 0
    cpu, server_cpu = time.process_time(), backend_cpu(backend)
    for client_id, practitioner_id, start in attempts:
        with Session(engine) as session:
            try:
                flows.book(
                    session=session,
                    request=bookings.BookingRequest(client_id, practitioner_id, start, MeetingType.IN_PERSON),
                    actor=bookings.Actor(client_id, Role.CLIENT),
                    now=NOW,
                )
                session.commit()
                booked += 1
            except bookings.SlotTaken:
                session.rollback()
                taken += 1
            except Conflict:  # the client already holds AVENRAE_MAX_UNPAID_HOLDS unpaid bookings
                session.rollback()
                capped += 1
            except Exception as error:
                session.rollback()
                other += 1
                print(f"  unexpected: {type(error).__name__}: {error}", file=sys.stderr)
    return booked, taken, capped, other, time.process_time() - cpu, backend_cpu(backend) - server_cpu


def run_writers(url: str, writers: int, attempts: list[tuple]) -> tuple[float, Tally]:
    return timed(write, writer_engine, url, [(url, attempts[i::writers]) for i in range(writers)], (url, []))


def timed(work: Callable, connect: Callable, target: str, jobs: list[tuple], idle: tuple) -> tuple[float, Tally]:
    """Each job in a process of its own, connected (`connect(target)`, then an `idle` job)
    before the clock starts; the seconds the jobs took and their tallies added up."""
    with multiprocessing.get_context("fork").Pool(len(jobs), initializer=connect, initargs=(target,)) as pool:
        pool.map(work, [idle] * len(jobs), chunksize=1)
        started = time.perf_counter()
        results = pool.map(work, jobs, chunksize=1)
        seconds = time.perf_counter() - started
    booked, taken, capped, other, cpu, server_cpu = (sum(column) for column in zip(*results, strict=True))
    return seconds, (int(booked), int(taken), int(capped), int(other), cpu, server_cpu)


def overlaps_and_rows(url: str) -> tuple[int, int, int, int]:
    """Overlapping holds, and the bookings, charges and notifications written."""
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.execute(text(OVERLAPS)).scalar()
        rows = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM bookings), (SELECT count(*) FROM payment_transactions),"
                " (SELECT count(*) FROM notifications)"
            )
        ).one()
    engine.dispose()
    return found, *rows


def full_diary_timings(url: str, rounds: int) -> None:
    """bookable_slots for 14 and 60 days, a practitioner with a year of bookings vs none."""
    engine = create_engine(url)
    with Session(engine) as session:
        busy = make_practitioner(session, session_duration_minutes=60, buffer_minutes=15)
        idle = make_practitioner(session, session_duration_minutes=60, buffer_minutes=15)
        for practitioner in (busy, idle):
            make_weekly_hours(session, practitioner, OFFICE_HOURS)
        client = make_client(session)
        session.commit()
        # Three sessions a weekday (08:00, 12:00, 16:00), from a year ago to a year ahead.
        created = session.execute(
            text("""
            INSERT INTO bookings (client_id, practitioner_id, session_start, session_end, blocked_until, status,
                                  meeting_type, service_amount, platform_fee_rate, platform_fee, total_amount,
                                  payment_status)
            SELECT :client, :practitioner, slot, slot + interval '1 hour', slot + interval '75 minutes',
                   CASE WHEN slot < :now THEN 'completed' ELSE 'confirmed' END::booking_status,
                   'in_person', 400, 0.15, 60, 460, 'completed'
              FROM generate_series(:now - interval '365 days', :now + interval '365 days', interval '1 day') AS day,
                   LATERAL (SELECT (date_trunc('day', day AT TIME ZONE 'Africa/Johannesburg')
                                    + make_interval(hours => h)) AT TIME ZONE 'Africa/Johannesburg' AS slot
                              FROM generate_series(8, 16, 4) AS h) AS slots
             WHERE extract(isodow FROM day AT TIME ZONE 'Africa/Johannesburg') <= 5
            """),
            {"client": client.id, "practitioner": busy.id, "now": NOW},
        ).rowcount
        session.commit()
        session.execute(text("ANALYZE bookings"))
        session.commit()

        def median_ms(practitioner_id, days: int) -> tuple[float, int]:
            samples, found = [], 0
            for _ in range(rounds):
                started = time.perf_counter()
                found = len(
                    availability.bookable_slots(
                        session=session,
                        practitioner_id=practitioner_id,
                        start=NOW.astimezone(UTC),
                        end=(NOW + timedelta(days=days)).astimezone(UTC),
                        now=NOW,
                    )
                )
                samples.append(time.perf_counter() - started)
                session.rollback()
            return statistics.median(samples) * 1000, found

        print(f"\nbookable_slots, median of {rounds} (practitioner with {created:,} bookings over two years)")
        for days in (14, 60):
            idle_ms, idle_found = median_ms(idle.id, days)
            busy_ms, busy_found = median_ms(busy.id, days)
            print(f"  {days:>2} days, no bookings (baseline) {idle_ms:7.2f} ms  {idle_found:4} open times")
            print(
                f"  {days:>2} days, a year of bookings     {busy_ms:7.2f} ms  {busy_found:4} open times"
                f"   ratio {busy_ms / idle_ms:.2f}x"
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--attempts", type=int, default=6400)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--clients", type=int, default=20_000, help="few clients run into the cap on unpaid holds")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip the statements-only run")
    args = parser.parse_args()

    url = sibling_database(database_url(), "avenrae_bench_bookings", recreate=True)
    migrate(url)
    practitioners, clients, slots = prepare(url, args.practitioners, clients=args.clients)
    chooser = random.Random(7)

    def plan(count: int) -> list[tuple]:
        return [(chooser.choice(clients), chooser.choice(practitioners), chooser.choice(slots)) for _ in range(count)]

    baseline_attempts = max(200, args.attempts // args.writers)
    load = os.getloadavg()[0]
    one_seconds, (one_booked, one_taken, one_capped, one_other, one_cpu, one_pg) = run_writers(
        url, 1, plan(baseline_attempts)
    )
    clear_bookings(url)
    many_attempts = plan(args.attempts)
    many_seconds, (booked, taken, capped, other, cpu, server_cpu) = run_writers(url, args.writers, many_attempts)
    found_overlaps, booking_rows, charge_rows, notification_rows = overlaps_and_rows(url)

    one_rate = one_booked / one_seconds
    many_rate = booked / many_seconds
    print(f"{args.practitioners} practitioners x {len(slots)} one-hour slots in a week; random picks collide")
    print(f"  {os.cpu_count()} CPUs, load average {load:.2f} before the runs")
    print(
        f"  1 writer (baseline)  {baseline_attempts:>6,} attempts {one_seconds:6.2f} s  "
        f"{one_booked:>6,} booked {one_taken:>5,} taken {one_capped:>4,} at the cap {one_other} other"
        f"  {one_rate:7.1f} bookings/s"
    )
    print(
        f"  {args.writers} writers           {args.attempts:>6,} attempts {many_seconds:6.2f} s  "
        f"{booked:>6,} booked {taken:>5,} taken {capped:>4,} at the cap {other} other"
        f"  {many_rate:7.1f} bookings/s"
        f"   ratio {many_rate / one_rate:.2f}x"
    )
    for label, attempts, spent, server in (
        ("1 writer", baseline_attempts, one_cpu, one_pg),
        (f"{args.writers} writers", args.attempts, cpu, server_cpu),
    ):
        print(
            f"  CPU per attempt, {label}: {spent / attempts * 1000:.2f} ms in the writers (Python)"
            f" + {server / attempts * 1000:.2f} ms in their PostgreSQL backends"
            + ("" if server else " (server not on this machine: not measured)")
        )
    print(f"  attempts/s with {args.writers} writers: {args.attempts / many_seconds:.1f}")
    print(f"  overlapping pending/confirmed bookings: {found_overlaps}")
    print(f"  rows written: {booking_rows:,} bookings, {charge_rows:,} charges, {notification_rows:,} notifications")
    if args.floor:
        floor_seconds, (floor_booked, floor_taken, _, _, floor_cpu, floor_pg) = run_floor(
            url, args.writers, many_attempts
        )
        floor_overlaps = overlaps_and_rows(url)[0]
        floor_rate = floor_booked / floor_seconds
        print(
            f"  the same statements alone, {args.writers} writers (psycopg, no rules, no SQLAlchemy):"
            f" {floor_seconds:.2f} s  {floor_booked:,} booked {floor_taken:,} taken  {floor_rate:.1f} bookings/s"
            f"  {args.attempts / floor_seconds:.1f} attempts/s  overlaps {floor_overlaps}"
        )
        print(
            f"    CPU per attempt: {floor_cpu / args.attempts * 1000:.2f} ms in the writers"
            f" + {floor_pg / args.attempts * 1000:.2f} ms in their PostgreSQL backends;"
            f" flows.book reaches {many_rate / floor_rate:.0%} of it"
        )
    full_diary_timings(url, args.rounds)


Sent = tuple[str, dict]  # a statement as psycopg receives it, and its parameters


def statements_of_a_booking(url: str, client_id: uuid.UUID, practitioner_id: uuid.UUID) -> tuple[Sent, Sent]:
    """The facts query and the write that `flows.book` sends for one booking (rolled back)."""
    engine = create_engine(url)
    sent: list[Sent] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append((args[2], args[3])))
    with Session(engine) as session:
        flows.book(
            session=session,
            request=bookings.BookingRequest(
                client_id, practitioner_id, NOW + timedelta(hours=3), MeetingType.IN_PERSON
            ),
            actor=bookings.Actor(client_id, Role.CLIENT),
            now=NOW,
        )
        session.rollback()
    engine.dispose()
    facts, write = sent[-2:]
    return facts, write


def floor_attempts(url: str, attempts: list[tuple]) -> tuple[str, list[tuple[dict, dict]]]:
    """For each attempt, the parameters of the facts query and of the write, as `flows.book`
    would send them (every practitioner here has the same rules, rate and hour-long session)."""
    engine = create_engine(url)
    with engine.connect() as connection:
        user_of = dict(connection.execute(text("SELECT id, user_id FROM practitioners")).all())
    engine.dispose()
    (facts_sql, facts), (write_sql, write) = statements_of_a_booking(url, attempts[0][0], attempts[0][1])
    length = write["end"] - write["start"]
    prepared = []
    for client_id, practitioner_id, start in attempts:
        start, booking_id = start.astimezone(UTC), uuid.uuid4()
        prepared.append(
            (
                {
                    **facts,
                    "lock": f"avenrae.holds:{client_id}",
                    "client_id": client_id,
                    "practitioner_id": practitioner_id,
                    "start": start,
                },
                {
                    **write,
                    "id": booking_id,
                    "client_id": client_id,
                    "practitioner_id": practitioner_id,
                    "start": start,
                    "end": start + length,
                    "blocked_until": start + length,
                    "charge_booking_id": booking_id,
                    "charge_client_id": client_id,
                    "charge_key": f"booking:{booking_id}:charge",
                    "user_ids": [client_id, user_of[practitioner_id]],
                    "data": [f'{{"booking_id": "{booking_id}"}}'] * 2,
                },
            )
        )
    return (facts_sql, write_sql), prepared


_FLOOR_CONNECTIONS: dict[str, PlansSurviveRollback] = {}


def floor_connection(dsn: str) -> PlansSurviveRollback:
    if dsn not in _FLOOR_CONNECTIONS:
        _FLOOR_CONNECTIONS[dsn] = PlansSurviveRollback.connect(dsn, row_factory=namedtuple_row)
    return _FLOOR_CONNECTIONS[dsn]


def write_floor(job: tuple[str, tuple[str, str], list[tuple[dict, dict]]]) -> Tally:
    """One writer sending only the two statements: the facts, then (unless the time is taken)
    the write; COMMIT when the write returned the booking, else ROLLBACK."""
    dsn, (facts_sql, write_sql), attempts = job
    connection = floor_connection(dsn)
    backend = connection.info.backend_pid
    booked = taken = 0
    cpu, server_cpu = time.process_time(), backend_cpu(backend)
    for facts, write in attempts:
        with connection.cursor() as cursor:
            row = cursor.execute(facts_sql, facts).fetchone()
            written = None if row is None or row.taken else cursor.execute(write_sql, write).fetchone()
        if written is None:
            connection.rollback()
            taken += 1
        else:
            connection.commit()
            booked += 1
    return booked, taken, 0, 0, time.process_time() - cpu, backend_cpu(backend) - server_cpu


def run_floor(url: str, writers: int, attempts: list[tuple]) -> tuple[float, Tally]:
    clear_bookings(url)
    statements, prepared = floor_attempts(url, attempts)
    dsn = libpq_url(make_url(url).render_as_string(hide_password=False))
    jobs = [(dsn, statements, prepared[i::writers]) for i in range(writers)]
    return timed(write_floor, floor_connection, dsn, jobs, (dsn, statements, []))


def clear_bookings(url: str) -> None:
    """Empty the bookings the baseline wrote, so both runs start from free diaries."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE bookings, payment_transactions, notifications CASCADE"))
    engine.dispose()


if __name__ == "__main__":
    main()
