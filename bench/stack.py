"""Throughput through the stack (nginx + PgBouncer) beside the same work done directly.

    .venv/bin/python bench/stack.py [--clients 16] [--seconds 60] [--only services|http]

Brings up a stack of its own for the run (`stack.up` in the state folder
`.avenrae/stack-bench/`, so its own local cluster: never the developer's database or a
stack they have running) and takes it down after. The bench prepares the cluster's
`avenrae` database first, the one the stack's app servers use: 100 practitioners with
open hours all week, 3,000 clients, an access token for each. The app servers inherit
this process's environment, so the API's per-address and per-token limits are set high
for them (AVENRAE_API_REQUESTS_PER_IP / _PER_TOKEN, as bench/api.py does). Two
measurements, each three searches for every booking attempt, random one-hour times of
the 100 practitioners so attempts collide and the exclusion constraint decides; the
bookings are emptied before each timed half, and after each an SQL self-join counts
overlapping bookings (must be 0):

1. Services: `--clients` processes (as app servers' sessions would be), each with one
   connection, for `--seconds`, `search.search` (logged as the pages do) and
   `flows.book`, through PgBouncer (transaction pooling, no prepared statements) and
   directly to the primary (the baseline), after a 10 s warm-up, interleaved in halves
   (direct, PgBouncer, PgBouncer, direct). Throughput, p95, errors (must be 0).
2. HTTP: `--clients` threads, each a keep-alive HTTP client with its own share of the
   clients' tokens, for `--seconds` per path: `GET /api/practitioners/search` 50 km
   around one of four cities and `POST /api/bookings` (201 booked, 409 taken or at the
   cap on unpaid holds; anything else is an error, must be 0). Paths: directly to one
   app server of the stack over plain http (the baseline; it reaches PostgreSQL through
   PgBouncer), through nginx over https to the stack's app servers, and directly to an
   extra app server the bench starts that connects straight to the primary (no
   PgBouncer); after a warm-up of each, interleaved in halves (a, b, c, c, b, a).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from avenrae import localdb, stack
from avenrae.config import REPO_ROOT, get_settings, normalise_database_url
from avenrae.db import migrate, sibling_database
from avenrae.models import MeetingType, Role
from avenrae.services import bookings, flows, search
from avenrae.services.errors import Conflict
from bench import api as api_bench
from bench.bookings import NOW, OVERLAPS, clear_bookings, prepare

STATE_DIR = REPO_ROOT / ".avenrae" / "stack-bench"
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


def count_overlaps(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = connection.exec_driver_sql(OVERLAPS).scalar()
    engine.dispose()
    return found


def http_client(base: str, verify: str | bool, seconds: float, job: tuple, out: dict) -> None:
    """One HTTP client for `seconds`: three searches per booking attempt, over one kept-alive connection."""
    bearer, practitioners, slots, seed = job
    chooser = random.Random(seed)
    mine: dict = {"search": [], "book": [], "booked": 0, "taken": 0, "errors": 0}
    people = list(bearer)
    deadline = time.monotonic() + seconds
    step = 0
    with requests.Session() as http:  # verify on each request: REQUESTS_CA_BUNDLE would override the session's
        while time.monotonic() < deadline:
            step += 1
            kind = "search" if step % 4 else "book"
            started = time.perf_counter()
            try:
                if kind == "search":
                    lat, lon = chooser.choice(CENTRES)
                    answer = http.get(
                        f"{base}api/practitioners/search",
                        params={"latitude": lat, "longitude": lon, "radius": 50, "limit": 20},
                        verify=verify,
                        timeout=30,
                    )
                    ok = answer.status_code == 200
                else:
                    who = chooser.choice(people)
                    answer = http.post(
                        f"{base}api/bookings",
                        json=api_bench.booking_body(chooser.choice(practitioners), chooser.choice(slots)),
                        headers=api_bench.authorization(bearer[who]),
                        verify=verify,
                        timeout=30,
                    )
                    ok = answer.status_code in (201, 409)
                    mine["booked" if answer.status_code == 201 else "taken"] += answer.status_code in (201, 409)
                status = f"{answer.status_code}: {answer.text[:200]}"
            except requests.RequestException as error:
                ok, status = False, f"{type(error).__name__}: {str(error)[:200]}"
            mine[kind].append(time.perf_counter() - started)
            if not ok:
                mine["errors"] += 1
                if mine["errors"] <= 3:
                    print(f"  error ({kind}): {status}", file=sys.stderr)
    with out["lock"]:
        for key in ("search", "book"):
            out[key] += mine[key]
        for key in ("booked", "taken", "errors"):
            out[key] += mine[key]


def run_http(base: str, verify: str | bool, seconds: float, jobs: list[tuple], url: str) -> dict:
    """`len(jobs)` clients for `seconds` against `base`, from free diaries; then the overlaps."""
    clear_bookings(url)
    out: dict = {"search": [], "book": [], "booked": 0, "taken": 0, "errors": 0, "lock": threading.Lock()}
    threads = [threading.Thread(target=http_client, args=(base, verify, seconds, job, out)) for job in jobs]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out["seconds"] = time.perf_counter() - started
    del out["lock"]
    out["overlaps"] = count_overlaps(url)
    return out


def start_direct_server(state: stack.StackState) -> tuple[subprocess.Popen, int]:
    """An app server of the bench's own beside the stack's, connected straight to the
    primary (not through PgBouncer), on a free port of its own; otherwise as the stack's."""
    port = localdb.free_port()
    env = stack.server_env(state, "bench-direct", secrets.token_urlsafe(32))
    env.update(DATABASE_URL=state.primary_url(), AVENRAE_DATABASE_POOLED="false")
    with (stack.stack_dir(STATE_DIR) / "servers" / "bench-direct.log").open("ab") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "avenrae", "serve", "--port", str(port), "--address", "127.0.0.1"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).status_code == 200:
                return server, port
        except requests.RequestException:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.3)
    stop_direct_server(server)
    raise SystemExit("the bench's direct app server did not start (see .avenrae/stack-bench/stack/servers/)")


def stop_direct_server(server: subprocess.Popen) -> None:
    """Stop the server this bench started, by its id (it leads a session of its own)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def upstream_counts(access_log: Path, offset: int) -> dict[str, int]:
    """Requests nginx passed to each app server since `offset` in its access log."""
    counts: dict[str, int] = {}
    with access_log.open("rb") as log:
        log.seek(offset)
        for line in log.read().decode(errors="replace").splitlines():
            if "/api/" in line and "-> " in line:
                where = line.rsplit("-> ", 1)[1].strip()
                counts[where] = counts.get(where, 0) + 1
    return counts


def print_http(label: str, result: dict, base_rate: float | None) -> float:
    seconds = result["seconds"]
    rate = (len(result["search"]) + len(result["book"])) / seconds
    ratio = f" ({rate / base_rate:.2f}x)" if base_rate else ""
    print(
        f"  {label:<44} {rate:7.1f} requests/s{ratio:<9}"
        f" searches {len(result['search']) / seconds:6.1f}/s (p95 {p95(result['search']) * 1000:6.1f} ms)"
        f"  bookings {result['booked'] / seconds:5.1f}/s of {len(result['book']) / seconds:5.1f} attempts/s"
        f" (p95 {p95(result['book']) * 1000:6.1f} ms; {result['booked']:,} booked, {result['taken']:,} 409)"
        f"  errors {result['errors']}  overlapping bookings {result['overlaps']}"
    )
    return rate


def bench_services(state: stack.StackState, args, practitioners, clients, slots) -> None:
    direct = normalise_database_url(state.primary_url())
    pooled = normalise_database_url(state.pooled_url())
    print(f"\nServices: {args.clients} clients x {args.seconds:.0f} s, 3 searches per booking attempt", flush=True)
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


def bench_http(state: stack.StackState, args, practitioners, bearer: dict, slots) -> None:
    url = normalise_database_url(state.primary_url())
    people = list(bearer)
    jobs = [
        ({who: bearer[who] for who in people[i :: args.clients]}, practitioners, slots, 1000 + i)
        for i in range(args.clients)
    ]
    ca = str(stack.stack_dir(STATE_DIR) / "tls" / "localhost.crt")
    access_log = stack.stack_dir(STATE_DIR) / "nginx" / "access.log"
    first = state.servers[0]
    server, port = start_direct_server(state)
    try:
        paths = {
            "a": (f"one app server ({first.name}) directly, http (baseline)", f"http://127.0.0.1:{first.port}/", False),
            "b": (f"nginx, https, {len(state.servers)} app servers", state.url, ca),
            "c": ("one app server, no PgBouncer, directly, http", f"http://127.0.0.1:{port}/", False),
        }
        print(
            f"\nHTTP (the JSON API): {args.clients} clients x {args.seconds:.0f} s per path,"
            " 3 GET /api/practitioners/search per POST /api/bookings",
            flush=True,
        )
        warm_seconds = min(5.0, args.seconds / 4)
        for _, base, verify in paths.values():
            run_http(base, verify, warm_seconds, jobs, url)
        totals: dict[str, dict] = {}
        spread: dict[str, int] = {}
        for key in ("a", "b", "c", "c", "b", "a"):
            _, base, verify = paths[key]
            offset = access_log.stat().st_size if access_log.exists() else 0
            result = run_http(base, verify, args.seconds / 2, jobs, url)
            if key == "b":
                for where, count in upstream_counts(access_log, offset).items():
                    spread[where] = spread.get(where, 0) + count
            if key not in totals:
                totals[key] = result
            else:
                for name, value in result.items():
                    totals[key][name] += value
        base_rate = print_http(paths["a"][0], totals["a"], None)
        for key in ("b", "c"):
            print_http(paths[key][0], totals[key], base_rate)
        names = {f"127.0.0.1:{s.port}": s.name for s in state.servers}
        shares = ", ".join(f"{names.get(where, where)} {count:,}" for where, count in sorted(spread.items()))
        print(f"  nginx passed the API requests on to: {shares} (sticky by each client's routing cookie)")
        print(f"  load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        stop_direct_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--servers", type=int, default=2, help="the stack's app servers")
    parser.add_argument("--only", choices=["services", "http"])
    parser.add_argument("--practitioners", type=int, default=100)
    parser.add_argument("--people", type=int, default=3_000, help="clients booking (each may hold 3 unpaid)")
    args = parser.parse_args()

    # The environment of this process and of the servers the stack starts (they inherit it):
    # the bench's own state folder and cluster, one signing secret for the tokens issued here
    # and checked there, and limits no bench client reaches.
    for name in ("DATABASE_URL", "AVENRAE_DATABASE_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        AVENRAE_STATE_DIR=str(STATE_DIR),
        AVENRAE_ENVIRONMENT="development",
        AVENRAE_JWT_SECRET=secrets.token_urlsafe(48),
        AVENRAE_API_REQUESTS_PER_IP=api_bench.HIGH,
        AVENRAE_API_REQUESTS_PER_TOKEN=api_bench.HIGH,
    )
    get_settings.cache_clear()
    assert get_settings().state_dir == STATE_DIR

    if stack.read_state(STATE_DIR) is not None:  # left by an interrupted run of this bench
        stack.down(STATE_DIR, log=lambda line: print(f"  {line}"))
    say = lambda line: print(f"  {line}", flush=True)  # noqa: E731
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before the run", flush=True)
    try:
        cluster = localdb.up(REPO_ROOT, STATE_DIR, log=say)
        url = normalise_database_url(sibling_database(cluster.url_for("postgres"), localdb.DB_NAME, recreate=True))
        migrate(url)
        began = time.perf_counter()
        practitioners, clients, slots = prepare(url, args.practitioners, clients=args.people)
        bearer = api_bench.issue_tokens(url, clients, datetime.now(UTC))
        took = time.perf_counter() - began
        print(f"Prepared {args.practitioners} practitioners, {args.people:,} clients and their tokens in {took:.0f} s")

        print("Bringing the bench's stack up ...", flush=True)
        state = stack.up(STATE_DIR, servers=args.servers, log=say)
        if args.only in (None, "services"):
            bench_services(state, args, practitioners, clients, slots)
        if args.only in (None, "http"):
            bench_http(state, args, practitioners, bearer, api_bench.booking_slots(datetime.now(UTC)))
    finally:
        stack.down(STATE_DIR, log=say)
        localdb.down(STATE_DIR)


if __name__ == "__main__":
    main()
