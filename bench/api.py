"""The JSON API over HTTP beside the services it calls: search at 1,000,000 practitioners,
and bookings per second through POST /api/bookings with 16 concurrent clients.

    .venv/bin/python bench/api.py                       # both (seeds avenrae_bench_search once)
    .venv/bin/python bench/api.py --only search --rounds 300
    .venv/bin/python bench/api.py --only bookings --clients-concurrent 16 --attempts 3200

Search: p50/p95 of `GET /api/practitioners/search` end to end (an HTTP client on this
machine, keep-alive, uvicorn serving `avenrae.api:standalone` with --workers 2) beside one
in-process call of what the endpoint runs (search.resolve + search.search, with its log row), on the search
bench's database (bench/search.py). The ratio is the HTTP overhead: routing, validation,
the per-address limit's row, JSON.

Bookings: 16 threads, each a keep-alive connection of the standard library's http.client (far
lighter than httpx, so the load generator takes little of the two cores it shares with the
server) sending its own clients' tokens, POST random one-hour
times of 100 practitioners over a week (many collide: 409), beside the same attempts made
by 16 processes calling flows.book directly (bench/bookings.py's writers). Afterwards an
SQL self-join counts overlapping pending/confirmed bookings (must be 0). Scratch database
`avenrae_bench_api` on the app's server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx2 as httpx
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from avenrae.config import REPO_ROOT, get_settings
from avenrae.db import database_url, migrate, sibling_database
from avenrae.models import User
from avenrae.services import search, tokens
from bench import bookings as service_bench
from bench import search as search_bench

SAST = ZoneInfo("Africa/Johannesburg")
HIGH = "1000000000"


def serve(url: str, workers: int, threads: int | None = None) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "AVENRAE_API_REQUESTS_PER_IP": HIGH,
        "AVENRAE_API_REQUESTS_PER_TOKEN": HIGH,
        **({"AVENRAE_API_THREADS": str(threads)} if threads else {}),
    }
    server = subprocess.Popen(  # what a deployment runs (its access log to /dev/null)
        [sys.executable, "-m", "avenrae", "api", "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO_ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/api/openapi.json", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("the API server did not start")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000


SEARCHES = [
    (
        "50 km around Durban, healers, first 20",
        {"specialization": "healer", "latitude": -29.8683, "longitude": 31.0292, "radius": 50, "limit": 20},
    ),
    (
        "500 km around Durban, no filter, first 20",
        {"latitude": -29.8683, "longitude": 31.0292, "radius": 500, "limit": 20},
    ),
    ("50 km around Johannesburg, first 20", {"latitude": -26.2041, "longitude": 28.0473, "radius": 50, "limit": 20}),
]


def bench_search(rounds: int, workers: int) -> None:
    url = search_bench.ensure_database()
    engine = create_engine(url)
    server, base = serve(url, workers)
    print(f"\nSearch over HTTP at 1,000,000 practitioners ({rounds} rounds, uvicorn --workers {workers})")
    print(f"  {'search':<45} {'service p50':>11} {'p95':>8} {'HTTP p50':>9} {'p95':>8} {'ratio p50':>9} {'p95':>6}")
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for label, params in SEARCHES:
                query = search.SearchQuery(
                    latitude=params["latitude"],
                    longitude=params["longitude"],
                    radius_km=params["radius"],
                    specializations=(params["specialization"],) if "specialization" in params else (),
                    page_size=params["limit"],
                )
                service = []
                for i in range(rounds + 20):
                    with Session(engine) as session:
                        started = time.perf_counter()
                        resolved = search.resolve(query, session=session)
                        search.search(session=session, query=resolved)
                        session.commit()
                        if i >= 20:
                            service.append(time.perf_counter() - started)
                http = []
                for i in range(rounds + 20):
                    started = time.perf_counter()
                    answer = client.get("/api/practitioners/search", params=params)
                    elapsed = time.perf_counter() - started
                    assert answer.status_code == 200, answer.text
                    if i >= 20:
                        http.append(elapsed)
                s50, s95 = percentiles(service)
                h50, h95 = percentiles(http)
                print(
                    f"  {label:<45} {s50:8.2f} ms {s95:5.2f} ms {h50:6.2f} ms {h95:5.2f} ms"
                    f" {h50 / s50:8.2f}x {h95 / s95:5.2f}x   (total {answer.json()['total']:,})"
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
        engine.dispose()


def booking_slots(now: datetime) -> list[datetime]:
    """One-hour session times the API will book from `now`: 07:00-20:00 SAST for a week,
    starting the day after tomorrow (the API's clock is the real one)."""
    first_day = (now.astimezone(SAST) + timedelta(days=2)).date()
    return [
        datetime.combine(first_day + timedelta(days=day), datetime.min.time(), SAST) + timedelta(hours=hour)
        for day in range(7)
        for hour in range(7, 21)
    ]


def issue_tokens(url: str, client_ids: list, now: datetime) -> dict:
    """An access token per client, each naming a logged-in session of its own (which must be live)."""
    engine = create_engine(url)
    with Session(engine) as session:
        bearer = {
            client_id: tokens.issue(session=session, user=session.get_one(User, client_id), now=now).access_token
            for client_id in client_ids
        }
        session.commit()
    engine.dispose()
    return bearer


def booking_body(practitioner_id, start: datetime) -> dict:
    """The JSON of `POST /api/bookings` for one in-person session at `start`."""
    return {
        "practitionerId": str(practitioner_id),
        "sessionDate": start.date().isoformat(),
        "sessionSlotId": start.isoformat(),
        "meetingType": "in_person",
    }


def authorization(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bench_bookings(
    concurrent: int, attempts: int, practitioners: int, clients: int, workers: int, server_threads: int | None
) -> None:
    url = sibling_database(database_url(), "avenrae_bench_api", recreate=True)
    migrate(url)
    print(f"\nPreparing {practitioners} practitioners and {clients:,} clients ...", flush=True)
    practitioner_ids, client_ids, _ = service_bench.prepare(url, practitioners, clients)
    now = datetime.now(UTC)
    slots = booking_slots(now)
    first_day = slots[0].date()
    chooser = random.Random(7)
    plan = [
        (chooser.choice(client_ids), chooser.choice(practitioner_ids), chooser.choice(slots)) for _ in range(attempts)
    ]
    bearer = issue_tokens(url, client_ids, now)

    server, base = serve(url, workers, server_threads)
    results = {"booked": 0, "taken": 0, "other": 0}
    lock = threading.Lock()

    port = int(base.rsplit(":", 1)[1])

    def writer(share: list[tuple]) -> None:
        counts = {"booked": 0, "taken": 0, "other": 0}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for client_id, practitioner_id, start in share:
                connection.request(
                    "POST",
                    "/api/bookings",
                    body=json.dumps(booking_body(practitioner_id, start)).encode(),
                    headers={**authorization(bearer[client_id]), "Content-Type": "application/json"},
                )
                answer = connection.getresponse()
                status, text = answer.status, answer.read().decode()
                if status == 201:
                    counts["booked"] += 1
                elif status == 409:
                    counts["taken"] += 1
                else:
                    counts["other"] += 1
                    if counts["other"] <= 3:
                        print(f"  unexpected {status}: {text[:200]}", file=sys.stderr)
        finally:
            connection.close()
        with lock:
            for key, value in counts.items():
                results[key] += value

    try:
        threads = [threading.Thread(target=writer, args=(plan[i::concurrent],)) for i in range(concurrent)]
        started, client_cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds, client_cpu = time.perf_counter() - started, time.process_time() - client_cpu
    finally:
        server.terminate()
        server.wait(timeout=30)
    overlaps, booking_rows, _, _ = service_bench.overlaps_and_rows(url)

    # The same attempts by 16 processes calling flows.book, on a fresh copy of the data.
    url2 = sibling_database(database_url(), "avenrae_bench_api_service", recreate=True)
    migrate(url2)
    p2, c2, _ = service_bench.prepare(url2, practitioners, clients)
    mapping_p, mapping_c = dict(zip(practitioner_ids, p2, strict=True)), dict(zip(client_ids, c2, strict=True))
    service_day = service_bench.NOW.date() + timedelta(days=1)  # the service bench's clock is fixed

    def moved(start: datetime) -> datetime:
        local = start.astimezone(SAST)
        return datetime.combine(service_day + (local.date() - first_day), local.time(), SAST)

    service_plan = [(mapping_c[c], mapping_p[p], moved(s)) for c, p, s in plan]
    s_seconds, (s_booked, s_taken, s_capped, s_other, _, _) = service_bench.run_writers(url2, concurrent, service_plan)
    s_overlaps = service_bench.overlaps_and_rows(url2)[0]

    print(
        f"\nBookings with {concurrent} concurrent writers, {attempts:,} attempts over {len(slots)} one-hour times "
        f"x {practitioners} practitioners"
    )
    print(
        f"  {'path':<34} {'booked':>7} {'409 taken':>9} {'other':>6} {'seconds':>8} {'bookings/s':>10} {'overlaps':>8}"
    )
    print(
        f"  {'flows.book, 16 processes':<34} {s_booked:7,} {s_taken + s_capped:9,} {s_other:6,} {s_seconds:8.1f}"
        f" {s_booked / s_seconds:10.1f} {s_overlaps:8}"
    )
    label = f"POST /api/bookings, {server_threads or get_settings().api_threads} threads"
    print(
        f"  {label:<34} {results['booked']:7,} {results['taken']:9,}"
        f" {results['other']:6,}"
        f" {seconds:8.1f} {results['booked'] / seconds:10.1f} {overlaps:8}"
    )
    print(
        f"  ratio (HTTP / service bookings/s): {(results['booked'] / seconds) / (s_booked / s_seconds):.2f}x;"
        f" booking rows {booking_rows:,}"
    )
    print(f"  the HTTP clients' own CPU: {client_cpu / attempts * 1000:.2f} ms a request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["search", "bookings"])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--threads", type=int, help="AVENRAE_API_THREADS for the bookings server (default: the setting's)"
    )
    parser.add_argument("--clients-concurrent", type=int, default=16)
    parser.add_argument("--attempts", type=int, default=3200)
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--clients", type=int, default=5_000)
    args = parser.parse_args()
    if args.only in (None, "search"):
        bench_search(args.rounds, args.workers)
    if args.only in (None, "bookings"):
        bench_bookings(
            args.clients_concurrent, args.attempts, args.practitioners, args.clients, args.workers, args.threads
        )


if __name__ == "__main__":
    main()
