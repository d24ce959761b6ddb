"""Throughput through the stack (nginx + PgBouncer) beside the same work done directly.

    .venv/bin/python bench/stack.py [--clients 16] [--seconds 60] [--http-seconds 15]

Uses the running stack (`python -m avenrae stack up`), or brings one up for the run and
takes it down after. Two measurements:

1. Services: `--clients` processes (as app servers' sessions would be), each with one
   connection, for `--seconds`, three searches (`search.search`, logged as the pages do)
   for every booking attempt (`flows.book`, random open hours of 100 practitioners, so
   attempts collide and the exclusion constraint decides), on a scratch database
   `avenrae_bench_stack`, through PgBouncer (transaction pooling, no prepared
   statements) and directly to the primary (the baseline), after a 10 s warm-up,
   interleaved in halves (direct, PgBouncer, PgBouncer, direct). Throughput, p95, errors
   (must be 0) and overlapping bookings after each half (must be 0).
2. HTTP: `--clients` threads fetching the app's health endpoint through nginx over
   https (TLS, proxying to the app servers) beside directly from one app server over
   plain http (the baseline).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import create_engine, make_url
from sqlalchemy.orm import Session

from avenrae import stack
from avenrae.config import get_settings, normalise_database_url
from avenrae.db import migrate, sibling_database
from avenrae.models import MeetingType, Role
from avenrae.services import bookings, flows, search
from avenrae.services.errors import Conflict
from bench.bookings import NOW, OVERLAPS, clear_bookings, prepare

DATABASE = "avenrae_bench_stack"
CENTRES = [(-26.2041, 28.0473), (-33.9249, 18.4241), (-29.8587, 31.0218), (-25.7479, 28.2293)]


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)] if ordered else float("nan")


def client(job: tuple) -> dict:
    """One client for `seconds`: three searches per booking attempt, each in its own transaction."""
    url, pooled, seconds, practitioners, clients, slots, seed = job
    engine = create_engine(url, pool_size=1, max_overflow=0, connect_args={"prepare_threshold": None} if pooled else {})
    chooser = random.Random(seed)
    out: dict = {"search": [], "book": [], "booked": 0, "taken": 0, "errors": 0}
    if seconds <= 0:
        engine.dispose()
        return out
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        started = time.perf_counter()
        with Session(engine) as session:
            try:
                if step % 4:
                    lat, lon = chooser.choice(CENTRES)
                    search.search(session=session, query=search.SearchQuery(latitude=lat, longitude=lon, radius_km=50))
                    session.commit()
                    out["search"].append(time.perf_counter() - started)
                    continue
                who = chooser.choice(clients)
                flows.book(
                    session=session,
                    request=bookings.BookingRequest(
                        who, chooser.choice(practitioners), chooser.choice(slots), MeetingType.IN_PERSON
                    ),
                    actor=bookings.Actor(who, Role.CLIENT),
                    now=NOW,
                )
                session.commit()
                out["booked"] += 1
            except (bookings.SlotTaken, Conflict):
                session.rollback()
                out["taken"] += 1
            except Exception as error:
                session.rollback()
                out["errors"] += 1
                print(f"  error: {type(error).__name__}: {str(error)[:200]}", file=sys.stderr)
        out["book"].append(time.perf_counter() - started)
    engine.dispose()
    return out


def run_services(url: str, pooled: bool, args, practitioners, clients, slots) -> dict:
    clear_bookings(url)
    context = multiprocessing.get_context("fork")
    with context.Pool(args.clients) as pool:
        pool.map(client, [(url, pooled, 0, practitioners, clients, slots, 0)] * args.clients)  # warm the pool
        started = time.perf_counter()
        results = pool.map(
            client, [(url, pooled, args.seconds, practitioners, clients, slots, i) for i in range(args.clients)]
        )
        seconds = time.perf_counter() - started
    merged: dict = {"search": [], "book": [], "booked": 0, "taken": 0, "errors": 0, "seconds": seconds}
    for result in results:
        for key in ("search", "book"):
            merged[key] += result[key]
        for key in ("booked", "taken", "errors"):
            merged[key] += result[key]
    engine = create_engine(url)
    with engine.connect() as connection:
        merged["overlaps"] = connection.exec_driver_sql(OVERLAPS).scalar()
    engine.dispose()
    return merged


def run_http(url: str, clients: int, seconds: float, verify: str | bool) -> tuple[float, float, int]:
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        mine: list[float] = []
        with requests.Session() as http:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = http.get(url, verify=verify, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                mine.append(time.perf_counter() - started)
                if not ok:
                    with lock:
                        errors[0] += 1
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(samples) / (time.perf_counter() - started), p95(samples), errors[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--http-seconds", type=float, default=15)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--people", type=int, default=3_000, help="clients booking (each may hold 3 unpaid)")
    args = parser.parse_args()

    state_dir = get_settings().state_dir
    state = stack.read_state(state_dir)
    started_here = state is None
    if started_here:
        print("Bringing the stack up for the run ...", flush=True)
        state = stack.up(state_dir, servers=2, log=lambda line: print(f"  {line}", flush=True))
    try:
        direct = normalise_database_url(sibling_database(state.primary_url(), DATABASE, recreate=True))
        migrate(direct)
        pooled = normalise_database_url(
            make_url(direct).set(port=state.pgbouncer_port).render_as_string(hide_password=False)
        )
        began = time.perf_counter()
        practitioners, clients, slots = prepare(direct, args.practitioners, clients=args.people)
        took = time.perf_counter() - began
        print(f"Prepared {args.practitioners} practitioners and {args.people:,} clients in {took:.0f} s")

        print(f"\nServices: {args.clients} clients x {args.seconds:.0f} s, 3 searches per booking attempt")
        # Interleaved (direct, PgBouncer, PgBouncer, direct; half the time each) after a
        # warm-up, so neither is timed cold and a change in the machine's load weighs on both.
        labels = {False: "direct to PostgreSQL (baseline)", True: "through PgBouncer"}
        warm = argparse.Namespace(clients=args.clients, seconds=min(10.0, args.seconds))
        run_services(direct, False, warm, practitioners, clients, slots)
        half = argparse.Namespace(clients=args.clients, seconds=args.seconds / 2)
        totals: dict[bool, dict] = {}
        for is_pooled in (False, True, True, False):
            result = run_services(pooled if is_pooled else direct, is_pooled, half, practitioners, clients, slots)
            if is_pooled not in totals:
                totals[is_pooled] = result
            else:
                for key, value in result.items():
                    totals[is_pooled][key] += value
        rows = {}
        for is_pooled in (False, True):
            label, result = labels[is_pooled], totals[is_pooled]
            ops = (len(result["search"]) + len(result["book"])) / result["seconds"]
            rows[label] = ops
            print(
                f"  {label:<32} {ops:7.1f} ops/s  searches {len(result['search']) / result['seconds']:6.1f}/s"
                f" (p95 {p95(result['search']) * 1000:6.1f} ms, median"
                f" {statistics.median(result['search']) * 1000:5.1f} ms)"
                f"  booking attempts {len(result['book']) / result['seconds']:5.1f}/s"
                f" (p95 {p95(result['book']) * 1000:6.1f} ms; {result['booked']:,} booked,"
                f" {result['taken']:,} taken)  errors {result['errors']}  overlapping bookings {result['overlaps']}"
            )
        base, through = rows.values()
        print(f"  ratio through PgBouncer / direct: {through / base:.2f}x")

        print(f"\nHTTP: {args.clients} clients x {args.http_seconds:.0f} s, GET /_stcore/health")
        ca = str(stack.stack_dir(state_dir) / "tls" / "localhost.crt")
        server = state.servers[0]
        direct_rate, direct_p95, direct_errors = run_http(
            f"http://127.0.0.1:{server.port}/_stcore/health", args.clients, args.http_seconds, False
        )
        print(
            f"  direct to {server.name} over http (baseline) {direct_rate:7.1f} requests/s"
            f"  p95 {direct_p95 * 1000:6.1f} ms  errors {direct_errors}"
        )
        nginx_rate, nginx_p95, nginx_errors = run_http(
            f"{state.url}_stcore/health", args.clients, args.http_seconds, ca
        )
        print(
            f"  through nginx over https to {len(state.servers)} servers {nginx_rate:7.1f} requests/s"
            f"  p95 {nginx_p95 * 1000:6.1f} ms  errors {nginx_errors}   ratio {nginx_rate / direct_rate:.2f}x"
        )
    finally:
        if started_here:
            stack.down(state_dir, log=lambda line: print(f"  {line}"))


if __name__ == "__main__":
    main()
